"""Base classes for event payloads: strict types, tolerant of fields added later."""

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Identifiers come from many systems; keep them printable, bounded and free of the
# characters that would break keys, headers or Mongo field paths.
Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
]
# An exemplar's id is "EX-" + its nomination's id (services/evaluations/domain.py) and must
# still be an Identifier: nomination ids are three characters shorter.
NominationId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=61, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10_000)]
Year = Annotated[int, Field(ge=2000, le=2100)]


class Payload(BaseModel):
    """The `data` of an event. Unknown fields are ignored so producers can add optional ones."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, use_enum_values=False)

    # The short event type, e.g. "nomination.submitted"; set by each concrete class.
    event_type: ClassVar[str]


class Reason(BaseModel):
    """Why a request was refused: a stable machine code and a Vietnamese message."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    code: str
    message: str
