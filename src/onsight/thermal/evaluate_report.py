"""Human-readable report of `onsight thermal evaluate`: rich tables, ROC-style (rule x fever)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from onsight.config.screening import RuleConfig
from onsight.thermal.crossval import (
    CV_MIN_SPECIFICITY,
    CV_OFFSETS_C,
    NOISE_DRAWS,
    NOISE_SD_C,
    GroupCrossValidation,
)
from onsight.thermal.evaluate import Evaluation
from onsight.thermal.rules import celsius_label
from onsight.thermal.scores import FEVERS_C, Score, default_rule_name


def print_evaluation(result: Evaluation, console: Console | None = None) -> None:
    out = console if console is not None else Console(soft_wrap=True)
    fevers = ", ".join(f"{result.fevers[f]} at oral >= {f:.1f} °C" for f in FEVERS_C)
    out.print(
        f"{result.subjects} subjects replayed in file order ({result.skipped} rows skipped); "
        f"fever (oral, monitor mode): {fevers}. Reading: median over rounds of canthiMax.",
        highlight=False,
    )
    out.print(_table("All subjects", result.scores))
    _print_cross_validation(result, out)
    out.print(
        _table(
            f"Only the {result.gated_subjects} subjects inside the station's room range "
            "(18-24 °C, 10-75 % RH); the others would have been blocked",
            result.gated_scores,
        )
    )
    changes = Table(title="Another camera, simulated (fever >= 38.0 °C): sensitivity / specificity")
    changes.add_column("camera", no_wrap=True)
    names = [s.name for s in result.camera_changes[0].scores]
    for name in names:
        changes.add_column(name, justify="right")
    for change in result.camera_changes:
        changes.add_row(
            change.label, *(f"{s.sensitivity:.3f} / {s.specificity:.3f}" for s in change.scores)
        )
    out.print(changes)
    out.print(
        "* default rule. Triage aid only: confirm any alert with a clinical thermometer; "
        "this is not a diagnosis.",
        highlight=False,
    )


def _print_cross_validation(result: Evaluation, out: Console) -> None:
    out.print(
        f"Relative offset by leave-one-group-out cross-validation: for each held-out group, the "
        f"smallest of {celsius_label(CV_OFFSETS_C[0])}-{celsius_label(CV_OFFSETS_C[-1])} °C "
        f"(0.05 steps) with specificity >= {CV_MIN_SPECIFICITY:.2f} at 38.0 °C on the other "
        f"groups, as measured and with +{NOISE_SD_C:.1f} °C sd noise ({NOISE_DRAWS} draws); "
        "scored on the held-out group only.",
        highlight=False,
    )
    for cv in result.cross_validation:
        out.print(_cv_table(cv))
    default = default_rule_name()
    verdict = (
        f"the default ({default})"
        if result.chosen_offset_c == RuleConfig().relative_offset_c
        else f"NOT the configured default ({default})"
    )
    out.print(
        f"Chosen on all subjects: +{celsius_label(result.chosen_offset_c)} °C, {verdict}.",
        highlight=False,
    )


def _cv_table(cv: GroupCrossValidation) -> Table:
    table = Table(title=f"Held out by {cv.grouping} (sensitivity with detected/fevers)")
    table.add_column(cv.grouping, no_wrap=True)
    table.add_column("subjects", justify="right")
    table.add_column("offset", justify="right")
    for fever in FEVERS_C:
        table.add_column(f"sens >= {fever:.1f}", justify="right")
        table.add_column(f"spec >= {fever:.1f}", justify="right")
    table.add_column(f"+{NOISE_SD_C:.1f} sd: sens / spec >= 38.0", justify="right")
    for held in cv.held_out:
        table.add_row(
            held.group,
            str(held.subjects),
            f"+{celsius_label(held.offset_c)}",
            *_cells(held.scores),
            _noisy_cell(held.noisy),
        )
    pooled = sum(h.subjects for h in cv.held_out)
    table.add_row(
        "pooled", str(pooled), "", *_cells(cv.pooled), _noisy_cell(cv.pooled_noisy), style="bold"
    )
    return table


def _cells(scores: Sequence[Score]) -> list[str]:
    cells = []
    for s in scores:
        sensitivity = f"{s.sensitivity:.3f} ({s.true_pos}/{s.fevers})" if s.fevers else "- (0/0)"
        cells += [sensitivity, f"{s.specificity:.3f}"]
    return cells


def _noisy_cell(s: Score) -> str:
    sensitivity = f"{s.sensitivity:.3f}" if s.fevers else "-"
    return f"{sensitivity} / {s.specificity:.3f}"


def _table(title: str, scores: Sequence[Score]) -> Table:
    table = Table(title=title)
    table.add_column("rule", no_wrap=True)
    for fever in FEVERS_C:
        table.add_column(f"sens >= {fever:.1f}", justify="right")
        table.add_column(f"spec >= {fever:.1f}", justify="right")
    by_rule: dict[str, dict[float, Score]] = {}
    for s in scores:
        by_rule.setdefault(s.name, {})[s.fever_c] = s
    for name, per_fever in by_rule.items():
        default = any(s.default for s in per_fever.values())
        cells = []
        for fever in FEVERS_C:
            s = per_fever[fever]
            cells += [
                f"{s.sensitivity:.3f} ({s.true_pos}/{s.true_pos + s.false_neg})",
                f"{s.specificity:.3f}",
            ]
        table.add_row(f"{name} *" if default else name, *cells, style="bold" if default else None)
    return table
