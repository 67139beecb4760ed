"""Base classes for event payloads: strict types, tolerant of fields added later.

Every list, map, string, number and date of every payload is bounded here or where it is
declared, and each bound shows in the JSON schema of the AsyncAPI documents
(maxLength, maxItems, maxProperties, minimum/maximum; dates carry their range in
`formatMinimum`/`formatMaximum` and the description). The bounds keep every answer a
service derives far below the producer's 1 MiB limit (tests/unit/test_event_limits.py).
"""

import datetime as dt
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
    UrlConstraints,
    WithJsonSchema,
    field_validator,
)

# ---- limits ------------------------------------------------------------------------------
# One place for the numbers, so tests, documentation and services can quote them.

# A nomination file (hồ sơ) has four kinds of documents (shared.vocabulary.EvidenceKind)
# and a report lists a handful of achievements: thirty of each is far beyond any real file.
MAX_ACHIEVEMENTS = 30
MAX_EVIDENCE = 30
# A criteria set shares 100 points among its criteria (services/evaluations/criteria); the
# default set has 6 criteria and 3 gates. Twenty criteria would leave 5 points each.
MAX_CRITERIA = 20
MAX_GATES = 10
TOTAL_POINTS = 100.0  # the weights of a set sum to this: totals, weights and spreads stay below it
MAX_SCORE = 1000.0  # the highest maximum a criterion may have (the default set's is 30)
# The programme's panel has 3 evaluators (shared/programme.yaml); a council rarely has more
# than a dozen members.
MAX_PANEL = 15
# The most refusals one answer can give: a score sheet can fail every criterion of its set
# (MAX_CRITERIA) besides three sheet-level checks; a submission has nine checks in all.
MAX_REASONS = MAX_CRITERIA + 10
# Contributions to one evaluation's discussion: a panel of a few members over a few days.
MAX_COMMENTS = 200
# Corrections of one council decision: a typo in a reference or a level, a handful at most.
MAX_CORRECTIONS = 20
# The ministry has about 30 units and each province one department of the sector: no
# period of a model can see more units start applying it.
MAX_NEW_ADOPTERS = 100
# A collective is a team, a department or at most a whole unit: the sector's largest units
# have a few thousand staff.
MAX_MEMBERS = 100_000
# Per report: a period is at most a year, and a study visit a day is already a lot; a
# visiting delegation is a few dozen people, a conference-sized one a few thousand.
MAX_STUDY_VISITS = 1000
MAX_PARTICIPANTS = 10_000
MAX_REASON_MESSAGE = 1000
MAX_URL = 2048  # what browsers and servers reliably accept; checked on the re-encoded URL
MAX_EMAIL = 254  # RFC 5321: a forward-path holds at most 256 octets, "<" and ">" included
MAX_EVENT_ID = 128  # CloudEvents ids: UUIDs (36) or a sender's own, bounded like a header value
# Counts that grow over an exemplar's life (visits, adopting units) or come from
# configuration: any consumer can hold them in a 32-bit integer.
MAX_COUNT = 2**31 - 1
# The sector's oldest unit, the hydrometeorological service, dates from October 1945 and
# Year (below) ends with 2100: a date outside is a typo or a placeholder, never a fact.
FIRST_DAY = dt.date(1945, 1, 1)
LAST_DAY = dt.date(2100, 12, 31)
MAX_DAYS = (LAST_DAY - FIRST_DAY).days  # the longest span between two Days

# ---- types -------------------------------------------------------------------------------

_IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$"
# Identifiers come from many systems; keep them printable, bounded and free of the
# characters that would break keys, headers or Mongo field paths.
Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=_IDENTIFIER_PATTERN)
]
# An exemplar's id is "EX-" + its nomination's id (services/evaluations/domain.py) and must
# still be an Identifier: nomination ids are three characters shorter.
NominationId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=61, pattern=_IDENTIFIER_PATTERN)
]
TEXT_MAX, LONG_TEXT_MAX = 500, 10_000  # characters (forms check them before sending)
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=LONG_TEXT_MAX)]
Year = Annotated[int, Field(ge=2000, le=2100)]
Day = Annotated[
    dt.date,
    Field(ge=FIRST_DAY, le=LAST_DAY),
    # JSON Schema cannot bound a date: the range goes in ajv-formats' keywords and in words.
    WithJsonSchema({"type": "string", "format": "date", "formatMinimum": FIRST_DAY.isoformat(),
                    "formatMaximum": LAST_DAY.isoformat(),
                    "description": f"a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"}),
]


def _published_length(url: HttpUrl) -> HttpUrl:
    # pydantic measures the URL as sent, in UTF-8 bytes; published percent-encoded it can be
    # three times longer ("ệ": 3 bytes, "%E1%BB%87": 9). The limit holds for what is published.
    if len(str(url)) > MAX_URL:
        raise ValueError(f"URL should have at most {MAX_URL} characters once percent-encoded")
    return url


Url = Annotated[
    HttpUrl,
    UrlConstraints(max_length=MAX_URL),
    AfterValidator(_published_length),
    WithJsonSchema({"type": "string", "format": "uri", "minLength": 1, "maxLength": MAX_URL,
                    "description": f"an http(s) URL of at most {MAX_URL} characters once percent-encoded"}),
]
Email = Annotated[EmailStr, Field(max_length=MAX_EMAIL)]
# What a personal field reads once its person is erased (shared/personal.py): its key is gone.
ERASED = "đã xóa"
Erased = Literal["đã xóa"]
# A CloudEvents id as senders write it: any characters but control ones.
EventId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_EVENT_ID, pattern=r"^[^\x00-\x1F\x7F]+$")]
# A short event type, e.g. "nomination.submitted" (shared.events.BY_TYPE).
EventTypeName = Annotated[
    str, StringConstraints(min_length=3, max_length=64, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Days = Annotated[int, Field(ge=0, le=MAX_DAYS)]
# A score, an average or a criterion's maximum: finite (NaN would poison every mean).
Score = Annotated[float, Field(ge=0, le=MAX_SCORE, allow_inf_nan=False)]
# A total, a weight or a spread: a share of the set's 100 points.
Points = Annotated[float, Field(ge=0, le=TOTAL_POINTS, allow_inf_nan=False)]


class Payload(BaseModel):
    """The `data` of an event. Unknown fields are ignored so producers can add optional ones."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, use_enum_values=False, allow_inf_nan=False)

    # The short event type, e.g. "nomination.submitted"; set by each concrete class.
    event_type: ClassVar[str]


class Reason(BaseModel):
    """Why a request was refused: a stable machine code and a Vietnamese message.

    A message longer than 1000 characters is cut there, ending with "…".
    """

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    code: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Z][A-Z0-9_]*$")]
    message: Annotated[str, StringConstraints(max_length=MAX_REASON_MESSAGE)]

    @field_validator("message", mode="before")
    @classmethod
    def _shorten(cls, value: Any) -> Any:
        # Messages quote what a sender got wrong (every unknown criterion id, say): a refusal
        # must never fail for being too long, so it is cut rather than rejected.
        if isinstance(value, str) and len(value) > MAX_REASON_MESSAGE:
            return value[: MAX_REASON_MESSAGE - 1] + "…"
        return value
