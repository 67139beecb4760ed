"""`exemplars person erase STAFF_ID --yes`: a person's data erased at their request.

The right to deletion (Law 91/2025/QH15) against a log that is never rewritten: the person's
key is deleted from the key store first (shared/vault.py; its tombstone stays, so no new key
is ever made for them), which leaves every sealed copy of their fields in every topic, dead
letters included, unreadable ("đã xóa"); then `person.erased` is published on the directory
topic, signed by the operators' privacy tool (the only producer the trust registry lets
announce an erasure), and each service clears what its projection holds of the person.
Key first: a record about them that a service reads again meanwhile already reads as erased.

The event's id derives from the staff id, so running the command again (after a failure to
publish, say) announces the same erasure, which the services take once.
"""

import argparse
import asyncio
import datetime as dt
import sys

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pymongo.errors import PyMongoError

from deploy.dev_keys import Keyring
from deploy.person import databases
from shared import envelope, topics
from shared.credentials import Signer
from shared.envelope import new_event
from shared.events import PersonErased
from shared.kafka_security import client_options
from shared.keys import SigningKey, load_key
from shared.settings import ServiceSettings
from shared.vault import MongoVault

SOURCE = "urn:exemplars:privacy"
PRODUCER = "privacy"  # its name in the development keyring and the example trust file


def add_erase_command(psub: argparse._SubParsersAction) -> None:
    q = psub.add_parser("erase", help="erase a staff id's personal data: delete their key, tell every service")
    q.add_argument("staff_id", help="the directory's staff id")
    q.add_argument("--yes", action="store_true", help="confirm: an erasure cannot be undone")
    q.add_argument("--bootstrap", default="127.0.0.1:9092")
    q.add_argument("--signing-key", default=None,
                   help=f"the privacy tool's private key (PEM or JWK), trusted for source {SOURCE} "
                        "(default: the local run's, in --keys)")
    q.add_argument("--keys", default=".local/keys", help="the development keys `exemplars run` created")
    q.add_argument("--keys-db", default=ServiceSettings().keys_database,
                   help="the key store's database (default: %(default)s)")
    q.add_argument("--mongo-uri", default=None,
                   help="the MongoDB of the key store (default: NOMINATIONS_MONGO_URI and its MongoDB user)")
    q.set_defaults(func=erase_command)


async def erase_command(args: argparse.Namespace) -> int:
    staff_id = args.staff_id.strip()
    if not args.yes:
        print(f"exemplars person erase: xóa dữ liệu cá nhân của {staff_id} là không thể hoàn tác; thêm --yes để "
              f"xác nhận / erasing {staff_id} cannot be undone: add --yes to confirm", file=sys.stderr)
        return 2
    try:
        signer = _signer(args)
        where = databases(args)["nominations"]  # the key store lives beside the services' databases
    except (ValueError, OSError) as exc:
        print(f"exemplars person erase: {exc}", file=sys.stderr)
        return 2
    now = dt.datetime.now(dt.UTC)
    vault = MongoVault.open(where.uri, args.keys_db, **dict(where.credentials))
    try:
        had_key = await vault.erase(staff_id, now)
    except PyMongoError as exc:
        print(f"exemplars person erase: the key store: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        await vault.close()
    erased = new_event(PersonErased(staff_id=staff_id, erased_on=now.date()), key=staff_id, source=SOURCE,
                       id_parts=(staff_id,), time=now)
    try:
        await _publish(args.bootstrap, erased, signer)
    except KafkaError as exc:
        print(f"exemplars person erase: the key of {staff_id} is deleted, but person.erased was not published "
              f"({type(exc).__name__}: {exc}): run the command again", file=sys.stderr)
        return 1
    print(f"{staff_id}: {'key deleted' if had_key else 'no key held (already erased, or never sealed)'}; "
          f"person.erased {erased.id} published: every service now clears its projection")
    return 0


def _signer(args: argparse.Namespace) -> Signer:
    key = load_key(args.signing_key) if args.signing_key else None
    if key is None:
        return Keyring(args.keys).signer(PRODUCER)
    if not isinstance(key, SigningKey):
        raise ValueError(f"{args.signing_key} holds a public key; --signing-key must be the private key")
    return Signer(key)


async def _publish(bootstrap: str, event: envelope.Event, signer: Signer) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **client_options())
    await producer.start()
    try:
        key, value, headers = envelope.encode(event)  # nothing personal in it: a staff id and a day
        signed = signer.headers(headers, value)
        await asyncio.wait_for(producer.send_and_wait(topics.DIRECTORY, value, key=key,
                                                      headers=[(k, v.encode()) for k, v in signed.items()]), 30)
    finally:
        await producer.stop()
