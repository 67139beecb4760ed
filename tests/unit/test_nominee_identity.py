"""Who counts as the same collective nominee: look-alikes join, Vietnamese names stay apart."""

import itertools
import unicodedata

import pytest

from deploy.demo_data import MODELS, StaffMember, submission
from services.nominations import domain, identity
from services.nominations.identity import collective_identity

OFFICER = StaffMember("U1-02", "U1", "Nguyễn Văn An", (), ())
PLAIN = "Phòng Tài nguyên nước"


def key(name: str, unit_id: str = "U1") -> str:
    return domain.nominee_key(submission("N1", OFFICER, 2024, MODELS[0], team=name, unit_id=unit_id))


@pytest.mark.parametrize("disguised", [
    "Phòng Tài ngu\u200byên nước",  # zero-width space inside a word
    "\u0420hòng Tài nguyên nước",  # Cyrillic capital Р for Latin P
    "\uff30hòng Tài nguyên nước",  # full-width Ｐ
], ids=["zero-width-space", "cyrillic-er", "full-width-p"])
def test_the_three_tricks_give_the_plain_key(disguised):
    assert key(disguised) == key(PLAIN)


@pytest.mark.parametrize("disguised", [
    "Phòng Tài ngu\u00adyên nước",  # soft hyphen
    "\ufeffPhòng Tài nguyên nước",  # byte order mark in front
    "Phòng T\u200dài ng\u200cuyên nước",  # zero-width joiner and non-joiner
    "Phòng Tài nguyên\u2060 nước",  # word joiner
    "Phòng Tài nguyên nước\ufe0f",  # variation selector
    "Phòng Tài ngu\u034fyên nước",  # combining grapheme joiner
    "Phòng Tài nguyên n\u202eước",  # right-to-left override
    "Phòng Tài\x07 nguyên nước",  # a control character
    "Phòng\u00a0Tài\u3000nguyên\tnước\n",  # no-break, ideographic space, tab, newline
    "PHÒNG TÀI NGUYÊN NƯỚC",
    "Phòng Tài nguyên Nước",
    "\U0001d40fhòng Tài nguyên nước",  # mathematical bold P
    "Ph\u043e\u0300ng Tài nguyên nước",  # Cyrillic о carrying the grave
    "Phòng Tài nguy\u0435\u0302n nước",  # Cyrillic е carrying the circumflex
    "Phòng Tài nguyên nước".replace("ò", "o\u0340"),  # the Vietnamese grave tone mark U+0340
])
def test_invisible_case_and_look_alike_differences_are_ignored(disguised):
    assert key(disguised) == key(PLAIN)


def test_soft_hyphen_and_bom_are_removed():
    assert collective_identity("Tổ\u00ad Đo đạc\ufeff") == collective_identity("Tổ Đo đạc")
    assert "\u00ad" not in key("Tổ\u00ad Đo") and "\ufeff" not in key("\ufeffTổ Đo")


def test_nfc_and_nfd_input_are_the_same_nominee():
    for name in ("Phòng Tài nguyên nước", "Tổ Đo đạc bản đồ", "Đội Kiểm soát ô nhiễm", "Lê Thị Hạ"):
        assert key(unicodedata.normalize("NFD", name)) == key(unicodedata.normalize("NFC", name))
    # The order in which the two marks of "ệ" were typed does not matter either.
    assert collective_identity("Le\u0302\u0323") == collective_identity("Le\u0323\u0302") == collective_identity("Lệ")


@pytest.mark.parametrize(("a", "b"), [
    ("Tổ Đo đạc", "Tổ Do đạc"),
    ("Tổ Đo đạc", "Tổ Đo dạc"),
    ("Nguyễn Văn An", "Nguyễn Văn Ân"),
    ("Lê Thị Hà", "Lê Thị Hạ"),
    ("Lê Thị Hà", "Lệ Thị Hà"),
    ("Phòng Kỹ thuật 1", "Phòng Kỹ thuật 2"),
    ("Đội Thanh tra số 3", "Đội Thanh tra số 8"),
    ("Tổ Mơ", "Tổ Mờ"),
    ("Tổ Mơ", "Tổ Mo"),
    ("Phòng Ứng dụng", "Phòng Ưng dụng"),
    ("Trạm Quan trắc Hồ Tây", "Trạm Quan trắc Hổ Tây"),
    ("Tổ Bản đồ", "Tổ Bàn đồ"),
    ("Phòng Tài nguyên nước", "Phong Tai nguyen nuoc"),
    ("Trung tâm Dữ liệu", "Trung tâm Dự liệu"),
    ("Tổ Ăn", "Tổ Ấn"),
])
def test_names_that_differ_for_a_vietnamese_reader_stay_apart(a, b):
    assert key(a) != key(b)


def _vietnamese_letters() -> list[str]:
    vowels = "aăâeêioôơuưy"
    tones = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
    syllables = [unicodedata.normalize("NFC", v + t) for v, t in itertools.product(vowels, tones)]
    return syllables + list("bcdđghklmnpqrstvx")


def test_every_vietnamese_letter_keeps_its_own_identity():
    letters = _vietnamese_letters()
    assert len(letters) == 12 * 6 + 17
    for case in (str.lower, str.upper):
        keys = {collective_identity(f"Tổ {case(letter)}n") for letter in letters}
        assert len(keys) == len(letters)


def test_no_table_entry_rewrites_a_vietnamese_mark():
    assert not {ord(mark) for mark in identity._VIETNAMESE_MARKS} & identity._prototypes().keys()


def test_a_capital_d_drawn_like_dj_is_dj():
    # Ð (eth) and Ɖ (African D) look exactly like Đ; legacy Vietnamese encodings produce Ð.
    assert key("Tổ \u00d0o đạc") == key("Tổ \u0189o đạc") == key("Tổ Đo đạc") == key("TỔ ĐO ĐẠC")
    assert key("Tổ \u00d0o đạc") != key("Tổ Do đạc")
    # A d with a typed stroke overlay is what TR39 takes đ for.
    assert key("Tổ d\u0335o đạc") == key("Tổ Đo đạc")


def test_digits_and_letters_drawn_alike_are_one_nominee():
    # TR39 prototypes: 0 → O and 1 → l; the second fold makes "O" meet "o".
    assert key("Đội 10") == key("Đội lO") == key("Đội lo")
    assert key("Đội 10") != key("Đội 11")


def test_the_key_keeps_its_shape_and_stays_readable():
    assert key("  Phòng  Tài nguyên NƯỚC ") == "collective:U1:phòng tài nguyên nước"
    assert key(PLAIN, unit_id="U2") == "collective:U2:phòng tài nguyên nước"
    assert key("\u0420hòng Tài nguyên nước") == "collective:U1:phòng tài nguyên nước"


def test_the_same_name_in_another_unit_is_another_nominee():
    assert key(PLAIN, unit_id="U1") != key(PLAIN, unit_id="U2")


def test_individuals_are_still_known_by_staff_id():
    person = StaffMember("U1-05", "U1", "Tr\u200bần Thị Bình", (), ())
    sub = submission("N2", OFFICER, 2024, MODELS[0], individual=person)
    assert domain.nominee_key(sub) == "staff:U1-05"


def test_skeleton_follows_tr39():
    # skeleton(X) = NFD(prototypes(NFD(X))): Cyrillic and Greek look-alikes meet Latin.
    assert identity.skeleton("\u0440\u043e\u0441") == identity.skeleton("poc") == "poc"
    assert identity.skeleton("\u039f") == "O"
    assert identity.skeleton("m") == "rn"
