"""The local mail catcher: an SMTP server that accepts every message and saves it as an .eml
file, so a person can open what the system sends (any mail client opens .eml files). The
client the worker sends with is `smtp.py`. aiosmtpd comes with the extra `local`: the
production image has no sink.

    python -m services.notifications.sink [--host 127.0.0.1] [--port 1025] [--dir .local/mail]

`make run` starts it on 127.0.0.1:1025 with the folder `.local/mail/`. The tests use
`MailSink` in-process, and its `refuse` set to play a mail server that rejects a mailbox.
"""

import argparse
import itertools
import re
import signal
import threading
import time
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.controller import Controller

DEFAULT_DIR = Path(".local/mail")


class _Handler:
    def __init__(self, sink: "MailSink") -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options) -> str:  # noqa: N802
        if not getattr(session, "counted", False):  # a session is one connection
            session.counted = True
            with self.sink._lock:
                self.sink.connections += 1
        if address.lower() in self.sink.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        self.sink.save(envelope.original_content or envelope.content, envelope.mail_from, list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class MailSink:
    def __init__(self, folder: Path = DEFAULT_DIR, host: str = "127.0.0.1", port: int = 1025,
                 refuse: set[str] | None = None) -> None:
        self.folder, self.host, self.port = Path(folder), host, port
        self.refuse = {address.lower() for address in refuse or ()}
        self.received: list[tuple[bytes, str, list[str]]] = []  # (raw message, sender, recipients)
        self.connections = 0  # connections that asked to deliver at least one message
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._controller: Controller | None = None

    def start(self) -> "MailSink":
        self.folder.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def save(self, raw: bytes, sender: str, recipients: list[str]) -> Path:
        """Write atomically (temp file, then rename) so a reader never sees half a message."""
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        message_id = re.sub(r"[^A-Za-z0-9@._-]", "", str(headers.get("Message-ID", "")))[:80] or "no-id"
        with self._lock:
            self.received.append((raw, sender, recipients))
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{next(self._seq):05d}-{message_id}.eml"
        path = self.folder / name
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(raw)
        tmp.replace(path)
        return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.notifications.sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", default=str(DEFAULT_DIR), help="where .eml files go (default: .local/mail)")
    args = parser.parse_args(argv)
    sink = MailSink(Path(args.dir), args.host, args.port).start()
    print(f"SMTP sink on {args.host}:{args.port}, saving to {Path(args.dir).resolve()}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    sink.stop()


if __name__ == "__main__":
    main()
