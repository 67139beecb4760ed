"""The routing table (routes.yaml) as validated data: event type -> rules -> selectors.

The table is checked when it is loaded, so a typo in a field or template name stops the
service at start-up instead of silently telling nobody.
"""

from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from shared.events import BY_TYPE, Payload
from shared.topics import BY_NAME, EVALUATIONS, NOMINATIONS
from shared.vocabulary import Role

HERE = Path(__file__).parent
ROUTES_FILE = HERE / "routes.yaml"
TEMPLATES_DIR = HERE / "templates"
TEMPLATE_SUFFIX = ".j2"


class RoutingError(ValueError):
    """The routing table is inconsistent with the event contracts or the templates."""


class Scope(StrEnum):
    UNIT = "unit"
    STAFF = "staff"
    PANEL = "panel"
    ROLE = "role"
    EVERY_UNIT = "every_unit"
    # Everyone the nomination's recognition was planned to reach (its own deliveries), as
    # they are in the directory now: a revocation is told to the recognition's audience.
    TOLD_OF_RECOGNITION = "told_of_recognition"


class Selector(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Scope
    roles: tuple[Role, ...] = ()
    field: str | None = None
    contact: bool = False  # unit scope: the unit's own mailbox / webhook too

    @model_validator(mode="after")
    def _consistent(self) -> "Selector":
        if self.scope is Scope.STAFF and not self.field:
            raise ValueError("a staff selector names the payload field holding the staff id")
        if self.scope in (Scope.ROLE, Scope.EVERY_UNIT) and not self.roles:
            raise ValueError(f"a {self.scope} selector needs roles")
        if self.scope is Scope.UNIT and not (self.roles or self.contact):
            raise ValueError("a unit selector needs roles or contact: true")
        if self.contact and self.scope is not Scope.UNIT:
            raise ValueError("contact applies to unit selectors only")
        return self

    @property
    def unit_field(self) -> str:
        return self.field or "unit_id"


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str
    to: tuple[Selector, ...]
    when: dict[str, Any] = {}
    publicity: bool = False  # paced: a broadcast must not flood the mail server

    def applies(self, payload: Payload) -> bool:
        return all(getattr(payload, name, None) == value for name, value in self.when.items())


class Route(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_type: str
    rules: tuple[Rule, ...]

    @property
    def templates(self) -> set[str]:
        return {rule.template for rule in self.rules}


def routed_types() -> set[str]:
    """The event types that must have a route: every output of nominations and evaluations."""
    return set(BY_NAME[NOMINATIONS].event_types) | set(BY_NAME[EVALUATIONS].event_types)


def parse_routes(raw: Any, templates_dir: Path = TEMPLATES_DIR) -> dict[str, Route]:
    """Validate a loaded YAML mapping against the payload models and the template folder."""
    if not isinstance(raw, dict):
        raise RoutingError("the routing table must map event types to lists of rules")
    routes: dict[str, Route] = {}
    problems: list[str] = []
    for event_type, rules in raw.items():
        model = BY_TYPE.get(event_type)
        if model is None:
            problems.append(f"{event_type}: unknown event type")
            continue
        try:
            route = Route(event_type=event_type, rules=rules)
        except ValidationError as exc:
            problems.append(f"{event_type}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
            continue
        problems.extend(_check_route(route, model, templates_dir))
        routes[event_type] = route
    missing = routed_types() - routes.keys()
    problems.extend(f"{name}: no route" for name in sorted(missing))
    if problems:
        raise RoutingError("routing table: " + "; ".join(problems))
    return routes


def _check_route(route: Route, model: type[Payload], templates_dir: Path) -> list[str]:
    fields = model.model_fields
    problems = []
    for rule in route.rules:
        if not (templates_dir / f"{rule.template}{TEMPLATE_SUFFIX}").is_file():
            problems.append(f"{route.event_type}: template {rule.template!r} not found")
        problems.extend(f"{route.event_type}: when names unknown field {name!r}"
                        for name in rule.when if name not in fields)
        for selector in rule.to:
            if selector.scope is Scope.STAFF and selector.field not in fields:
                problems.append(f"{route.event_type}: no field {selector.field!r} for staff")
            if selector.scope is Scope.UNIT and selector.unit_field not in fields:
                problems.append(f"{route.event_type}: no field {selector.unit_field!r} for unit")
            if selector.scope in (Scope.PANEL, Scope.TOLD_OF_RECOGNITION) and "nomination_id" not in fields:
                problems.append(f"{route.event_type}: {selector.scope} scope needs nomination_id")
    return problems


def load_routes(path: Path = ROUTES_FILE, templates_dir: Path = TEMPLATES_DIR) -> dict[str, Route]:
    with path.open(encoding="utf-8") as handle:
        return parse_routes(yaml.safe_load(handle), templates_dir)


@cache
def default_routes() -> dict[str, Route]:
    return load_routes()
