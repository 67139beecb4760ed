"""The report's tables as CSV files for spreadsheets: UTF-8 with a byte-order mark (so Excel
reads the Vietnamese right), one header row, numbers with a decimal point, and text that
starts like a formula quoted (titles and reasons come from outside systems)."""

import csv
from pathlib import Path

from reporting.tables import Table
from shared.spreadsheet import safe_cell


def value(raw) -> str:
    if raw is None:
        return ""
    if isinstance(raw, float):
        return f"{raw:.2f}".rstrip("0").rstrip(".") if not raw.is_integer() else str(int(raw))
    return safe_cell(raw) if isinstance(raw, str) else str(raw)


def write(tables: dict[str, Table], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables.values():
        path = folder / f"{table.key}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out)
            writer.writerow([c.header for c in table.columns])
            writer.writerows([value(v) for v in row] for row in table.all_rows())
        written.append(path)
    return written
