"""Who a collective nominee is: one key for every way of writing a name that reads the same.

A second nomination of the same collective in a year is refused, so the key must not be
dodged by invisible characters, look-alike letters from other scripts or full-width forms,
and must not merge names a Vietnamese reader tells apart. No I/O beyond reading the
packaged TR39 table once.
"""

import functools
import unicodedata
from functools import cache
from importlib import resources

# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) beyond categories Cf and Cc:
# combining grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian and other
# variation selectors, reserved ranges. They draw nothing, so they must not
# make two names differ.
_IGNORABLE_RANGES = (
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_IGNORABLE = frozenset(cp for low, high in _IGNORABLE_RANGES for cp in range(low, high + 1))

# The marks that carry Vietnamese vowel quality and tone once NFD has split a letter:
# grave, acute, circumflex, tilde, breve, hook above, horn, dot below. "Lê" and "Lệ",
# "An" and "Ân" are different names, so no table entry may rewrite these marks. TR39 13.0
# has none for them anyway; the guard keeps a future confusables.txt from merging tones.
# Đ/đ needs no guard: TR39 maps it to "d" plus U+0335 (stroke overlay), never to plain
# "d", so "Đo" and "Do" keep different keys while a d with a typed stroke overlay joins Đ.
_VIETNAMESE_MARKS = frozenset("\u0300\u0301\u0302\u0303\u0306\u0309\u031b\u0323")

# Ð (eth) and Ɖ (African D) are drawn exactly like Đ, and Vietnamese text that went
# through Windows-1258 read as Latin-1 carries Ð for Đ. Their lowercase forms (ð, ɖ) are
# other letters with other TR39 prototypes, so casefolding first would part them from
# đ: they are turned into Đ before the case is folded.
_CAPITAL_D_LOOKALIKES = str.maketrans({"\u00d0": "\u0110", "\u0189": "\u0110"})


@cache
def _prototypes() -> dict[int, str]:
    """The TR39 table as a str.translate map, read once."""
    table: dict[int, str] = {}
    text = resources.files(__package__).joinpath("confusables.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        source, prototype = line.split(";")
        if chr(int(source, 16)) in _VIETNAMESE_MARKS:
            continue
        table[int(source, 16)] = "".join(chr(int(cp, 16)) for cp in prototype.split())
    return table


def _invisible(char: str) -> bool:
    # Tabs and line breaks are Cc but separate words: they are left for the whitespace step.
    if char.isspace():
        return False
    return unicodedata.category(char) in ("Cf", "Cc") or ord(char) in _IGNORABLE


def skeleton(text: str) -> str:
    """UTS #39 skeleton: NFD, every character replaced by its prototype, NFD again."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", text).translate(_prototypes()))


@functools.lru_cache(maxsize=8192)  # asked twice per submission (what to load, then the decision)
def collective_identity(name: str) -> str:
    """The comparison form of a collective's name (NFC, so it stays readable in storage)."""
    # Invisibles go first so that one sitting between a letter and its mark cannot keep NFKC
    # from composing them.
    text = "".join(char for char in name if not _invisible(char))
    text = unicodedata.normalize("NFKC", text).translate(_CAPITAL_D_LOOKALIKES)
    # Folded and skeletonised twice: some prototypes are capitals ("0" becomes "O"), and
    # only a second fold lets them meet the lowercase letter ("o") a person would type.
    for _ in range(2):
        text = skeleton(text.casefold())
    return unicodedata.normalize("NFC", " ".join(text.split()))
