"""A report as one table for CSV and XLSX: a row per period (and a total row), a column per
table of the page and measure, side by side. Aggregates only, as on the page."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.styles import Font

from onsight.service.reports import Number, Report

Cell = str | Number


def export_rows(report: Report) -> list[list[Cell]]:
    """Header, one row per period (its label and local start with offset), the total row."""
    header: list[Cell] = ["Period", "Start"]
    for table in report.tables:
        header.extend(table.headers())
    rows: list[list[Cell]] = [header]
    for index, period in enumerate(report.periods):
        start = period.local_start.isoformat(timespec="minutes")
        rows.append([period.label, start, *(v for t in report.tables for v in t.rows[index])])
    rows.append(["Total", "", *(v for t in report.tables for v in t.total)])
    return rows


def _safe(value: Cell) -> Cell:
    # Spreadsheets run text cells starting with = + - @ as formulas. Names cannot start so,
    # but be sure.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: Sequence[Sequence[Cell]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if v is None else _safe(v) for v in row])
    return out.getvalue()


def to_xlsx(rows: Sequence[Sequence[Cell]], about: dict[str, str]) -> bytes:
    """The table on a sheet "Report" (header bold and frozen), what it covers on "About"."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Report"
    for row in rows:
        sheet.append([_safe(v) for v in row])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "C2"
    sheet.column_dimensions["A"].width = 26
    sheet.column_dimensions["B"].width = 24
    notes = book.create_sheet("About")
    for key, value in about.items():
        notes.append([key, _safe(value)])
    notes.column_dimensions["A"].width = 16
    notes.column_dimensions["B"].width = 60
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
