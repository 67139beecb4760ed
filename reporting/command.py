"""`exemplars report`: the programme review of a year or a phase, as HTML and CSV files."""

import argparse
import datetime as dt
from pathlib import Path

from shared.settings import LOCAL_MONGO_OPTIONS

DEFAULT_URI = f"mongodb://127.0.0.1:27017/?{LOCAL_MONGO_OPTIONS}"
HTML_NAME = "bao-cao.html"


def add_report_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="programme review (sơ kết / tổng kết): HTML and CSV files")
    p.add_argument("--from", dest="first", type=int, required=True, help="first year of the period, e.g. 2023")
    p.add_argument("--to", dest="last", type=int, default=None, help="last year (default: the first)")
    p.add_argument("--out", required=True, help="folder to write bao-cao.html and the CSV files into")
    p.add_argument("--mongo-uri", default=DEFAULT_URI, help="MongoDB holding the services' databases (read only)")
    p.add_argument("--nominations-db", default="exemplars_nominations")
    p.add_argument("--evaluations-db", default="exemplars_evaluations")
    p.add_argument("--programme-file", default=None, help="the programme's YAML (default: the one shipped)")
    p.set_defaults(func=run_report)


async def make_report(source, first: int, last: int, out: Path, programme_file: str | None = None,
                      now: dt.datetime | None = None) -> list[Path]:
    """Collect, compute, write; returns the files written (the HTML first)."""
    from reporting import csv_files, figures, html, tables
    from reporting.collect import collect
    from shared.programme import load_programme

    data = await collect(source, first, last, load_programme(programme_file), now)
    computed = figures.compute(data)
    laid_out = tables.build(computed)
    out.mkdir(parents=True, exist_ok=True)
    page = out / HTML_NAME
    page.write_text(html.render(computed, laid_out), encoding="utf-8")
    return [page, *csv_files.write(laid_out, out)]


async def run_report(args: argparse.Namespace) -> int:
    from reporting.collect import Source

    last = args.last or args.first
    if last < args.first:
        print(f"--to {last} comes before --from {args.first}")
        return 2
    source = Source(args.mongo_uri, args.nominations_db, args.evaluations_db)
    written = await make_report(source, args.first, last, Path(args.out), args.programme_file)
    print(f"report {args.first}-{last}: {written[0]}")
    print(f"{len(written) - 1} CSV files in {written[0].parent}")
    return 0
