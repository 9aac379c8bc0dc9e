"""`onsight evaluate CONFIG --truth DIR`: check an installation against footage a site labelled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from onsight.cli_support import ConfigArg, fail, load, setup_logging
from onsight.errors import OnsightError
from onsight.evaluate.matching import TOLERANCE_S, LineScore

if TYPE_CHECKING:
    from onsight.evaluate.report import CameraReport
    from onsight.runtime import FrameResult

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def evaluate_command(
    config: ConfigArg,
    truth: Annotated[
        Path,
        typer.Option(
            "--truth",
            help="Folder with one MOTChallenge sequence per camera, named after the camera "
            "(seqinfo.ini and gt/gt.txt).",
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (schema in the README).")
    ] = False,
    tolerance: Annotated[
        float, typer.Option(help="Seconds within which a counted crossing matches a true one.")
    ] = TOLERANCE_S,
) -> None:
    """Run each camera that has ground truth and score its crossings event by event
    (matched, missed, spurious, precision, recall, F1) and its zones' occupancy."""
    setup_logging(False)
    if not 0 < tolerance <= 60:  # also refuses nan
        fail(f"--tolerance {tolerance}: give seconds between 0 and 60")
    loaded = load(config)
    if not truth.is_dir():
        fail(f"{truth}: truth folder not found")
    cameras = [c for c in loaded.config.cameras if (truth / c.name).is_dir()]
    if not cameras:
        names = ", ".join(c.name for c in loaded.config.cameras)
        fail(f"{truth}: no folder named after a camera of {config} (cameras: {names})")
    for camera in loaded.config.cameras:
        if camera not in cameras:
            err.print(f"{camera.name}: no truth in {truth}, not evaluated", highlight=False)
    from onsight.detect import make_detector
    from onsight.evaluate.replay import observe
    from onsight.evaluate.report import compare, report_dict
    from onsight.evaluate.truth import load_sequence

    reports: list[CameraReport] = []
    try:
        settings = loaded.config.detector
        # One model for every camera: they are analysed one after another.
        detector = make_detector(
            settings.model,
            settings.backend,
            score_threshold=settings.confidence,
            threads=settings.threads,
        )
        for camera in cameras:
            sequence = load_sequence(truth / camera.name)
            with err.status(f"{camera.name}: analysing") as status:

                def progress(
                    result: FrameResult,
                    name: str = camera.name,
                    seconds: float = sequence.length / sequence.fps,
                ) -> None:
                    status.update(f"{name}: {result.frame.pts:.1f} s of {seconds:.1f} s")

                observed = observe(loaded.with_paths(camera), detector, progress)
            reports.append(compare(camera, sequence, observed, tolerance))
    except OnsightError as exc:
        fail(str(exc), loaded.secrets)
    if as_json:
        print(json.dumps(report_dict(reports, tolerance), indent=2))
        return
    for report in reports:
        if report.lines:
            out.print(_line_table(report))
        if report.zones:
            out.print(_zone_table(report))
        if report.queues:
            out.print(_queue_table(report))
        if report.restricted:
            out.print(_area_table(report))


def _line_table(report: CameraReport) -> Table:
    table = Table(title=f"{report.camera}: crossings, in/out ({report.frames} frames analysed)")
    # Short headers: the table fits 80 columns when piped. in/out pairs; error is
    # |counted - true| per direction over the true crossings.
    for column in (
        "line", "true", "count", "match", "miss", "spur", "prec", "rec", "F1", "error",
    ):
        table.add_column(column, justify="left" if column == "line" else "right")
    rows: list[tuple[str, LineScore]] = list(report.lines.items())
    if len(rows) > 1:
        rows.append(("total", report.lines_total))
    for name, s in rows:
        error = f"{s.count_error / s.true:.1%}" if s.true else str(s.count_error)
        table.add_row(
            name, f"{s.true_in}/{s.true_out}", f"{s.counted_in}/{s.counted_out}", str(s.matched),
            str(s.missed), str(s.spurious), _ratio(s.precision), _ratio(s.recall), _ratio(s.f1),
            error,
        )
    return table


def _zone_table(report: CameraReport) -> Table:
    table = Table(title=f"{report.camera}: zone occupancy")
    for column in ("zone", "true mean", "measured", "error", "true peak", "measured peak"):
        table.add_column(column, justify="left" if column == "zone" else "right")
    for name, z in report.zones.items():
        error = z.mean_error
        shown = "phantom" if z.phantom else "-" if error is None else f"{error:.1%}"
        table.add_row(
            name, f"{z.true_mean:.2f}", f"{z.measured_mean:.2f}", shown, str(z.true_peak),
            str(z.measured_peak),
        )
    return table


def _queue_table(report: CameraReport) -> Table:
    table = Table(title=f"{report.camera}: queues (waits over every visit, before k >= 5)")
    for column in ("queue", "true len", "len", "error", "true visits", "visits",
                   "true median wait", "median wait", "error"):  # fmt: skip
        table.add_column(column, justify="left" if column == "queue" else "right")
    for name, q in report.queues.items():
        d = q.as_dict()
        table.add_row(
            name, f"{q.true_mean_length:.2f}", f"{q.measured_mean_length:.2f}",
            _percent(q.length_error), str(d["true_visits"]), str(d["measured_visits"]),
            _seconds(d["true_median_wait_s"]), _seconds(d["measured_median_wait_s"]),
            _percent(q.wait_error),
        )  # fmt: skip
    return table


def _area_table(report: CameraReport) -> Table:
    table = Table(title=f"{report.camera}: restricted areas")
    for column in ("area", "true stays over the limit", "alerts", "error"):
        table.add_column(column, justify="left" if column == "area" else "right")
    for name, a in report.restricted.items():
        table.add_row(name, str(a.true_stays), str(a.alerts), _percent(a.error))
    return table


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _seconds(value: object) -> str:
    return "-" if not isinstance(value, float) else f"{value:.1f} s"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
