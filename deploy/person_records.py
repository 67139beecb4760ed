"""One person's parts of each service's documents, for `exemplars person export` (deploy/person.py):
what is theirs in a shared document, and nothing of anyone else's."""

import base64
import datetime as dt
import uuid
from typing import Any

REVISION = "_rev"  # shared/unit_of_work.py: compared, never shown


# ---- what each database holds of the person --------------------------------------------------


class Reader:
    """One person's parts of each service's documents. Queries are one field each (SecantusDB
    scans a collection for any `$or`), merged by `_id`."""

    def __init__(self, person: str) -> None:
        self.person = person

    async def _find(self, collection, *filters: dict, projection: dict | None = None) -> dict[Any, dict]:
        found: dict[Any, dict] = {}
        for where in filters:
            async for doc in collection.find(where, projection or {REVISION: 0}):
                found.setdefault(doc["_id"], doc)
        return found

    async def _staff(self, db) -> list[dict]:
        doc = await db["staff"].find_one({"_id": self.person}, {REVISION: 0})
        return [doc] if doc else []

    def _sender(self, sender: Any) -> Any:
        """A sender record keeps its `actor` only when that is the person."""
        if isinstance(sender, dict) and sender.get("actor") not in (None, self.person):
            return {k: v for k, v in sender.items() if k != "actor"}
        return sender

    def _acted(self, record: Any) -> bool:
        return isinstance(record, dict) and (record.get("sender") or {}).get("actor") == self.person

    # ---- nominations -----------------------------------------------------------------------

    async def nominations_db(self, db) -> dict[str, list[dict]]:
        p = self.person
        docs = await self._find(db["nominations"], {"submission.nominee.staff_id": p}, {"nominee_key": f"staff:{p}"},
                                {"submission.submitter_id": p}, {"withdrawal.requested_by": p},
                                {"sender.actor": p}, {"withdrawal.sender.actor": p})
        nominations = [self._nomination(doc) for doc in docs.values()]
        nominee = [d for d in nominations if "nominee" in d["_why"]]
        claims = await self._find(db["nominee_claims"], {"_id": {"$in": sorted(
            {f"{d['year']}:staff:{p}" for d in nominee if "year" in d})}}) if nominee else {}
        return {"staff": await self._staff(db), "nominations": nominations,
                "nominee_claims": [{**c, "_why": ["nominee"]} for c in claims.values()]}

    def _nomination(self, doc: dict) -> dict:
        p = self.person
        submission = doc.get("submission") or {}
        withdrawal = doc.get("withdrawal") or {}
        why = []
        if (submission.get("nominee") or {}).get("staff_id") == p or doc.get("nominee_key") == f"staff:{p}":
            why.append("nominee")
        if submission.get("submitter_id") == p or self._acted(doc):
            why.append("submitter")
        if withdrawal.get("requested_by") == p or self._acted(withdrawal):
            why.append("withdrawal_requester")
        if "nominee" in why:
            out = {**doc, "submission": {k: v for k, v in submission.items()
                                         if k != "submitter_id" or v == p},
                   "sender": self._sender(doc.get("sender"))}
            if withdrawal:
                out["withdrawal"] = {k: (self._sender(v) if k == "sender" else v) for k, v in withdrawal.items()
                                     if k != "requested_by" or v == p}
            return {**out, "_why": why}
        out = {**_pick(doc, ("_id", "unit_id", "year", "field")), **_pick(submission, ("title",)),
               **_pick(doc, ("status",))}
        if "submitter" in why:
            out |= {**_pick(submission, ("submitter_id",)), **_pick(doc, ("submitted_at", "received_at")),
                    "sender": self._sender(doc.get("sender"))}
        if "withdrawal_requester" in why:
            out["withdrawal"] = {**withdrawal, "sender": self._sender(withdrawal.get("sender"))}
        return {**out, "_why": why}

    # ---- evaluations -----------------------------------------------------------------------

    async def evaluations_db(self, db, nominee_of: set[str]) -> dict[str, list[dict]]:
        p = self.person
        evaluations = await self._find(
            db["evaluations"], {"panel": p}, {"sheets.evaluator_id": p}, {"recused.evaluator_id": p},
            {"recused.replacement_id": p}, {"vacancies.recused_id": p}, {"discussion.comments.evaluator_id": p},
            {"excluded_staff": p}, {"decision.sender.actor": p}, {"decision.corrections.sender.actor": p},
            {"decision.revocation.sender.actor": p},
            *([{"_id": {"$in": sorted(nominee_of)}}] if nominee_of else []))
        exemplars = await self._find(db["exemplars"], {"decision_sender.actor": p}, {"revocation.sender.actor": p},
                                     *([{"nomination_id": {"$in": sorted(nominee_of)}}] if nominee_of else []))
        reviews = await self._find(db["reviews"], {"reported_by": p}, {"sender.actor": p})
        replications = await self._find(db["replications"], {"reported_by": p}, {"sender.actor": p})
        visits = await self._find(db["visits"], {"sender.actor": p})
        notices = await self._find(db["notices"], {"evaluator_id": p})
        load = await db["loads"].find_one({"_id": p}, {REVISION: 0})
        return {
            "staff": await self._staff(db),
            "evaluations": [e for doc in evaluations.values() if (e := self._evaluation(doc, nominee_of))],
            "loads": [load] if load else [],
            "notices": list(notices.values()),
            "exemplars": [self._exemplar(doc, nominee_of) for doc in exemplars.values()],
            "reviews": [self._report(doc) for doc in reviews.values()],
            "replications": [self._report(doc) for doc in replications.values()],
            "visits": [{**self._report(doc), "_why": ["recorded_by"]} for doc in visits.values()],
        }

    def _report(self, doc: dict) -> dict:
        return {**doc, "sender": self._sender(doc.get("sender")), "_why": ["reported_by"]}

    def _exemplar(self, doc: dict, nominee_of: set[str]) -> dict:
        if doc.get("nomination_id") in nominee_of:
            out = {**doc, "decision_sender": self._sender(doc.get("decision_sender"))}
            if isinstance(doc.get("revocation"), dict):
                out["revocation"] = {**doc["revocation"], "sender": self._sender(doc["revocation"].get("sender"))}
            return {**out, "_why": ["nominee"]}
        out = _pick(doc, ("_id", "nomination_id", "unit_id", "year", "field", "title", "status"))
        if (doc.get("decision_sender") or {}).get("actor") == self.person:
            out["recorded_decision"] = _pick(doc, ("level", "decision_ref", "decided_on", "decision_sender"))
        if self._acted(doc.get("revocation")):
            out["recorded_revocation"] = doc["revocation"]
        return {**out, "_why": ["recorded_decision"]}

    def _evaluation(self, doc: dict, nominee_of: set[str]) -> dict | None:
        p = self.person
        out = _pick(doc, ("_id", "unit_id", "year", "field", "title", "status"))
        why = []
        if doc["_id"] in nominee_of:
            why.append("nominee")
            out |= _pick(doc, ("movement", "nominee_kind", "nominee_name", "facts", "created_at", "completed_at",
                               "cancelled_at", "updated_at"))
            if doc.get("result"):
                out["result"] = {k: v for k, v in doc["result"].items() if k != "evaluator_totals"}
            if doc.get("discussion"):
                out["discussion"] = {k: v for k, v in doc["discussion"].items() if k != "comments"}
            if doc.get("decision"):
                out["decision"] = self._decision(doc["decision"])
        elif p in (doc.get("excluded_staff") or ()):
            why.append("kept_off_the_panel")
            out["excluded_from_panel"] = True
        member = self._member(doc)
        if member:
            why.append("panel")
            out |= member
        decision = doc.get("decision") or {}
        recorded = {}
        if self._acted(decision):
            recorded["decision"] = _pick(decision, ("recognized", "level", "decision_ref", "decided_on", "note", "at",
                                                    "received_at", "sender"))
        if corrections := [c for c in decision.get("corrections") or () if self._acted(c)]:
            recorded["corrections"] = corrections
        if self._acted(decision.get("revocation")):
            recorded["revocation"] = decision["revocation"]
        if recorded:
            why.append("recorded_decision")
            out["recorded"] = recorded
        return {**out, "_why": why} if why else None

    def _decision(self, decision: dict) -> dict:
        out = {**decision, "sender": self._sender(decision.get("sender"))}
        out["corrections"] = [{**c, "sender": self._sender(c.get("sender"))} for c in decision.get("corrections") or ()]
        if isinstance(decision.get("revocation"), dict):
            out["revocation"] = {**decision["revocation"], "sender": self._sender(decision["revocation"].get("sender"))}
        return out

    def _member(self, doc: dict) -> dict:
        """A panel member's own parts of an evaluation: never another member's."""
        p = self.person
        out: dict[str, Any] = {}
        if p in (doc.get("panel") or ()):
            out |= {"on_panel": True, "deadline": doc.get("deadline")}
        if sheets := [s for s in doc.get("sheets") or () if s.get("evaluator_id") == p]:
            out["sheet"] = sheets[-1]
        comments = ((doc.get("discussion") or {}).get("comments")) or ()
        if mine := [c for c in comments if c.get("evaluator_id") == p]:
            out["comments"] = mine
        if recusals := [{k: v for k, v in r.items() if k != "replacement_id"}
                        for r in doc.get("recused") or () if r.get("evaluator_id") == p]:
            out["recusals"] = recusals
        if replaced := [{"replacement_id": p, "at": r.get("at")}
                        for r in doc.get("recused") or () if r.get("replacement_id") == p]:
            out["replacements"] = replaced
        if vacancies := [v for v in doc.get("vacancies") or () if v.get("recused_id") == p]:
            out["vacancies"] = vacancies
        total = ((doc.get("result") or {}).get("evaluator_totals") or {}).get(p)
        if total is not None:
            out["total"] = total
        return out

    # ---- notifications ---------------------------------------------------------------------

    async def notifications_db(self, db) -> dict[str, list[dict]]:
        p = self.person
        deliveries = await self._find(db["deliveries"], {"recipient_id": p})
        panels = await self._find(db["nominations"], {"panel": p})
        return {"staff": await self._staff(db),
                "deliveries": list(deliveries.values()),
                "nominations": [{**doc, "panel": [p], "_why": ["panel"]} for doc in panels.values()]}

    # ---- workspace -------------------------------------------------------------------------

    async def workspace_nominations(self, db) -> list[dict]:
        p = self.person
        docs = await self._find(db["nominations"], {"nominee.staff_id": p}, {"submitter_id": p})
        files = []
        for doc in docs.values():
            if (doc.get("nominee") or {}).get("staff_id") == p:
                why = ["nominee"] + (["submitter"] if doc.get("submitter_id") == p else [])
                files.append({**{k: v for k, v in doc.items() if k != "submitter_id" or v == p}, "_why": why})
            else:
                files.append({**_pick(doc, ("_id", "unit_id", "year", "field", "title", "status", "submitter_id",
                                            "accepted_at")), "_why": ["submitter"]})
        return files

    async def workspace_db(self, db, nominee_of: set[str]) -> dict[str, list[dict]]:
        p = self.person
        filters = [{"panel": p}, {"recused": p}, {"discussion.comments.evaluator_id": p},
                   *([{f"sheets.{p}": {"$exists": True}}] if "." not in p and not p.startswith("$") else []),
                   *([{"_id": {"$in": sorted(nominee_of)}}] if nominee_of else [])]
        assignments = await self._find(db["assignments"], *filters)
        submissions = await self._find(db["submissions"], {"person": p})
        refusals = await self._find(db["refusals"], {"sender_id": p},
                                    *([{"_id": {"$in": sorted(submissions)}}] if submissions else []))
        return {
            "staff": await self._staff(db),
            "assignments": [a for doc in assignments.values() if (a := self._assignment(doc, nominee_of))],
            "drafts": list((await self._find(db["drafts"], {"person": p}, projection={})).values()),
            "submissions": list(submissions.values()),
            "refusals": [{**doc, "_why": ["sent_by"]} for doc in refusals.values()],
            "used_links": list((await self._find(db["used_links"], {"person": p}, projection={})).values()),
        }

    def _assignment(self, doc: dict, nominee_of: set[str]) -> dict | None:
        p = self.person
        out = _pick(doc, ("_id", "unit_id", "year", "field", "title", "status"))
        why = []
        if doc["_id"] in nominee_of:
            why.append("nominee")
            out |= _pick(doc, ("nominee_kind", "decision", "adopting_units"))
            if doc.get("result"):
                out["result"] = {k: v for k, v in doc["result"].items() if k != "evaluator_totals"}
        member: dict[str, Any] = {}
        if p in (doc.get("panel") or ()):
            member |= {"on_panel": True, "deadline": doc.get("deadline")}
        if p in (doc.get("sheets") or {}):
            member["sheet"] = doc["sheets"][p]
        comments = ((doc.get("discussion") or {}).get("comments")) or ()
        if mine := [c for c in comments if c.get("evaluator_id") == p]:
            member["comments"] = mine
        if p in (doc.get("recused") or ()):
            member["recused"] = True
        total = ((doc.get("result") or {}).get("evaluator_totals") or {}).get(p)
        if total is not None:
            member["total"] = total
        if member:
            why.append("panel")
            out |= member
        return {**out, "_why": why} if why else None


def _pick(doc: dict, keys: tuple[str, ...]) -> dict:
    """The fields of `doc` named, those it has."""
    return {k: doc[k] for k in keys if k in doc}


# ---- JSON --------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A stored value as JSON: datetimes ISO 8601 (UTC when stored naive), ObjectIds, UUIDs and
    decimals as strings, binary as base64; the revision counter dropped."""
    from bson import Binary, Decimal128, ObjectId
    from bson.timestamp import Timestamp

    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items() if k != REVISION}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [plain(v) for v in items]
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Binary) and value.subtype in (3, 4):
        try:
            return str(value.as_uuid(value.subtype))
        except ValueError:
            pass
    if isinstance(value, (bytes, bytearray)):  # Binary is bytes
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (ObjectId, uuid.UUID, Decimal128)):
        return str(value)
    if isinstance(value, Timestamp):
        return value.as_datetime().isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
