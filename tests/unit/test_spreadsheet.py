"""Text that starts like a formula never runs in the reader's spreadsheet (CSV injection)."""

import pytest

from reporting.csv_files import value
from shared.spreadsheet import safe_cell


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_like_text_is_quoted(text):
    assert safe_cell(text) == "'" + text
    assert value(text) == "'" + text  # the review report's CSV files


def test_plain_text_and_numbers_stay_as_they_are():
    assert safe_cell("Số hóa hồ sơ địa chính") == "Số hóa hồ sơ địa chính"
    assert (value(-3), value(-1.5), value(70.0), value(None)) == ("-3", "-1.5", "70", "")
