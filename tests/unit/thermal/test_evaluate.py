"""`onsight thermal evaluate` on the real FDA/PhysioNet table (IRT-1, 1020 subjects).

Expected counts are those in ../shared/assets/thermal/PROVENANCE.md (FDA / PhysioNet section).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onsight.cli import app
from onsight.errors import OnsightError
from onsight.thermal.evaluate import Evaluation
from onsight.thermal.fda import FdaTable, parse_fda_csv
from onsight.thermal.scores import default_rule_name


def test_parser_reads_every_subject(table: FdaTable, result: Evaluation) -> None:
    assert len(table.subjects) == 1020 and table.skipped == 0
    assert result.fevers == {37.5: 111, 38.0: 49}
    first = table.subjects[0]
    assert first.canthi_max_c == (35.36, 35.30, 35.42, 35.43)
    assert (first.oral_c, first.oral_fast_c) == (36.59, 36.85)
    assert (first.ambient_c, first.humidity_pct) == (24.0, 28.0)
    assert first.measured_on == date(2016, 11, 17)  # the SubjectID's yymmdd prefix
    assert table.subjects[-1].measured_on == date(2018, 5, 14)


def test_default_rule_meets_the_screening_target(result: Evaluation) -> None:
    default = [s for s in result.scores if s.default]
    assert {s.name for s in default} == {default_rule_name()} == {"relative N=10 +0.75"}
    at_38 = next(s for s in default if s.fever_c == 38.0)
    assert at_38.sensitivity >= 0.95
    assert at_38.specificity >= 0.92


def test_relative_rule_ignores_a_constant_camera_error(result: Evaluation) -> None:
    by_label = {c.label: c.scores[0] for c in result.camera_changes}
    same = by_label["this camera"]
    for label in ("reads 0.5 °C low", "reads 0.5 °C high"):
        assert (by_label[label].sensitivity, by_label[label].specificity) == (
            same.sensitivity,
            same.specificity,
        )


def test_raw_threshold_is_the_poor_baseline(result: Evaluation) -> None:
    raw = next(s for s in result.scores if s.name == "raw>=37.5" and s.fever_c == 38.0)
    assert raw.sensitivity < 0.5


def test_cli_json_shape(fda_csv: Path) -> None:
    run = CliRunner().invoke(app, ["thermal", "evaluate", str(fda_csv), "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert list(data) == ["rules"]
    assert data["rules"], "one entry per rule and fever threshold"
    for entry in data["rules"]:
        assert list(entry) == ["name", "default", "fever_c", "sensitivity", "specificity"]
        assert isinstance(entry["name"], str) and isinstance(entry["default"], bool)
        assert entry["fever_c"] in (37.5, 38.0)
        assert 0.0 <= entry["sensitivity"] <= 1.0 and 0.0 <= entry["specificity"] <= 1.0
    defaults = [e for e in data["rules"] if e["default"]]
    assert sorted(e["fever_c"] for e in defaults) == [37.5, 38.0]
    assert len({e["name"] for e in defaults}) == 1
    names = {(e["name"], e["fever_c"]) for e in data["rules"]}
    assert len(names) == len(data["rules"])
    assert {("raw>=37.5", 37.5), ("raw>=37.5", 38.0)} <= names


def test_cli_human_table(fda_csv: Path) -> None:
    run = CliRunner().invoke(app, ["thermal", "evaluate", str(fda_csv)])
    assert run.exit_code == 0, run.output
    assert "relative N=10 +0.75 *" in run.stdout and "clinical thermometer" in run.stdout
    assert "Held out by measurement period" in run.stdout and "Held out by month" in run.stdout
    assert "Chosen on all subjects: +0.75 °C, the default (relative N=10 +0.75)." in run.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("a;b\n1;2\n", "no SubjectID header row"),
        ("SubjectID;aveOralM\nx;37.0\n", "missing column(s) canthiMax1"),
        (
            "SubjectID;canthiMax1;canthiMax2;canthiMax3;canthiMax4;aveOralM\n1;35;35;35;35;36.9\n",
            "needs at least 100 subjects",
        ),
    ],
)
def test_cli_errors_are_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "table.csv"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    run = CliRunner().invoke(app, ["thermal", "evaluate", str(path)])
    assert run.exit_code == 1
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in run.output


def test_parser_reports_a_bad_number() -> None:
    header = "SubjectID;canthiMax1;canthiMax2;canthiMax3;canthiMax4;aveOralM"
    with pytest.raises(OnsightError, match=r"t.csv:3: canthiMax2: not a number"):
        parse_fda_csv(f"{header}\n1;35.1;35.2;35.3;35.4;36.9\n2;35.1;x;35.3;35.4;36.9\n", "t.csv")
