"""The status command's pure parts, and its reading of the evaluations read endpoint."""

import datetime as dt
import json

import httpx

from deploy.ops import status as st

TODAY = dt.date(2024, 5, 10)


def sample() -> st.Status:
    lag = [st.Lag("nominations", "nominations.intake", "exemplars.nominations.intake", 10, 14, 4,
                  {0: {"committed": 10, "end": 14, "lag": 4}}),
           st.Lag("notifications", "notifications.directory", "exemplars.directory", 9, 9, 0)]
    dead = [st.DeadLetterCount("exemplars.nominations.intake.dlq", 3, 1, {"undecodable": 2, "unexpected_type": 1}),
            st.DeadLetterCount("exemplars.directory.dlq", 0, 0)]
    overdue = st.OverdueReport("http://x/evaluations", TODAY.isoformat(), [
        st.Overdue("NOM-1", "QLDD", 2024, "open", "2024-05-01", 9, ["E-1", "E-2"], "Số hóa"),
        st.Overdue("NOM-2", "VT", 2024, "panel_incomplete", "2024-05-08", 2, None)])
    return st.Status(lag, dead, overdue)


def test_the_table_shows_lag_dead_letters_and_overdue_evaluations():
    lines = st.render(sample()).splitlines()
    assert lines[0] == "Consumer lag (total 4)"
    assert lines[1].split() == ["SERVICE", "GROUP", "TOPIC", "COMMITTED", "END", "LAG"]
    assert lines[3].split() == ["nominations", "nominations.intake", "exemplars.nominations.intake", "10", "14", "4"]
    text = "\n".join(lines)
    assert "Dead letters (total 3)" in text
    assert "exemplars.nominations.intake.dlq  3      1         undecodable 2, unexpected_type 1" in text
    assert "today 2024-05-10 (from http://x/evaluations): 2" in text
    row = next(line for line in lines if line.startswith("NOM-1"))
    assert row.split()[:6] == ["NOM-1", "QLDD", "2024", "open", "2024-05-01", "9"] and row.endswith("E-1, E-2")
    assert next(line for line in lines if line.startswith("NOM-2")).endswith("?")  # not known, not "nobody"


def test_unavailable_sources_and_empty_lists_say_so():
    status = sample()
    status.overdue = st.OverdueReport("mongodb x", TODAY.isoformat(), error="ServerSelectionTimeoutError: down")
    assert "  unavailable: ServerSelectionTimeoutError: down" in st.render(status)
    status.overdue = st.OverdueReport("mongodb x", TODAY.isoformat())
    assert st.render(status).endswith("  none")


def test_json_carries_everything():
    data = json.loads(json.dumps(sample().to_json()))
    assert data["lag"][0]["partitions"] == {"0": {"committed": 10, "end": 14, "lag": 4}}
    assert data["dead_letters"][0]["reasons"] == {"undecodable": 2, "unexpected_type": 1}
    assert data["overdue"]["items"][0]["pending"] == ["E-1", "E-2"] and data["overdue"]["today"] == "2024-05-10"


def test_past_the_deadline_means_after_its_day():
    assert st.days_overdue(TODAY, TODAY) == 0
    assert st.days_overdue(dt.date(2024, 5, 9), TODAY) == 1


def evaluations_api(docs: list[dict]) -> httpx.MockTransport:
    """The evaluations read endpoint's two routes, paged as the service pages them."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/evaluations":
            status, limit = request.url.params["status"], int(request.url.params["limit"])
            offset = int(request.url.params["offset"])
            listed = [{k: v for k, v in d.items() if k != "scored"} for d in docs if d["status"] == status]
            return httpx.Response(200, json=listed[offset:offset + limit])
        doc = next((d for d in docs if request.url.path == f"/evaluations/{d['nomination_id']}"), None)
        if doc is None:
            return httpx.Response(404, json={"detail": "no"})
        panel = [{"evaluator_id": e, "scored": e in doc["scored"]} for e in doc["panel"]]
        return httpx.Response(200, json={**doc, "panel": panel})
    return httpx.MockTransport(handler)


def doc(nid: str, status: str, deadline: str | None, scored=()) -> dict:
    return {"nomination_id": nid, "status": status, "unit_id": "QLDD", "year": 2024, "deadline": deadline,
            "title": "Mô hình", "panel": ["E-1", "E-2", "E-3"], "scored": list(scored)}


async def test_overdue_evaluations_from_the_read_endpoint(monkeypatch):
    monkeypatch.setattr(st, "PAGE", 2)  # several pages
    docs = [doc("N-late", "open", "2024-05-01", scored=["E-2"]), doc("N-today", "open", "2024-05-10"),
            doc("N-later", "open", "2024-06-01"), doc("N-none", "open", None),
            doc("N-late2", "open", "2024-04-01"), doc("N-inc", "panel_incomplete", "2024-05-09"),
            doc("N-done", "completed", "2024-01-01")]
    report = await st.overdue_from_http("http://evaluations", TODAY, transport=evaluations_api(docs))
    assert report.error is None and report.source == "http://evaluations/evaluations"
    assert [(o.nomination_id, o.days_overdue) for o in report.items] == [("N-late2", 39), ("N-late", 9), ("N-inc", 1)]
    assert report.items[1].pending == ["E-1", "E-3"] and report.items[2].status == "panel_incomplete"


async def test_an_unreachable_endpoint_is_reported_not_raised():
    def down(request):
        raise httpx.ConnectError("refused")
    report = await st.overdue_from_http("http://evaluations", TODAY, transport=httpx.MockTransport(down))
    assert report.items == [] and report.error.startswith("ConnectError")
