"""`exemplars person export STAFF_ID`: everything the services hold about one person, as JSON
(`exemplars person erase`, its sibling, is in deploy/person_erase.py).

The data subject's right of access (Vietnam, Law 91/2025/QH15 on Personal Data Protection):
the operator answers a person's request with one JSON document. `person` is a group of
subcommands so that its sibling `erase` can sit beside `export`.

Where it reads. Each service keeps its own MongoDB database; the command reads every one of
them, read-only (only `find` is issued), from the same settings the service itself reads:
`<SERVICE>_MONGO_URI`, `<SERVICE>_MONGO_DATABASE` and the service's MongoDB user
(`<SERVICE>_MONGO_USERNAME`, `<SERVICE>_MONGO_PASSWORD_FILE`), with the defaults of each
service's `settings.py`. `--mongo-uri` reads every database through one URI instead (with
its own credentials, e.g. an operator's read-only user), `--<service>-db` names a database.

What it exports (`INVENTORY` below, one line per collection, is also the output's
`inventory`):
- the directory as each service keeps it: the `staff` document of the id in the
  nominations, evaluations, notifications and workspace databases;
- nominations: those naming the person as the nominee (whole, other people's ids taken
  out), as the submitter or as who asked a withdrawal (the nomination's id, unit, year,
  title and status, and what they did: when they submitted, their withdrawal request);
  the nominee's yearly claims (`nominee_claims`);
- evaluations: for a panel member (current, recused, or a replacement) their own sheet,
  their discussion comments, their recusal, their total, whether they are still on the
  panel; for the nominee of an individual nomination the evaluation's outcome, decision and
  facts (no sheet, comment, total or panel member's id); for the submitter, that they were
  kept off the panel; a council decision, correction or revocation recorded as acting for
  them (`sender.actor`): that record; their load (`loads`), the reminders sent to them
  (`notices`), their exemplars (`exemplars` of their nominations), and the reviews,
  replications and visits they reported;
- notifications: every delivery to them (address, template, subject, status, attempts,
  times, last error, the outcome event) and the panels the service remembers them on;
- workspace: their file as nominee, what they submitted, their assignments reduced as in
  the evaluations, their draft sheets, their form submissions, the refusals of their inputs,
  and their sign-ins by mailed link (`used_links`: link id and time; workspace sessions are
  signed cookies, nothing is stored per session).

What it leaves out, deliberately:
- other people's data in shared documents: another evaluator's sheet, comments, total or
  recusal, the panel's composition, who submitted a nomination about the person or recorded
  a decision (`submitter_id`, `requested_by`, `sender.actor` of someone else); the nominee's
  file (summary, achievements, disciplinary record) when the person is only its submitter;
- the Kafka log and what mirrors it: the topics' events, each service's `answers` (the
  stored answer of every input, republished as is), the notifications service's `events`
  (the notified events as received). The log's personal fields are sealed under the
  person's key (shared/personal.py): the projections hold what the log says of them;
- follow-up reports other people filed on the person's exemplar (the exemplar's own
  document, exported, carries their figures), the pinned criteria sets, and what holds no
  person (units, quotas, shortfalls, pacing).

Output: `{"person", "generated_at", "sources": {database: {collection: [documents]}},
"inventory": [...], "left_out": [...]}`, datetimes as ISO 8601 strings, ObjectIds and binary
values as strings; a document kept for a reason says it in `_why`. Exit codes: 0 exported; 2
a database could not be read; 3 nothing at all is held about the id.
"""

import argparse
import datetime as dt
import importlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy.person_records import Reader, plain

# service: its settings class, which says its env prefix and its database's defaults.
SETTINGS = {
    "nominations": "services.nominations.settings.NominationsSettings",
    "evaluations": "services.evaluations.settings.EvaluationsSettings",
    "notifications": "services.notifications.settings.NotificationsSettings",
    "workspace": "services.workspace.settings.WorkspaceSettings",
}
MONGO_FIELDS = ("mongo_uri", "mongo_database", "mongo_username", "mongo_password_file", "mongo_auth_source")
NOTHING_HELD = 3

# (service, collection) -> what the export holds of it: the README's personal data inventory.
INVENTORY = {
    ("nominations", "staff"): "the person's directory entry: unit, full name, roles, removed",
    ("nominations", "nominations"): "as nominee: the nomination whole (submission, status, reasons, outcome, decision) "
                                    "without other people's ids; as submitter or withdrawal requester: id, unit, year, "
                                    "title, status and their own act (submission time, withdrawal request)",
    ("nominations", "nominee_claims"): "the nominee's claim of each year (which nomination holds them)",
    ("evaluations", "staff"): "the person's directory entry: unit, full name, roles, fields of expertise, removed",
    ("evaluations", "evaluations"): "per evaluation (id, unit, year, title, status): as panel member their sheet with "
                                    "its comments, their discussion comments, their recusal, vacancy, total, seat; as "
                                    "nominee the outcome, decision and facts; as submitter their exclusion from the "
                                    "panel; decisions recorded as acting for them",
    ("evaluations", "loads"): "the evaluator's open assignments and count",
    ("evaluations", "notices"): "scoring reminders and overdue notices decided for them",
    ("evaluations", "exemplars"): "the exemplar or fostering record of their nomination, whole (the id of "
                                  "who recorded the decision taken out); decisions recorded as acting for them",
    ("evaluations", "reviews"): "periodic reviews they reported",
    ("evaluations", "replications"): "replications they reported",
    ("evaluations", "visits"): "study visits recorded as acting for them",
    ("notifications", "staff"): "the person's directory entry with contact: email, webhook URL, unit, roles, removed",
    ("notifications", "deliveries"): "every delivery to them: channel, address, template, subject, status, attempts, "
                                     "times, last error, outcome",
    ("notifications", "nominations"): "nominations whose panel the service remembers them on (panel reduced to them)",
    ("workspace", "staff"): "the person's directory entry: name, unit, position, roles, removed",
    ("workspace", "nominations"): "as nominee the accepted file without the submitter's id; as submitter id, unit, "
                                  "year, title, status",
    ("workspace", "assignments"): "as in evaluations: their sheet, comments, recusal, total, seat; as nominee the "
                                  "outcome and decision",
    ("workspace", "drafts"): "score sheets they saved and did not send",
    ("workspace", "submissions"): "every form they sent (kind, nomination, time, published)",
    ("workspace", "refusals"): "the evaluations service's refusals of inputs they sent",
    ("workspace", "used_links"): "their sign-ins by mailed link: link id, time",
}
LEFT_OUT = [
    "other people's data in shared documents: another evaluator's sheet, comments, total or recusal, the panel's "
    "composition, who submitted a nomination about the person or recorded a decision; the nominee's file when the "
    "person is only its submitter",
    "the Kafka log and its mirrors: topic events, every service's `answers` (stored answers to inputs), the "
    "notifications service's `events`; the log's personal fields are sealed under the person's key, out of scope here",
    "follow-up reports others filed on the person's exemplar (the exemplar document carries their figures), pinned "
    "criteria sets, and collections holding no person (units, quotas, shortfalls, pacing)",
]
MESSAGE_NOTHING = ("exemplars person export: không có dữ liệu nào về mã cán bộ {id} trong các cơ sở dữ liệu đã đọc "
                   "({dbs}) / nothing is held about staff id {id} in the databases read ({dbs})")


def add_person_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("person", help="a person's data (Law 91/2025/QH15): export it (access), erase it (deletion)")
    psub = p.add_subparsers(dest="person_command", required=True)
    add_export_command(psub)
    from deploy.person_erase import add_erase_command  # it reads the databases as `export` does

    add_erase_command(psub)


def add_export_command(psub: argparse._SubParsersAction) -> None:
    q = psub.add_parser("export", help="everything held about a staff id, as JSON (read-only)")
    q.add_argument("staff_id", help="the directory's staff id")
    q.add_argument("--out", default=None, help="write the JSON to this file, readable by its owner only "
                                               "(default: standard output)")
    database_options(q)
    q.set_defaults(func=export_command)


def database_options(p: argparse.ArgumentParser) -> None:
    """Where the services' databases are (read by `databases`)."""
    p.add_argument("--mongo-uri", default=None,
                   help="one MongoDB for every database (default: each service's <SERVICE>_MONGO_URI and MongoDB user)")
    for service in SETTINGS:
        p.add_argument(f"--{service}-db", dest=f"{service}_db", default=None,
                       help=f"default: {_prefix(service)}MONGO_DATABASE, else the service's default")


# ---- where the databases are -----------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    service: str
    name: str
    uri: str
    credentials: tuple[tuple[str, str], ...] = ()


def _settings_class(service: str):
    module, name = SETTINGS[service].rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _prefix(service: str) -> str:
    return service.upper() + "_"


def mongo_settings(service: str):
    """The service's MongoDB settings, read as the service reads them (its env prefix, its
    defaults), without the rest: the export needs none of the service's secrets."""
    from pydantic import create_model
    from pydantic_settings import BaseSettings, SettingsConfigDict

    cls = _settings_class(service)
    base = type(f"{cls.__name__}MongoBase", (BaseSettings,),
                {"model_config": SettingsConfigDict(env_prefix=cls.model_config.get("env_prefix", ""), extra="ignore")})
    fields = {name: (cls.model_fields[name].annotation, cls.model_fields[name].default) for name in MONGO_FIELDS}
    return create_model(f"{cls.__name__}Mongo", __base__=base, **fields)()


def databases(args: argparse.Namespace) -> dict[str, Database]:
    from shared.mongo import credentials

    found = {}
    for service in SETTINGS:
        settings = mongo_settings(service)
        name = getattr(args, f"{service}_db", None) or settings.mongo_database
        if args.mongo_uri:
            found[service] = Database(service, name, args.mongo_uri)
        else:
            found[service] = Database(service, name, settings.mongo_uri, tuple(sorted(credentials(settings).items())))
    return found


# ---- the command -----------------------------------------------------------------------------


async def export_command(args: argparse.Namespace) -> int:
    from pymongo import AsyncMongoClient
    from pymongo.errors import PyMongoError

    staff_id = args.staff_id.strip()
    try:
        where = databases(args)
    except (ValueError, OSError) as exc:
        print(f"exemplars person export: {exc}", file=sys.stderr)
        return 2
    clients: dict[tuple, AsyncMongoClient] = {}
    try:
        dbs = {}
        for service, db in where.items():
            key = (db.uri, db.credentials)
            if key not in clients:
                clients[key] = AsyncMongoClient(db.uri, tz_aware=True, serverSelectionTimeoutMS=10_000,
                                                appname="exemplars-person", **dict(db.credentials))
            dbs[service] = clients[key][db.name]
        document = await export(dbs, staff_id)
    except PyMongoError as exc:
        print(f"exemplars person export: MongoDB: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        for client in clients.values():
            await client.close()
    if not document["sources"]:
        print(MESSAGE_NOTHING.format(id=staff_id, dbs=", ".join(db.name for db in where.values())), file=sys.stderr)
        return NOTHING_HELD
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if args.out:
        write_private(Path(args.out), text)
        held = sum(len(docs) for collections in document["sources"].values() for docs in collections.values())
        print(f"{staff_id}: {held} documents -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def write_private(path: Path, text: str) -> None:
    """Personal data: the file is its owner's to read (created 0600, or truncated as it is)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


async def export(dbs: dict, staff_id: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """The export of `staff_id` from the services' databases (`dbs`: service -> AsyncDatabase)."""
    reader = Reader(staff_id)
    found: dict[str, dict[str, list[dict]]] = {}
    nominee_of: set[str] = set()  # nominations whose (individual) nominee the person is

    nominations = await reader.nominations_db(dbs["nominations"])
    nominee_of |= {d["_id"] for d in nominations.get("nominations", []) if "nominee" in d["_why"]}
    workspace_files = await reader.workspace_nominations(dbs["workspace"])
    nominee_of |= {d["_id"] for d in workspace_files if "nominee" in d["_why"]}
    found["nominations"] = nominations
    found["evaluations"] = await reader.evaluations_db(dbs["evaluations"], nominee_of)
    found["notifications"] = await reader.notifications_db(dbs["notifications"])
    found["workspace"] = {"nominations": workspace_files, **await reader.workspace_db(dbs["workspace"], nominee_of)}

    sources: dict[str, dict[str, list]] = {}
    inventory = []
    for service, collections in found.items():
        name = dbs[service].name
        for (owner, collection), holds in INVENTORY.items():
            if owner != service:
                continue
            docs = sorted(collections.get(collection, []), key=lambda d: str(d.get("_id")))
            inventory.append({"service": service, "database": name, "collection": collection,
                              "documents": len(docs), "holds": holds})
            if docs:
                sources.setdefault(name, {})[collection] = [plain(d) for d in docs]
    return {"person": staff_id, "generated_at": plain(now or dt.datetime.now(dt.UTC)), "sources": sources,
            "inventory": inventory, "left_out": LEFT_OUT}

