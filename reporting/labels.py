"""What the reader sees: Vietnamese names of codes, and numbers and dates written the Vietnamese way."""

import datetime as dt
import unicodedata

from shared.vocabulary import (
    FIELD_NAMES_VI,
    GROUND_NAMES_VI,
    LEVEL_NAMES_VI,
    OUTCOME_NAMES_VI,
    TREND_NAMES_VI,
    Field,
)

REFUSALS_VI = {
    "UNIT_NOT_REGISTERED": "Đơn vị chưa có trong danh mục đơn vị của ngành",
    "UNIT_NOT_ACTIVE": "Đơn vị không có hiệu lực trong năm đề cử",
    "YEAR_NOT_OPEN": "Năm không mở đề cử",
    "FIELD_UNKNOWN": "Lĩnh vực không thuộc ngành",
    "SUBMITTER_NOT_IN_UNIT": "Người gửi không thuộc đơn vị",
    "NOMINEE_NOT_IN_UNIT": "Cá nhân được đề cử không thuộc đơn vị",
    "NOMINEE_ALREADY_NOMINATED": "Đối tượng đã được đề cử trong năm",
    "QUOTA_EXCEEDED": "Vượt số đề cử tối đa của đơn vị trong năm",
    "NOMINATION_ID_REUSED": "Trùng mã đề cử đang có hiệu lực",
}
# The shared vocabulary's names (the notifications say the same), keyed by the plain codes the data carries.
LEVELS_INLINE_VI = {level.value: name for level, name in LEVEL_NAMES_VI.items()}  # inside a sentence or header
LEVELS_VI = {code: name[0].upper() + name[1:] for code, name in LEVELS_INLINE_VI.items()}
TRENDS_VI = {trend.value: name for trend, name in TREND_NAMES_VI.items()}
OUTCOMES_SHORT_VI = {outcome.value: name for outcome, name in OUTCOME_NAMES_VI.items()}
GROUNDS_VI = {ground.value: name[0].upper() + name[1:] for ground, name in GROUND_NAMES_VI.items()}  # in a cell


def outcome_vi(outcome: str, recognize_from: float = 70, foster_from: float = 50) -> str:
    """The band's name with its thresholds, as the report's notes explain them."""
    top, low = _points(recognize_from), _points(foster_from)
    ranges = {"recognize": f"từ {top} điểm", "foster": f"{low}–dưới {top} điểm",
              "not_recognized": f"dưới {low} điểm hoặc không đạt điều kiện bắt buộc"}
    return f"{OUTCOMES_SHORT_VI.get(outcome, outcome)} ({ranges[outcome]})" if outcome in ranges else outcome


def _points(value: float) -> str:
    return number(int(value)) if float(value).is_integer() else number(value)


def field_vi(code: str) -> str:
    try:
        return FIELD_NAMES_VI[Field(code)]
    except ValueError:
        return f"Không thuộc ngành ({code})"


def ground_vi(code: str) -> str:
    """The legal ground of a revocation; an unknown code is shown as it is rather than hidden."""
    return GROUNDS_VI.get(code, code)


def refusal_vi(code: str) -> str:
    return REFUSALS_VI.get(code, code)


def sort_key(text: str) -> str:
    """Alphabetical the way a Vietnamese reader expects, near enough: accents after the letter."""
    base = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    return base.replace("đ", "d~").replace("Đ", "D~").casefold()


def number(value: float | None, decimals: int = 1) -> str:
    """1.234 for thousands and 72,5 for decimals, as Vietnamese documents write them."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if isinstance(value, int) or float(value).is_integer() and decimals == 0:
        return f"{int(value):,}".replace(",", ".")
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


def duration(days: float | None) -> str:
    """A span a reader grasps: minutes or hours when it is short (a demo), days otherwise."""
    if days is None:
        return "–"
    if days < 1 / 24:
        return f"{max(round(days * 1440), 1)} phút"
    if days < 1:
        return f"{number(days * 24)} giờ"
    return f"{number(days)} ngày"


def date(value: dt.date | dt.datetime | None) -> str:
    return value.strftime("%d/%m/%Y") if value else "–"


VIETNAM = dt.timezone(dt.timedelta(hours=7), "ICT")  # no daylight saving


def moment(value: dt.datetime) -> str:
    return value.astimezone(VIETNAM).strftime("%H:%M ngày %d/%m/%Y (giờ Việt Nam)")
