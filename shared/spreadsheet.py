"""Text bound for a spreadsheet cell (the review report's CSV files, the council's pack)."""

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): a
# title or a reason typed by someone outside could then run in the reader's Excel.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """`text` as a spreadsheet shows it and never runs it: a formula-like start gets a quote."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
