"""The AsyncAPI documents in docs/asyncapi/ and the README's event catalogue agree with the code."""

import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from deploy import docs
from shared import asyncapi
from shared.events import BY_TYPE
from shared.topics import BY_NAME, TOPICS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# Which service writes which topic (the design's table): its document must send exactly these types.
WRITERS = {"nominations": "exemplars.nominations", "evaluations": "exemplars.evaluations",
           "notifications": "exemplars.notifications"}


@pytest.fixture(scope="module")
def generated() -> dict[str, dict]:
    return {name: json.loads(text) for name, text in docs.documents().items()}


def test_committed_documents_match_the_code():
    stale = docs.stale()
    assert not stale, f"docs/asyncapi is out of date for {stale}: run `make docs` and commit the result"


@pytest.mark.parametrize("service", WRITERS)
def test_every_reference_resolves(generated, service):
    doc = generated[service]
    for ref in asyncapi._refs(doc):  # the same walk the generator prunes with
        node = doc
        for part in ref.removeprefix("#/").split("/"):
            key = unquote(part).replace("~1", "/").replace("~0", "~")
            assert key in node, f"{service}: {ref} does not resolve"
            node = node[key]


@pytest.mark.parametrize("service", WRITERS)
def test_one_message_per_event_type_with_its_schema_and_ce_type(generated, service):
    doc = generated[service]
    messages = doc["components"]["messages"]
    for name, message in messages.items():
        if name == "dead_letter":
            continue
        model = BY_TYPE[name]
        assert message["payload"] == {"$ref": f"#/components/schemas/{model.__name__}"}
        assert set(doc["components"]["schemas"][model.__name__]["properties"]) == set(model.model_fields)
        assert message["headers"]["properties"]["ce_type"]["const"].endswith(f".{name}.v1")
    sends = [op for op in doc["operations"].values() if op["action"] == "send"]
    channels = {doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[1]]["address"]: op for op in sends}
    out = channels[WRITERS[service]]
    sent = [ref["$ref"].rsplit("/", 1)[1] for ref in out["messages"]]
    assert sent == list(BY_NAME[WRITERS[service]].event_types)
    for topic, operation in channels.items():
        if topic.endswith(".dlq"):
            assert [ref["$ref"].rsplit("/", 1)[1] for ref in operation["messages"]] == ["dead_letter"]


def test_the_workspace_sends_only_what_people_do_to_the_intakes(generated):
    doc = generated["workspace"]
    for ref in asyncapi._refs(doc):
        node = doc
        for part in ref.removeprefix("#/").split("/"):
            node = node[unquote(part)]
    sends = {doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[1]]["address"]:
             [ref["$ref"].rsplit("/", 1)[1] for ref in op["messages"]]
             for op in doc["operations"].values() if op["action"] == "send" and "messages" in op}
    assert sends["exemplars.evaluations.intake"] == [
        "evaluation.score_submitted", "evaluation.conflict_declared", "evaluation.comment_posted",
        "council.decision_recorded", "exemplar.review_reported", "exemplar.replication_reported",
        "exemplar.visit_reported"]
    assert sends["exemplars.nominations.intake"] == ["nomination.submitted", "nomination.withdrawn"]
    assert "evaluation.discussion_time_up" not in str(sends)  # the evaluations service's own clock only


def test_every_event_type_is_in_some_document(generated):
    documented = {name for doc in generated.values() for name in doc["components"]["messages"]}
    assert documented - {"dead_letter"} == set(BY_TYPE)


def test_the_html_page_names_every_message_and_needs_nothing_from_outside(generated):
    page = asyncapi.to_html(generated["nominations"])
    for name in generated["nominations"]["components"]["messages"]:
        assert f'id="message-{name}"' in page
    assert "<script" not in page and not re.search(r"(src|href)=\"https?:", page)


# ---- the README's catalogue -----------------------------------------------------------------


def readme_catalogue() -> dict[str, set[str]]:
    """Topic -> event types, from the table under '### Event catalogue'."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("### Event catalogue")
    rows: dict[str, set[str]] = {}
    in_table = False
    for line in lines[start + 1:]:
        if line.startswith("|"):
            in_table = True
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            topic = re.fullmatch(r"`([^`]+)`", cells[0])
            if topic and len(cells) > 1:
                rows[topic.group(1)] = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", cells[1]))
        elif in_table:
            break
    assert rows, "no event catalogue table found in README.md"
    return rows


def test_readme_catalogue_lists_every_topic_with_exactly_its_event_types():
    catalogue = readme_catalogue()
    for spec in TOPICS:
        assert spec.name in catalogue, f"README's catalogue has no row for {spec.name}"
        assert catalogue[spec.name] == set(spec.event_types), (
            f"{spec.name}: README lists {sorted(catalogue[spec.name])}, the code {sorted(spec.event_types)}"
        )


def test_readme_catalogue_and_the_event_registry_name_the_same_types():
    listed = set().union(*readme_catalogue().values())
    assert listed == set(BY_TYPE), (
        f"missing from README: {sorted(set(BY_TYPE) - listed)}; unknown to the code: {sorted(listed - set(BY_TYPE))}"
    )
