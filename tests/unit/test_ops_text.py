"""The pure helpers of the operator tools: tables, bytes, times, offsets."""

import datetime as dt

import pytest

from deploy.ops.text import (
    hexdump,
    parse_offsets,
    parse_since,
    printable,
    shorten,
    table,
    utc_text,
)

NOW = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC)


def test_tables_align_columns_and_show_missing_values():
    text = table(("A", "LONGER"), [(1, None), ("Tập thể", "x\ny")])
    lines = text.splitlines()
    assert lines[0] == "A        LONGER"
    assert lines[1] == "-------  ------"
    assert lines[2] == "1        -"
    assert lines[3] == "Tập thể  x y"


def test_decomposed_vietnamese_takes_its_visible_width():
    import unicodedata

    name = unicodedata.normalize("NFD", "Tập thể")
    assert table(("N",), [(name,)]).splitlines()[1] == "-------"


@pytest.mark.parametrize(("text", "expected"), [
    ("2h", NOW - dt.timedelta(hours=2)), ("90m", NOW - dt.timedelta(minutes=90)),
    ("3d", NOW - dt.timedelta(days=3)), ("1w", NOW - dt.timedelta(weeks=1)), ("30s", NOW - dt.timedelta(seconds=30)),
    ("2025-03-01", dt.datetime(2025, 3, 1, tzinfo=dt.UTC)),
    ("2025-03-01T08:00", dt.datetime(2025, 3, 1, 8, tzinfo=dt.UTC)),
    ("2025-03-01T08:00Z", dt.datetime(2025, 3, 1, 8, tzinfo=dt.UTC)),
    ("2025-03-01T08:00+07:00", dt.datetime(2025, 3, 1, 1, tzinfo=dt.UTC)),
])
def test_since_reads_relative_and_absolute_times(text, expected):
    assert parse_since(text, NOW) == expected


def test_since_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="--since"):
        parse_since("yesterday", NOW)


def test_offsets_read_lists_ranges_and_partitions():
    assert parse_offsets("12") == {(0, 12)}
    assert parse_offsets("12, 15,20-22") == {(0, 12), (0, 15), (0, 20), (0, 21), (0, 22)}
    assert parse_offsets("1:3-4,0:9") == {(1, 3), (1, 4), (0, 9)}


@pytest.mark.parametrize("bad", ["", "x", "5-3", "-1", "1:x", "0-200000"])
def test_offsets_refuse_nonsense(bad):
    with pytest.raises(ValueError, match="--offset"):
        parse_offsets(bad)


def test_bytes_become_readable_without_losing_what_they_were():
    assert printable(None) == "(null)"
    assert printable("Tập thể\n".encode()) == "Tập thể\n"
    assert printable(b"\xff\x00a\x1b") == "\\xff\\x00a\\x1b"
    assert printable("a\u200bb".encode()) == "a\\u200bb"  # invisible format characters show
    assert hexdump(b"") == "(empty)"
    dump = hexdump(bytes(range(20)))
    assert dump.splitlines()[0].startswith("00000000  00 01 02") and dump.splitlines()[1].startswith("00000010  10 11")
    assert dump.splitlines()[0].endswith("|................|")


def test_small_formatters():
    assert shorten("abcdef", 4) == "abc…" and shorten("abc", 4) == "abc" and shorten(None, 3) is None
    assert utc_text(dt.datetime(2025, 1, 1, 7, tzinfo=dt.timezone(dt.timedelta(hours=7)))) == "2025-01-01T00:00:00Z"
