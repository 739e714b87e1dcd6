"""Write a large sample findings file, to measure the import (docs/IMPORT.md).

    python -m devdata.import_bench 10000 > /tmp/findings-10000.csv
    python -m devdata.import_bench 300000 --xlsx /tmp/findings-300000.xlsx

Each inspection gets causes of concern, recommendations that accompany them, and areas for improvement,
addressed to a handful of organisations (import with --create-organisations on an empty database).
Needs no Django settings.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from collections.abc import Iterator
from typing import TextIO

from tracker.imports.columns import COLUMNS

ORGANISATIONS = ("Bench Force A", "Bench Force B", "Bench Force C", "Bench Force D", "Bench Regional Unit")
THEMES = ("Intelligence", "Workforce and resourcing", "Local profiles", "Partnership working")


def generate_rows(count: int, *, inspections: int = 10) -> Iterator[dict[str, str]]:
    """`count` findings spread over `inspections` inspections; every tenth one is a cause of concern."""
    per_inspection = -(-count // inspections)
    for number in range(count):
        inspection, position = divmod(number, per_inspection)
        if position % 10 == 0:
            kind, reference, coc = "cause_of_concern", f"CoC{position // 10 + 1}", ""
        elif position % 10 < 7:
            kind, reference, coc = "recommendation", f"R{position}", f"CoC{position // 10 + 1}"
        else:
            kind, reference, coc = "area_for_improvement", f"AFI{position}", ""
        yield {
            "inspection": f"Bench inspection {inspection + 1}",
            "inspection_slug": f"bench-{inspection + 1}",
            "published_on": "2024-08-30",
            "reference": reference,
            "kind": kind,
            "text": f"Finding {position} of bench inspection {inspection + 1}: forces should act on this.",
            "addressed_to": "; ".join(ORGANISATIONS[position % 3 : position % 3 + 3]),
            "themes": "; ".join(THEMES[position % 2 :: 2]),
            "due_by": (dt.date(2025, 3, 31) + dt.timedelta(days=position % 365)).isoformat(),
            "cause_of_concern": coc,
        }


def write_csv(out: TextIO, count: int, *, inspections: int = 10) -> None:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(generate_rows(count, inspections=inspections))


def write_xlsx(path: str, count: int, *, inspections: int = 10) -> None:
    """The same rows as a workbook, written as a stream (openpyxl's write-only mode)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(list(COLUMNS))
    for row in generate_rows(count, inspections=inspections):
        sheet.append([row[column] for column in COLUMNS])
    workbook.save(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", type=int, nargs="?", default=10_000, help="findings to write (default 10000)")
    parser.add_argument("--inspections", type=int, default=10, help="inspections to spread them over")
    parser.add_argument("--xlsx", metavar="PATH", help="write an XLSX workbook to PATH instead of CSV to stdout")
    options = parser.parse_args(argv)
    if options.xlsx:
        write_xlsx(options.xlsx, options.count, inspections=options.inspections)
    else:
        write_csv(sys.stdout, options.count, inspections=options.inspections)


if __name__ == "__main__":
    main()
