"""`exemplars person export`: the real command line against SecantusDB, over four databases of
its own (the session's services keep theirs), holding documents shaped as the services write
them. What a person gets is theirs: their own sheet and comments, never a colleague's."""

import asyncio
import datetime as dt
import json
import os
import stat
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("nominations", "evaluations", "notifications", "workspace")

EVALUATOR, OTHER, THIRD = "PX-EVAL-A", "PX-OTHER-B", "PX-THIRD-C"
NOMINEE, SUBMITTER, UNKNOWN = "PX-NOMINEE", "PX-SUBMITTER", "PX-NOBODY"
NOMINATION, RECUSED_FROM = "NOM-2031-PX-0001", "NOM-2031-PX-0002"
T0 = dt.datetime(2031, 3, 2, 8, 30, tzinfo=dt.UTC)
SENDER = {"producer": "workspace", "keyid": "k1"}


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def sheet(evaluator: str, comment: str, criterion_comment: str, hours: float) -> dict:
    return {"evaluator_id": evaluator, "scores": {"c1": 8, "c2": 7}, "gates": {"g1": True}, "comment": comment,
            "criterion_comments": {"c1": criterion_comment}, "at": at(hours), "received_at": at(hours),
            "event_id": str(uuid.uuid4()), "sender": {**SENDER, "actor": evaluator}}


def comment(evaluator: str, text: str, hours: float) -> dict:
    return {"evaluator_id": evaluator, "comment": text, "at": at(hours), "received_at": at(hours),
            "event_id": str(uuid.uuid4()), "sender": {**SENDER, "actor": evaluator}}


def staff(staff_id: str, name: str) -> dict:
    return {"_id": staff_id, "unit_id": "QLDD", "full_name": name, "roles": ["evaluator"], "removed": False, "_rev": 1}


@pytest.fixture(scope="module")
async def dbs(stack, mongo):
    """Four fresh databases, one per service, filled as each service would have."""
    tag = uuid.uuid4().hex[:8]
    names = {service: f"person_{tag}_{service}" for service in SERVICES}
    nominations, evaluations = mongo[names["nominations"]], mongo[names["evaluations"]]
    notifications, workspace = mongo[names["notifications"]], mongo[names["workspace"]]

    submission = {"nomination_id": NOMINATION, "unit_id": "QLDD", "year": 2031,
                  "nominee": {"kind": "individual", "name": "Trần Thị Được Đề Cử", "staff_id": NOMINEE,
                              "position": "Kỹ sư"},
                  "field": "digital_transformation", "movement": "Thi đua", "title": "Mô hình số hoá hồ sơ",
                  "summary": "Tóm tắt", "achievements": ["Thành tích"], "evidence": [], "started_on": "2029-01-01",
                  "disciplinary_record": False, "submitter_id": SUBMITTER}
    await nominations["staff"].insert_many([staff(EVALUATOR, "Nguyễn Văn Chấm"), staff(NOMINEE, "Trần Thị Được Đề Cử")])
    await nominations["nominations"].insert_one({
        "_id": NOMINATION, "unit_id": "QLDD", "year": 2031, "field": "digital_transformation", "status": "accepted",
        "nominee_key": f"staff:{NOMINEE}", "submission": submission, "reasons": [], "submitted_at": at(0),
        "received_at": at(0), "sender": {**SENDER, "actor": SUBMITTER}, "updated_at": at(0), "_rev": 1})
    await nominations["nominee_claims"].insert_one({"_id": f"2031:staff:{NOMINEE}", "nomination_id": NOMINATION})

    await evaluations["staff"].insert_many([{**staff(EVALUATOR, "Nguyễn Văn Chấm"), "fields": ["digital_transformation"]},
                                            {**staff(OTHER, "Lê Văn Khác"), "fields": []}])
    await evaluations["evaluations"].insert_many([
        {"_id": NOMINATION, "unit_id": "QLDD", "year": 2031, "field": "digital_transformation",
         "nominee_kind": "individual", "nominee_name": "Trần Thị Được Đề Cử",
         "excluded_staff": sorted([SUBMITTER, NOMINEE]), "title": "Mô hình số hoá hồ sơ", "movement": "Thi đua",
         "facts": {"evidence": [], "disciplinary_record": False, "started_on": at(-9000), "as_of": at(0)},
         "criteria": {"criteria": [{"id": "c1"}]}, "panel_size": 3, "panel": [EVALUATOR, OTHER, THIRD],
         "recused": [], "vacancies": [], "opened": True, "deadline": at(400), "status": "completed",
         "sheets": [sheet(EVALUATOR, "Nhận xét của A / A's own remark", "A: tiêu chí 1 tốt", 10),
                    sheet(OTHER, "B-SECRET nhận xét của B", "B-SECRET tiêu chí", 11),
                    sheet(THIRD, "C-SECRET nhận xét của C", "C-SECRET tiêu chí", 12)],
         "discussion": {"opened_on": at(24), "closes_on": at(100), "spread": 25.0, "closed_by": "agreement",
                        "comments": [comment(OTHER, "B-SECRET bình luận", 30), comment(EVALUATOR, "A bàn luận", 31)]},
         "result": {"total": 75.0, "outcome": "recognize", "evaluator_totals": {EVALUATOR: 80.0, OTHER: 60.0,
                                                                               THIRD: 85.0},
                    "spread": 25.0, "divergent": True, "breakdown": [], "gates": {"g1": True}, "below_minimum": []},
         "decision": None, "created_at": at(0), "completed_at": at(60), "updated_at": at(60), "_rev": 7},
        {"_id": RECUSED_FROM, "unit_id": "QLTV", "year": 2031, "field": "digital_transformation",
         "nominee_kind": "collective", "nominee_name": "Phòng Thuỷ văn", "excluded_staff": ["PX-SUB-2"],
         "title": "Mô hình khác", "panel": [OTHER, THIRD, "PX-FOURTH"], "panel_size": 3, "vacancies": [],
         "recused": [{"evaluator_id": EVALUATOR, "reason": "Người thân ở đơn vị", "at": at(5),
                      "replacement_id": "PX-FOURTH", "sender": {**SENDER, "actor": EVALUATOR}}],
         "sheets": [sheet(OTHER, "B-SECRET ở đánh giá 2", "B-SECRET", 6)], "status": "open", "deadline": at(300),
         "result": None, "decision": None, "_rev": 3},
        {"_id": "NOM-2031-PX-0003", "unit_id": "QLTV", "year": 2031, "title": "Không liên quan",
         "panel": [OTHER, THIRD], "sheets": [sheet(OTHER, "B-SECRET ở đánh giá 3", "B-SECRET", 7)], "recused": [],
         "status": "open", "_rev": 1},
    ])
    await evaluations["loads"].insert_many([{"_id": EVALUATOR, "open": [], "n": 2}, {"_id": OTHER, "open": ["x"], "n": 3}])
    await evaluations["notices"].insert_one({
        "_id": f"{NOMINATION}|{EVALUATOR}|reminder-3", "nomination_id": NOMINATION, "evaluator_id": EVALUATOR,
        "key": "reminder-3", "published": True,
        "event": {"id": str(uuid.uuid4()), "type": "evaluation.reminder", "time": at(2),
                  "data": {"nomination_id": NOMINATION, "evaluator_id": EVALUATOR, "days_left": 3}}})
    await evaluations["exemplars"].insert_one({
        "_id": f"EX-{NOMINATION}", "nomination_id": NOMINATION, "unit_id": "QLDD", "year": 2031,
        "nominee_kind": "individual", "nominee_name": "Trần Thị Được Đề Cử", "title": "Mô hình số hoá hồ sơ",
        "status": "recognized", "level": "ministry", "decision_ref": "QĐ-1/2031", "decided_on": at(200),
        "decision_sender": {**SENDER, "actor": "PX-SECRETARY"}, "adopters": ["QLTV"], "created_at": at(200)})
    await evaluations["reviews"].insert_many([
        {"_id": f"EX-{NOMINATION}|2031-H2", "exemplar_id": f"EX-{NOMINATION}", "period": "2031-H2", "influence": 3,
         "trend": "growing", "reported_by": EVALUATOR, "at": at(900), "sender": {**SENDER, "actor": EVALUATOR}},
        {"_id": f"EX-{NOMINATION}|2032-H1", "exemplar_id": f"EX-{NOMINATION}", "period": "2032-H1", "influence": 2,
         "trend": "stable", "reported_by": OTHER, "difficulties": "B-SECRET khó khăn", "at": at(1900)}])

    await notifications["staff"].insert_one({**staff(EVALUATOR, "Nguyễn Văn Chấm"), "email": "cham@example.vn",
                                             "webhook_url": None, "position": {"partition": 0, "offset": 4}})
    await notifications["deliveries"].insert_many([
        {"_id": f"d-{EVALUATOR}-mail", "event_key": "k1", "event_id": "e1", "event_type": "evaluation.panel_assigned",
         "recipient_id": EVALUATOR, "recipient_kind": "staff", "recipient_name": "Nguyễn Văn Chấm", "unit_id": "QLDD",
         "channel": "email", "template": "panel_assigned", "address": "cham@example.vn", "publicity": False,
         "status": "sent", "attempts": 1, "subject": "Phân công chấm", "next_attempt_at": at(1), "created_at": at(1),
         "updated_at": at(1.1), "finished_at": at(1.1)},
        {"_id": f"d-{EVALUATOR}-reminder", "event_key": "k2", "event_id": "e2", "event_type": "evaluation.reminder",
         "recipient_id": EVALUATOR, "recipient_kind": "staff", "channel": "email", "template": "reminder",
         "address": "cham@example.vn", "status": "failed", "attempts": 6, "last_error": "smtp_refused",
         "created_at": at(2), "updated_at": at(3)},
        {"_id": f"d-{OTHER}-mail", "event_key": "k1", "event_id": "e1", "event_type": "evaluation.panel_assigned",
         "recipient_id": OTHER, "recipient_kind": "staff", "channel": "email", "template": "panel_assigned",
         "address": "b-secret@example.vn", "status": "sent", "attempts": 1, "created_at": at(1)}])
    await notifications["nominations"].insert_one({"_id": NOMINATION, "unit_id": "QLDD", "title": "Mô hình số hoá hồ sơ",
                                                   "panel": sorted([EVALUATOR, OTHER, THIRD])})

    await workspace["staff"].insert_one({"_id": EVALUATOR, "name": "Nguyễn Văn Chấm", "unit_id": "QLDD",
                                         "position": "Chuyên viên", "roles": ["evaluator"], "removed": False})
    await workspace["nominations"].insert_one({
        "_id": NOMINATION, "unit_id": "QLDD", "year": 2031, "title": "Mô hình số hoá hồ sơ", "status": "accepted",
        "nominee": submission["nominee"], "summary": "Tóm tắt", "submitter_id": SUBMITTER, "accepted_at": at(0)})
    await workspace["assignments"].insert_one({
        "_id": NOMINATION, "unit_id": "QLDD", "year": 2031, "title": "Mô hình số hoá hồ sơ", "status": "completed",
        "panel": [EVALUATOR, OTHER, THIRD], "recused": [], "deadline": "2031-03-19",
        "sheets": {EVALUATOR: {"scores": {"c1": 8}, "comment": "Nhận xét của A / A's own remark",
                               "criterion_comments": {"c1": "A: tiêu chí 1 tốt"}, "total": 80.0, "at": at(10)},
                   OTHER: {"scores": {"c1": 5}, "comment": "B-SECRET nhận xét của B",
                           "criterion_comments": {"c1": "B-SECRET"}, "total": 60.0, "at": at(11)}},
        "discussion": {"closes_on": "2031-03-07", "comments": [
            {"number": 1, "evaluator_id": OTHER, "comment": "B-SECRET bình luận", "at": at(30)},
            {"number": 2, "evaluator_id": EVALUATOR, "comment": "A bàn luận", "at": at(31)}]},
        "result": {"total": 75.0, "outcome": "recognize", "evaluator_totals": {EVALUATOR: 80.0, OTHER: 60.0}}})
    await workspace["drafts"].insert_one({"_id": f"{RECUSED_FROM}|{EVALUATOR}", "nomination_id": RECUSED_FROM,
                                          "person": EVALUATOR, "scores": {"c1": 4}, "saved_at": at(4)})
    await workspace["submissions"].insert_one({"_id": "ev-1", "kind": "score", "nomination_id": NOMINATION,
                                               "person": EVALUATOR, "at": at(10), "published": True})
    await workspace["used_links"].insert_many([{"_id": "link-1", "person": EVALUATOR, "at": at(1.5)},
                                               {"_id": "link-2", "person": OTHER, "at": at(1.6)}])
    yield names
    for name in names.values():
        await mongo.drop_database(name)


def env_for(stack, names: dict[str, str]) -> dict[str, str]:
    """The environment the services run with (their MONGO_URI), pointed at our databases."""
    env = {k: v for k, v in os.environ.items() if "_MONGO_" not in k}
    for service in SERVICES:
        env[f"{service.upper()}_MONGO_URI"] = stack.config.mongo_uri
        env[f"{service.upper()}_MONGO_DATABASE"] = names[service]
    return env


async def person_export(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.cli", "person", "export", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(command.communicate(), 60)
    return command.returncode, out.decode(), err.decode()


async def test_an_evaluator_gets_their_own_sheet_and_comments_never_a_colleagues(stack, dbs):
    code, out, err = await person_export(EVALUATOR, env=env_for(stack, dbs))
    assert code == 0, err
    export = json.loads(out)
    assert export["person"] == EVALUATOR
    dt.datetime.fromisoformat(export["generated_at"])
    sources = export["sources"]
    assert set(sources) == set(dbs.values())  # every service holds something of them

    evaluations = {e["_id"]: e for e in sources[dbs["evaluations"]]["evaluations"]}
    assert set(evaluations) == {NOMINATION, RECUSED_FROM}  # not the third, which they never sat on
    mine = evaluations[NOMINATION]
    assert mine["title"] == "Mô hình số hoá hồ sơ" and mine["year"] == 2031 and mine["_why"] == ["panel"]
    assert mine["sheet"]["comment"] == "Nhận xét của A / A's own remark"
    assert mine["sheet"]["criterion_comments"] == {"c1": "A: tiêu chí 1 tốt"}
    assert mine["sheet"]["at"] == at(10).isoformat()  # datetimes as ISO strings
    assert [c["comment"] for c in mine["comments"]] == ["A bàn luận"]
    assert mine["total"] == 80.0 and mine["on_panel"] is True
    assert "sheets" not in mine and "panel" not in mine and "criteria" not in mine and "result" not in mine
    recusal = evaluations[RECUSED_FROM]["recusals"]
    assert [r["reason"] for r in recusal] == ["Người thân ở đơn vị"] and "replacement_id" not in recusal[0]
    assert "sheet" not in evaluations[RECUSED_FROM]

    assignment = sources[dbs["workspace"]]["assignments"][0]
    assert assignment["sheet"]["criterion_comments"] == {"c1": "A: tiêu chí 1 tốt"}
    assert [c["comment"] for c in assignment["comments"]] == ["A bàn luận"]
    assert [d["_id"] for d in sources[dbs["workspace"]]["drafts"]] == [f"{RECUSED_FROM}|{EVALUATOR}"]
    assert [u["_id"] for u in sources[dbs["workspace"]]["used_links"]] == ["link-1"]

    deliveries = sources[dbs["notifications"]]["deliveries"]
    assert sorted(d["_id"] for d in deliveries) == [f"d-{EVALUATOR}-mail", f"d-{EVALUATOR}-reminder"]
    assert {d["address"] for d in deliveries} == {"cham@example.vn"}
    assert {d["status"] for d in deliveries} == {"sent", "failed"}
    assert sources[dbs["notifications"]]["staff"][0]["email"] == "cham@example.vn"
    assert sources[dbs["notifications"]]["nominations"][0]["panel"] == [EVALUATOR]
    assert [s["_id"] for s in sources[dbs["nominations"]]["staff"]] == [EVALUATOR]
    assert [d["_id"] for d in sources[dbs["evaluations"]]["loads"]] == [EVALUATOR]
    assert [r["period"] for r in sources[dbs["evaluations"]]["reviews"]] == ["2031-H2"]
    assert len(sources[dbs["evaluations"]]["notices"]) == 1

    # Nobody else's sheet, comment, total, address or even id is in it.
    for other in ("B-SECRET", "C-SECRET", OTHER, THIRD, "PX-FOURTH", "b-secret@example.vn"):
        assert other not in out, other
    assert "_rev" not in out
    held = {(i["database"], i["collection"]): i["documents"] for i in export["inventory"]}
    assert held[(dbs["evaluations"], "evaluations")] == 2 and held[(dbs["notifications"], "deliveries")] == 2
    assert held[(dbs["nominations"], "nominations")] == 0


async def test_the_nominee_gets_their_file_and_outcome_without_the_panels_opinions(stack, dbs, tmp_path):
    out_file = tmp_path / "nominee.json"
    db_flags = [arg for service in SERVICES for arg in (f"--{service}-db", dbs[service])]
    code, out, err = await person_export(NOMINEE, "--out", str(out_file), "--mongo-uri", stack.config.mongo_uri,
                                         *db_flags, env={k: v for k, v in os.environ.items() if "_MONGO_" not in k})
    assert code == 0, err
    assert out == ""  # the file has it, not the terminal
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    text = out_file.read_text(encoding="utf-8")
    sources = json.loads(text)["sources"]
    nomination = sources[dbs["nominations"]]["nominations"][0]
    assert nomination["_why"] == ["nominee"] and nomination["submission"]["nominee"]["staff_id"] == NOMINEE
    assert "submitter_id" not in nomination["submission"]
    assert [c["_id"] for c in sources[dbs["nominations"]]["nominee_claims"]] == [f"2031:staff:{NOMINEE}"]
    evaluation = sources[dbs["evaluations"]]["evaluations"][0]
    assert evaluation["_why"] == ["nominee"] and evaluation["result"]["outcome"] == "recognize"
    assert "evaluator_totals" not in evaluation["result"] and "comments" not in evaluation["discussion"]
    assert sources[dbs["evaluations"]]["exemplars"][0]["decision_ref"] == "QĐ-1/2031"
    assert "actor" not in sources[dbs["evaluations"]]["exemplars"][0]["decision_sender"]
    assert sources[dbs["workspace"]]["nominations"][0]["_why"] == ["nominee"]
    for other in ("B-SECRET", "A's own remark", "A bàn luận", EVALUATOR, OTHER, SUBMITTER, "PX-SECRETARY"):
        assert other not in text, other


async def test_the_submitter_gets_what_they_did_not_the_nominees_file(stack, dbs):
    code, out, err = await person_export(SUBMITTER, env=env_for(stack, dbs))
    assert code == 0, err
    sources = json.loads(out)["sources"]
    nomination = sources[dbs["nominations"]]["nominations"][0]
    assert nomination["_why"] == ["submitter"] and nomination["submitter_id"] == SUBMITTER
    assert nomination["submitted_at"] == at(0).isoformat()
    assert sources[dbs["evaluations"]]["evaluations"][0]["excluded_from_panel"] is True
    assert "Tóm tắt" not in out and NOMINEE not in out and "Kỹ sư" not in out


async def test_an_unknown_id_exits_3_in_both_languages(stack, dbs):
    code, out, err = await person_export(UNKNOWN, env=env_for(stack, dbs))
    assert code == 3, err
    assert out == ""
    assert UNKNOWN in err and "không có dữ liệu" in err and "nothing is held" in err
