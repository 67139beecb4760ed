"""`exemplars tokens`: bearer tokens for the read endpoints, when no identity provider issues them
(the local run, a trial, an operator's script). The file keeps only each token's SHA-256; the
services re-read it when it changes, so adding or revoking needs no restart.

    exemplars tokens add --file F --subject NAME --scope SCOPE [--scope ...] [--expires DAY]
    exemplars tokens list --file F
    exemplars tokens revoke --file F --subject NAME

Scopes: operator, ministry, unit:<id>, evaluator:<id> (shared/readers.py).
"""

import argparse
import datetime as dt
import sys
from pathlib import Path

import yaml

from shared.readers import EVALUATOR, MINISTRY, OPERATOR, UNIT, add_token


def add_tokens_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokens", help="bearer tokens for the read endpoints (a tokens file)")
    actions = p.add_subparsers(dest="action", required=True)

    a = actions.add_parser("add", help="a new token, printed once (the file keeps its digest)")
    a.add_argument("--file", type=Path, required=True)
    a.add_argument("--subject", required=True, help="who holds it, as the services' logs will name them")
    a.add_argument("--scope", action="append", required=True, type=_scope,
                   help="operator | ministry | unit:<id> | evaluator:<id> (repeat for several)")
    a.add_argument("--expires", type=dt.date.fromisoformat, default=None, help="last day it is valid (UTC)")
    a.set_defaults(func=add)

    a = actions.add_parser("list", help="who holds a token, with which scopes, until when")
    a.add_argument("--file", type=Path, required=True)
    a.set_defaults(func=list_tokens)

    a = actions.add_parser("revoke", help="remove every token of a subject")
    a.add_argument("--file", type=Path, required=True)
    a.add_argument("--subject", required=True)
    a.set_defaults(func=revoke)


def _scope(value: str) -> str:
    if value in (OPERATOR, MINISTRY) or (value.startswith((UNIT, EVALUATOR)) and value.partition(":")[2]):
        return value
    raise argparse.ArgumentTypeError(f"{value!r}: operator, ministry, unit:<id> or evaluator:<id>")


async def add(args: argparse.Namespace) -> int:
    expires = None
    if args.expires:  # valid through that whole day
        expires = dt.datetime.combine(args.expires + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    args.file.parent.mkdir(parents=True, exist_ok=True)
    token = add_token(args.file, args.subject, args.scope, expires)
    print(token)
    print(f"# {args.subject}: {' '.join(args.scope)}; keep it secret, it is not stored anywhere", file=sys.stderr)
    return 0


def _entries(path: Path) -> list[dict]:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("tokens") or []


async def list_tokens(args: argparse.Namespace) -> int:
    for entry in _entries(args.file):
        print(f"{entry['subject']:<24} {' '.join(entry.get('scopes') or []):<32} "
              f"until {entry.get('expires') or '-':<26} sha256 {str(entry['sha256'])[:12]}…")
    return 0


async def revoke(args: argparse.Namespace) -> int:
    entries = _entries(args.file)
    kept = [e for e in entries if e["subject"] != args.subject]
    if len(kept) == len(entries):
        print(f"exemplars tokens revoke: no token of {args.subject!r} in {args.file}", file=sys.stderr)
        return 2
    staged = args.file.with_suffix(".tmp")
    staged.write_text(yaml.safe_dump({"tokens": kept}, sort_keys=False, allow_unicode=True), encoding="utf-8")
    staged.replace(args.file)
    print(f"revoked {len(entries) - len(kept)} token(s) of {args.subject}")
    return 0
