"""`exemplars keys`: Ed25519 keys for signing events, for operators and unit-system developers.

    exemplars keys new PATH                 # PATH (private, owner-only) and PATH.pub
    exemplars keys init --keys DIR --trust FILE   # a key per producer of a trial run, and their registry
    exemplars keys show PATH                # key id and the trust-file entry of a key
    exemplars keys sign --key PATH [EVENT]  # a JSON CloudEvent, with its dssematerial
    exemplars keys verify (--trust FILE | --key PATH) [EVENT]

EVENT is a structured-mode (JSON format) CloudEvent, from a file or stdin. Signing follows the
CloudEvents Verifiability extension (shared/verifiability.py); verifying against a trust file
(shared/trust.py) also says which producer the key belongs to, and refuses a key of another
producer than the event's `source`, or one not valid at the time given (default: now).
"""

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import yaml

from shared import keys
from shared.trust import key_entry, load_registry
from shared.verifiability import NotVerified, sign_structured, verify_structured


def add_keys_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="create, show, sign and verify with Ed25519 event-signing keys")
    actions = p.add_subparsers(dest="action", required=True)

    a = actions.add_parser("new", help="create a key pair: PATH (private, owner-only) and PATH.pub")
    a.add_argument("path", type=Path)
    a.add_argument("--format", choices=("pem", "jwk"), default="pem")
    a.add_argument("--force", action="store_true", help="overwrite an existing key")
    a.set_defaults(func=_clear_errors(new))

    a = actions.add_parser("init", help="a trial run's keys (one per service and per demo producer) and the "
                                        "trust registry listing them")
    a.add_argument("--keys", type=Path, required=True, help="where the private keys go (kept if already there)")
    a.add_argument("--trust", type=Path, required=True, help="the trust registry to write")
    a.add_argument("--force", action="store_true", help="overwrite an existing trust registry")
    a.set_defaults(func=_clear_errors(init))

    a = actions.add_parser("show", help="a key's id (RFC 7638 thumbprint) and its trust-file entry")
    a.add_argument("path", type=Path)
    a.set_defaults(func=_clear_errors(show))

    a = actions.add_parser("sign", help="add dssematerial to a JSON CloudEvent (file or stdin)")
    a.add_argument("--key", type=Path, required=True, help="the private key (PEM or JWK)")
    a.add_argument("--signed-ext", default="", help="extension attributes to sign too, comma-separated")
    a.add_argument("event", nargs="?", type=Path, help="the event (default: stdin)")
    a.set_defaults(func=_clear_errors(sign))

    a = actions.add_parser("verify", help="verify a JSON CloudEvent's dssematerial (exit 1 if not proven)")
    against = a.add_mutually_exclusive_group(required=True)
    against.add_argument("--trust", type=Path, help="a trust registry file: says which producer signed")
    against.add_argument("--key", type=Path, help="one public (or private) key")
    a.add_argument("--at", type=dt.datetime.fromisoformat, default=None,
                   help="judge the key's validity at this instant (ISO 8601; default: now)")
    a.add_argument("event", nargs="?", type=Path, help="the event (default: stdin)")
    a.set_defaults(func=_clear_errors(verify))


def _clear_errors(command):
    """A missing file, a key that is not Ed25519, an event that is not a JSON CloudEvent: one
    line saying so and exit status 2, not a traceback."""
    async def run(args: argparse.Namespace) -> int:
        try:
            return await command(args)
        except (OSError, ValueError) as exc:  # JSONDecodeError and key errors are ValueErrors
            print(f"exemplars keys {args.action}: {exc}", file=sys.stderr)
            return 2
    return run


def _entry(key: keys.SigningKey | keys.VerifyingKey) -> str:
    """The key as a producer's `keys:` item in a trust file."""
    return yaml.safe_dump([key_entry(key, dt.datetime.now(dt.UTC).date())], sort_keys=False, allow_unicode=True)


async def new(args: argparse.Namespace) -> int:
    public_path = args.path.with_name(args.path.name + ".pub")
    if not args.force and (args.path.exists() or public_path.exists()):
        print(f"exemplars keys: {args.path} exists (--force replaces it)", file=sys.stderr)
        return 2
    key = keys.generate_signing_key()
    keys.save_key(key, args.path, fmt=args.format)
    keys.save_key(key.public_key(), public_path, fmt=args.format)
    print(f"private key: {args.path} (keep it secret; only its owner can read it)")
    print(f"public key:  {public_path}")
    print(f"key id:      {keys.key_id(key)}")
    print("trust-file entry (under the producer's `keys:`):")
    print(_entry(key), end="")
    return 0


async def init(args: argparse.Namespace) -> int:
    from deploy.dev_keys import Keyring

    if args.trust.exists() and not args.force:
        print(f"exemplars keys: {args.trust} exists (--force replaces it)", file=sys.stderr)
        return 2
    keyring = Keyring(args.keys).ensure()
    args.trust.parent.mkdir(parents=True, exist_ok=True)
    args.trust.write_text(keyring.trust_file.read_text(encoding="utf-8"), encoding="utf-8")
    for producer in keyring.producers:
        print(f"{producer.name:<18} {keyring.key_file(producer.name)}   source {producer.source}")
    print(f"trust registry: {args.trust} (a trial run's: list your real systems' keys before production)")
    return 0


async def show(args: argparse.Namespace) -> int:
    key = keys.load_key(args.path)
    private = isinstance(key, keys.SigningKey)
    print(f"{'private' if private else 'public'} Ed25519 key, id {keys.key_id(key)}")
    print(json.dumps({k: v for k, v in keys.to_jwk(key).items() if k != "d"}))
    print(_entry(key), end="")
    return 0


def _read_event(path: Path | None) -> dict:
    text = path.read_text(encoding="utf-8") if path else sys.stdin.read()
    event = json.loads(text)
    if not isinstance(event, dict) or "specversion" not in event:
        raise ValueError("not a JSON-format CloudEvent (no specversion)")
    return event


async def sign(args: argparse.Namespace) -> int:
    key = keys.load_key(args.key)
    if not isinstance(key, keys.SigningKey):
        print("exemplars keys sign: --key must be a private key", file=sys.stderr)
        return 2
    event = _read_event(args.event)
    event.pop("dssematerial", None)
    names = [n.strip() for n in args.signed_ext.split(",") if n.strip()]
    event.update(sign_structured(event, key, names))
    print(json.dumps(event, ensure_ascii=False, indent=2))
    return 0


async def verify(args: argparse.Namespace) -> int:
    event = _read_event(args.event)
    at = args.at or dt.datetime.now(dt.UTC)
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    if args.trust:
        registry = load_registry(args.trust)
        lookup = registry.verifying_keys(str(event.get("source", "")), at)
    else:
        key = keys.load_key(args.key)
        public = key.public_key() if isinstance(key, keys.SigningKey) else key
        lookup = {keys.key_id(public): public}.get
    try:
        proven = verify_structured(event, lookup)
    except NotVerified as refused:
        print(f"not verified: {refused}")
        return 1
    who = ""
    if args.trust:
        producer, _ = registry.key(proven.keyid, at)
        who = f" by {producer.name}"
    signed = f"; signed extensions: {', '.join(proven.signed_ext)}" if proven.signed_ext else ""
    print(f"verified{who}, key {proven.keyid}{signed}")
    return 0
