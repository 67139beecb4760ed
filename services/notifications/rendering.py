"""Rendering the Vietnamese templates: subject, plain text and HTML from one source per route.

Each route template (templates/<name>.j2) fills the blocks `subject`, `summary` (what
happened), `facts` ("Nhãn: giá trị" lines), `action` (what to do) and `deadline` (by when)
and extends a layout chosen at render time, so the text and HTML parts can never drift
apart. The HTML environment autoescapes everything that comes from an event; every string
from an event is cleaned of control and bidi-override characters before it reaches a
template, and the subject is forced onto one line, so no name or summary can inject a
header, a fake line or markup.
"""

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cache
from types import SimpleNamespace
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from markupsafe import Markup
from pydantic import BaseModel

from services.notifications.routing import TEMPLATE_SUFFIX, TEMPLATES_DIR
from shared.vocabulary import (
    FIELD_NAMES_VI,
    GROUND_NAMES_VI,
    LEVEL_NAMES_VI,
    NOMINEE_KIND_NAMES_VI,
    OUTCOME_NAMES_VI,
    ROLE_NAMES_VI,
    TREND_NAMES_VI,
)

SUBJECT_MAX = 200  # characters; long titles are cut with an ellipsis

INPUT_TYPE_NAMES_VI = {
    "evaluation.score_submitted": "phiếu chấm điểm",
    "evaluation.conflict_declared": "khai báo xung đột lợi ích",
    "council.decision_recorded": "quyết định của Hội đồng",
    "council.revocation_recorded": "quyết định thu hồi danh hiệu",
    "council.correction_recorded": "quyết định đính chính",
    "exemplar.review_reported": "báo cáo kiểm tra định kỳ",
    "exemplar.replication_reported": "báo cáo nhân rộng mô hình",
    "exemplar.visit_reported": "báo cáo tham quan, học tập",
}
_NAMES_VI: dict[Any, str] = {
    **FIELD_NAMES_VI, **NOMINEE_KIND_NAMES_VI, **ROLE_NAMES_VI, **OUTCOME_NAMES_VI,
    **LEVEL_NAMES_VI, **TREND_NAMES_VI, **GROUND_NAMES_VI,
}  # fmt: skip

# C0/C1 controls except tab and newline, zero-width and bidi-override characters: they can
# split headers, hide text or reverse what a reader sees.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
# Everything str.splitlines() treats as a line break.
_NEWLINES = re.compile(r"\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def clean_text(value: str) -> str:
    """NFC (decomposed Vietnamese diacritics look broken in some clients), `\\n` newlines only,
    no control or bidi characters."""
    value = unicodedata.normalize("NFC", value)
    return _UNSAFE.sub("", _NEWLINES.sub("\n", value))


def one_line(value: str, limit: int | None = None) -> str:
    """Every run of whitespace (any line break included) becomes one space."""
    text = " ".join(clean_text(str(value)).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def sanitize(value: Any) -> Any:
    """Payloads and context as attribute-accessible data with every string cleaned."""
    if isinstance(value, Enum):
        return value  # our own codes; templates translate them with the `vi` filter
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, BaseModel):
        return SimpleNamespace(**{name: sanitize(getattr(value, name)) for name in type(value).model_fields})
    if isinstance(value, Mapping):
        return {sanitize(key): sanitize(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [sanitize(item) for item in value]
    if isinstance(value, SimpleNamespace):
        return SimpleNamespace(**{key: sanitize(item) for key, item in vars(value).items()})
    return value


# ---- filters ---------------------------------------------------------------------------------


def vi_date(value: dt.date | dt.datetime | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def vi_number(value: float | int | None) -> str:
    """72.5 -> "72,5"; 70.0 -> "70" (Vietnamese decimal comma)."""
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").replace(".", ",")


def vi_name(value: Any) -> str:
    if value in _NAMES_VI:
        return _NAMES_VI[value]
    return INPUT_TYPE_NAMES_VI.get(value, str(value))


@pass_context
def display_name(context, identifier: str | None) -> str:
    """A staff or unit id as the name the directory knows, else the id itself."""
    if not identifier:
        return ""
    return context.get("names", {}).get(identifier, identifier)


def paragraphs(value: str) -> Markup:
    """HTML: blank-line separated blocks become <p>, single newlines <br>. The input is the
    already-escaped output of a block, so the tags added here are the only markup."""
    text = value if isinstance(value, Markup) else Markup.escape(value)
    blocks = [block.strip() for block in re.split(r"\n\s*\n", str(text)) if block.strip()]
    return Markup("\n").join(Markup("<p>{}</p>").format(Markup("<br>\n").join(Markup(b).splitlines()))
                             for b in blocks)


def fact_rows(value: str) -> list[tuple[str, str]]:
    rows = []
    for line in value.splitlines():
        if line.strip():
            label, sep, item = line.partition(": ")
            rows.append((label.strip(), item.strip()) if sep else ("", line.strip()))
    return rows


def _environment(html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=html,
        undefined=StrictUndefined,  # a misspelt variable fails the tests, not a recipient
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(ngay=vi_date, so=vi_number, vi=vi_name, ten=display_name, mot_dong=one_line,
                       paragraphs=paragraphs, fact_rows=fact_rows)
    return env


@cache
def _environments() -> tuple[Environment, Environment]:
    return _environment(html=False), _environment(html=True)


def render(template: str, context: Mapping[str, Any]) -> Rendered:
    """Render route template `template` with `context` (payload as `d`, `recipient`, `names`...)."""
    text_env, html_env = _environments()
    name = template + TEMPLATE_SUFFIX
    values = sanitize(dict(context))
    text_template = text_env.get_template(name)
    subject = _subject(text_template, values)
    text = text_template.render(values, layout="_layout.txt.j2", subject=subject)
    html = html_env.get_template(name).render(values, layout="_layout.html.j2", subject=subject)
    return Rendered(subject=subject, text=_tidy(text), html=html.strip() + "\n")


def render_subject(template: str, context: Mapping[str, Any]) -> str:
    """The subject `render` gives, alone (a rebuild stores a sent mail's subject, not its body)."""
    return _subject(_environments()[0].get_template(template + TEMPLATE_SUFFIX), sanitize(dict(context)))


def _subject(text_template, values: Mapping[str, Any]) -> str:
    return one_line("".join(text_template.blocks["subject"](text_template.new_context(values))), SUBJECT_MAX)


def _tidy(text: str) -> str:
    """At most one blank line in a row, whatever blocks were left empty."""
    return re.sub(r"\n{3,}", "\n\n", text.strip()) + "\n"
