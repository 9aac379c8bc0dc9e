"""Reader for the FDA/PhysioNet facial-IR + oral-temperature table (IRT-1, `FLIR_groups1and2`).

Wang et al. (2023), PhysioNet, doi:10.13026/3bhc-9065, CC0. Our copy is Excel-resaved: `;`
separator, UTF-8 BOM, three header rows (round titles, symbols, column names). The original
comma-separated file reads the same way. Four measurement rounds per subject.

Choices (see docs/thermal.md):
- Reference: `aveOralM`, the oral thermometer in monitor mode, which the study uses as its
  reference; fast mode (`aveOralF`) is kept for comparison only.
- Reading: `canthiMax` (maximum of the two inner-canthus regions) per round, combined over
  the rounds with the station's own `subject_reading` (median). The station reads the hottest
  spot of the face, which on an afebrile, unobstructed face is the inner canthus, the site
  IEC 80601-2-59 specifies. `T_Max` (whole-face maximum) is not used: it equals the mouth
  maximum (`T_OR_Max`) in 19-41 % of rounds 1-3 and 90 % of round 4, plausibly warmed by the
  oral thermometer itself, which would leak the reference into the reading.
- Date: the `yymmdd` prefix of `SubjectID` (the Excel copy mis-parses the `Date` column). It is
  the measurement day, used only to group subjects for cross-validation (see `crossval.py`).
- The facial values are already blackbody-corrected by the study (adding `T_offset` again
  makes them agree worse with oral temperature), so the replay does not correct them again.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from onsight.errors import OnsightError

ROUNDS = 4
_DAY_PREFIX = re.compile(r"(\d{2})(\d{2})(\d{2})-")
_REQUIRED = ("SubjectID", "aveOralM", *(f"canthiMax{r}" for r in range(1, ROUNDS + 1)))


@dataclass(frozen=True, slots=True)
class FdaSubject:
    """One de-identified study subject (no identity is read: the ID is only the order key)."""

    canthi_max_c: tuple[float, ...]  # per round that was measured
    oral_c: float  # aveOralM: monitor mode, the reference
    oral_fast_c: float | None  # aveOralF
    ambient_c: float | None  # T_atm
    humidity_pct: float | None
    measured_on: date | None = None  # from the SubjectID's yymmdd prefix; None if not one


@dataclass(frozen=True, slots=True)
class FdaTable:
    subjects: tuple[FdaSubject, ...]
    skipped: int  # rows without an oral reference or without any canthus reading


def read_fda_csv(path: Path) -> FdaTable:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise OnsightError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OnsightError(f"{path}: cannot read: {exc}") from None
    return parse_fda_csv(text, str(path))


def parse_fda_csv(text: str, name: str = "CSV") -> FdaTable:
    lines = text.splitlines()
    header_at = next((i for i, line in enumerate(lines[:10]) if "SubjectID" in line), None)
    if header_at is None:
        raise OnsightError(f"{name}: not the FDA/PhysioNet FLIR table (no SubjectID header row)")
    delimiter = ";" if lines[header_at].count(";") > lines[header_at].count(",") else ","
    rows = list(csv.reader(io.StringIO("\n".join(lines[header_at:])), delimiter=delimiter))
    header = [cell.strip() for cell in rows[0]]
    missing = [column for column in _REQUIRED if column not in header]
    if missing:
        raise OnsightError(
            f"{name}: not the FDA/PhysioNet FLIR table: missing column(s) {', '.join(missing)}"
        )
    column = {title: index for index, title in enumerate(header) if title}
    subjects: list[FdaSubject] = []
    skipped = 0
    for number, row in enumerate(rows[1:], start=header_at + 2):
        if not any(cell.strip() for cell in row):
            continue

        def value(title: str, row: list[str] = row, number: int = number) -> float | None:
            index = column.get(title)
            if index is None or index >= len(row) or not row[index].strip():
                return None
            cell = row[index].strip().replace(",", ".")
            try:
                number_value = float(cell)
            except ValueError:
                raise OnsightError(f"{name}:{number}: {title}: not a number: {cell!r}") from None
            return number_value if math.isfinite(number_value) else None

        oral = value("aveOralM")
        canthi = tuple(v for r in range(1, ROUNDS + 1) if (v := value(f"canthiMax{r}")) is not None)
        if oral is None or not canthi:
            skipped += 1
            continue
        subjects.append(
            FdaSubject(
                canthi_max_c=canthi,
                oral_c=oral,
                oral_fast_c=value("aveOralF"),
                ambient_c=value("T_atm"),
                humidity_pct=value("Humidity"),
                measured_on=_measured_on(row[column["SubjectID"]]),
            )
        )
    if not subjects:
        raise OnsightError(f"{name}: the FDA/PhysioNet FLIR table has no usable subject rows")
    return FdaTable(tuple(subjects), skipped)


def _measured_on(subject_id: str) -> date | None:
    match = _DAY_PREFIX.match(subject_id.strip())
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(2000 + year, month, day)
    except ValueError:
        return None
