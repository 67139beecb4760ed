"""Pure helpers of the console tools: tables, bytes made readable, times and offsets parsed."""

import base64
import datetime as dt
import re
import unicodedata
from collections.abc import Sequence

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; None shows as '-'."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [_width(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], _width(value))
    lines = [_line(headers, widths), _line(["-" * w for w in widths], widths)]
    lines += [_line(row, widths) for row in cells]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    return str(value).replace("\n", " ")


def _width(text: str) -> int:
    # Vietnamese text may arrive decomposed: combining marks take no column.
    return sum(0 if unicodedata.combining(ch) else 1 for ch in text)


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    padded = [v + " " * (w - _width(v)) for v, w in zip(values, widths, strict=True)]
    return "  ".join(padded).rstrip()


def shorten(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + "…"


def printable(raw: bytes | None) -> str:
    """The bytes as text a terminal can show: UTF-8 where it is, escapes for the rest."""
    if raw is None:
        return "(null)"
    text = raw.decode("utf-8", errors="backslashreplace")
    out = []
    for ch in text:
        if ch in "\n\t" or (ch.isprintable() and unicodedata.category(ch) not in ("Cc", "Cf")):
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def is_utf8(raw: bytes | None) -> bool:
    try:
        (raw or b"").decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def hexdump(raw: bytes | None, width: int = 16) -> str:
    """`offset  hex bytes  |ascii|`, as `hexdump -C` prints it."""
    if not raw:
        return "(empty)"
    lines = []
    for start in range(0, len(raw), width):
        chunk = raw[start:start + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{start:08x}  {hexes:<{width * 3 - 1}}  |{ascii_}|")
    return "\n".join(lines)


def b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode("ascii")


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """'90m', '2h', '3d', '1w' before now, or an ISO date / date-time (UTC unless it says)."""
    now = now or dt.datetime.now(dt.UTC)
    if match := _RELATIVE.match(text):
        return now - dt.timedelta(**{_UNITS[match[2]]: float(match[1])})
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r}: expected e.g. 2h, 3d, 2025-03-01 or 2025-03-01T08:00") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_offsets(text: str) -> set[tuple[int, int]]:
    """'12', '12,15', '12-20', '0:12', '1:3-5' -> {(partition, offset)}; partition 0 unless given."""
    result: set[tuple[int, int]] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        partition, _, span = part.rpartition(":")
        try:
            p = int(partition) if partition else 0
            first, _, last = span.partition("-")
            lo, hi = int(first), int(last) if last else int(first)
        except ValueError:
            raise ValueError(f"--offset {part!r}: expected OFFSET, FIRST-LAST or PARTITION:OFFSET") from None
        if p < 0 or lo < 0 or hi < lo:
            raise ValueError(f"--offset {part!r}: offsets and partitions are >= 0, FIRST <= LAST")
        if hi - lo > 100_000:
            raise ValueError(f"--offset {part!r}: range too large")
        result.update((p, o) for o in range(lo, hi + 1))
    if not result:
        raise ValueError("--offset: no offsets given")
    return result


def utc_text(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_millis(ms: int | None) -> dt.datetime | None:
    return None if ms is None or ms < 0 else dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
