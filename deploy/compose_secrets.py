"""`exemplars secrets init --dir DIR [--readers FILE]`: the secrets docker-compose reads (README,
"First start"): MongoDB's root password (used by the `mongo` healthcheck only, to create the
users), the replica set's key file, one password per service for that service's own user,
and with `--readers` the workspace's bearer token for the evaluations service's criteria
(added to that tokens file). Existing files are kept, so running it again changes nothing;
every file is owner-only."""

import argparse
import base64
import os
import secrets
from pathlib import Path

from deploy.stack import SERVICES
from shared.readers import add_token

ROOT_PASSWORD = "mongo_root_password"
KEY_FILE = "mongo_keyfile"
WORKSPACE_TOKEN = "workspace.token"


def service_password(service: str) -> str:
    return f"{service}_mongo_password"


def add_secrets_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("secrets", help="the MongoDB passwords and key file docker-compose needs")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("init", help="create what is missing (owner-only files)")
    a.add_argument("--dir", type=Path, default=Path("secrets"))
    a.add_argument("--readers", type=Path, default=None,
                   help="the readers' tokens file (READERS_FILE): the workspace's token is added to it")
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
    if args.readers is not None and not (args.dir / WORKSPACE_TOKEN).exists():
        args.readers.parent.mkdir(parents=True, exist_ok=True)
        _write(args.dir / WORKSPACE_TOKEN, add_token(args.readers, "workspace", []))
        print(f"created {args.dir / WORKSPACE_TOKEN} (its digest in {args.readers})")
    return 0
