"""The routing table: complete, consistent with the contracts, and strict about mistakes."""

import copy

import pytest
import yaml

from services.notifications.routing import (
    ROUTES_FILE,
    TEMPLATES_DIR,
    RoutingError,
    Scope,
    default_routes,
    parse_routes,
    routed_types,
)
from services.notifications.samples import sample_payloads
from shared.events import BY_TYPE
from shared.topics import BY_NAME, EVALUATIONS, NOMINATIONS
from shared.vocabulary import Role


@pytest.fixture()
def raw_table() -> dict:
    return yaml.safe_load(ROUTES_FILE.read_text(encoding="utf-8"))


def test_every_output_type_of_nominations_and_evaluations_has_a_route():
    expected = set(BY_NAME[NOMINATIONS].event_types) | set(BY_NAME[EVALUATIONS].event_types)
    assert len(expected) == 23
    assert routed_types() == expected
    assert set(default_routes()) == expected


QUIET = {"evaluation.score_recorded", "evaluation.comment_recorded"}  # shown in the workspace, not mailed


def test_every_route_but_the_quiet_ones_has_a_rule_with_recipients_and_an_existing_template():
    for event_type, route in default_routes().items():
        assert bool(route.rules) is (event_type not in QUIET), event_type
        for rule in route.rules:
            assert rule.to, event_type
            assert (TEMPLATES_DIR / f"{rule.template}.j2").is_file()


def test_the_samples_cover_every_route():
    assert set(sample_payloads()) == routed_types()


@pytest.mark.parametrize(
    ("event_type", "scopes"),
    [
        ("nomination.accepted", {(Scope.UNIT, (Role.EMULATION_OFFICER,)), (Scope.STAFF, ())}),
        ("nomination.rejected", {(Scope.UNIT, (Role.EMULATION_OFFICER,)), (Scope.STAFF, ())}),
        ("evaluation.panel_assigned", {(Scope.STAFF, ())}),
        ("evaluation.reminder", {(Scope.STAFF, ())}),
        ("evaluation.discussion_opened", {(Scope.STAFF, ())}),
        ("evaluation.overdue", {(Scope.STAFF, ())}),
        ("evaluation.completed", {(Scope.ROLE, (Role.MINISTRY_OFFICE,))}),
        ("exemplar.support_needed", {(Scope.UNIT, (Role.UNIT_LEADER,)), (Scope.ROLE, (Role.MINISTRY_OFFICE,))}),
        ("unit.quota_shortfall", {(Scope.UNIT, (Role.UNIT_LEADER, Role.EMULATION_OFFICER))}),
        ("exemplar.recognized", {(Scope.UNIT, (Role.UNIT_LEADER, Role.EMULATION_OFFICER)),
                                 (Scope.EVERY_UNIT, (Role.EMULATION_OFFICER,))}),
        ("exemplar.revoked", {(Scope.UNIT, (Role.UNIT_LEADER, Role.EMULATION_OFFICER)),
                              (Scope.TOLD_OF_RECOGNITION, ())}),
        ("exemplar.decision_corrected", {(Scope.UNIT, (Role.UNIT_LEADER, Role.EMULATION_OFFICER))}),
    ],
)
def test_routes_follow_the_design(event_type, scopes):
    route = default_routes()[event_type]
    assert {(s.scope, s.roles) for rule in route.rules for s in rule.to} == scopes


def test_staff_selectors_name_the_person_concerned():
    routes = default_routes()
    fields = {t: {s.field for r in routes[t].rules for s in r.to if s.scope is Scope.STAFF} for t in routes}
    assert fields["nomination.accepted"] == {"submitter_id"}
    assert fields["evaluation.panel_assigned"] == {"evaluators"}
    assert fields["evaluation.evaluator_replaced"] == {"replacement_id", "recused_id"}
    assert fields["evaluation.reminder"] == fields["evaluation.overdue"] == {"evaluator_id"}
    assert fields["evaluation.discussion_opened"] == {"evaluators"}


def test_only_the_broadcasts_of_a_recognition_and_its_revocation_are_paced():
    paced = {t for t, route in default_routes().items() for rule in route.rules if rule.publicity}
    assert paced == {"exemplar.recognized", "exemplar.revoked"}


def test_unknown_payload_field_is_refused(raw_table):
    table = copy.deepcopy(raw_table)
    table["evaluation.reminder"][0]["to"][0]["field"] = "evaluator"
    with pytest.raises(RoutingError, match="no field 'evaluator'"):
        parse_routes(table)


def test_missing_route_is_refused(raw_table):
    table = copy.deepcopy(raw_table)
    del table["exemplar.replicated"]
    with pytest.raises(RoutingError, match="exemplar.replicated: no route"):
        parse_routes(table)


def test_missing_template_and_unknown_type_are_refused(raw_table):
    table = copy.deepcopy(raw_table)
    table["evaluation.completed"][0]["template"] = "does_not_exist"
    table["evaluation.finished"] = table["evaluation.completed"]
    with pytest.raises(RoutingError) as excinfo:
        parse_routes(table)
    assert "template 'does_not_exist' not found" in str(excinfo.value)
    assert "evaluation.finished: unknown event type" in str(excinfo.value)


def test_selector_shape_is_checked(raw_table):
    table = copy.deepcopy(raw_table)
    table["evaluation.completed"][0]["to"] = [{"scope": "role"}]  # a role scope without roles
    with pytest.raises(RoutingError, match="evaluation.completed"):
        parse_routes(table)
    table["evaluation.completed"][0]["to"] = [{"scope": "role", "roles": ["minister"]}]
    with pytest.raises(RoutingError):
        parse_routes(table)


def test_when_condition_selects_rules():
    route = default_routes()["evaluation.evaluator_replaced"]
    payload = sample_payloads()["evaluation.evaluator_replaced"]
    unreplaced = payload.model_copy(update={"replacement_id": None})
    by_template = {rule.template: rule for rule in route.rules}
    assert not by_template["evaluator_unreplaced"].applies(payload)
    assert by_template["evaluator_unreplaced"].applies(unreplaced)
    assert by_template["evaluator_recused"].applies(payload)


def test_routed_types_are_known_contracts():
    assert routed_types() <= set(BY_TYPE)
