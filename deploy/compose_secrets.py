"""`exemplars secrets init --dir DIR`: the MongoDB secrets docker-compose reads (README, "First
start"): the root password (used by the `mongo` healthcheck only, to create the users), the
replica set's key file, and one password per service, each for that service's own user.
Existing files are kept, so running it again changes nothing; every file is owner-only."""

import argparse
import base64
import os
import secrets
from pathlib import Path

from deploy.stack import SERVICES

ROOT_PASSWORD = "mongo_root_password"
KEY_FILE = "mongo_keyfile"


def service_password(service: str) -> str:
    return f"{service}_mongo_password"


def add_secrets_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("secrets", help="the MongoDB passwords and key file docker-compose needs")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("init", help="create what is missing (owner-only files)")
    a.add_argument("--dir", type=Path, default=Path("secrets"))
    a.set_defaults(func=init)


def _write(path: Path, text: str) -> bool:
    if path.exists():
        return False
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(text + "\n")
    return True


async def init(args: argparse.Namespace) -> int:
    args.dir.mkdir(parents=True, exist_ok=True)
    wanted = {ROOT_PASSWORD: secrets.token_urlsafe(24),
              # MongoDB's key file: base64, 6 to 1024 characters.
              KEY_FILE: base64.b64encode(secrets.token_bytes(756)).decode(),
              **{service_password(name): secrets.token_urlsafe(24) for name in SERVICES}}
    for name, value in wanted.items():
        print(f"{'created' if _write(args.dir / name, value) else 'kept   '} {args.dir / name}")
    return 0
