"""Human-readable report of `onsight thermal evaluate`: rich tables, ROC-style (rule x fever)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from onsight.thermal.evaluate import (
    CV_MIN_SPECIFICITY,
    FEVERS_C,
    FOLDS,
    RELATIVE_OFFSETS_C,
    Evaluation,
    Score,
)


def print_evaluation(result: Evaluation, console: Console | None = None) -> None:
    out = console if console is not None else Console(soft_wrap=True)
    fevers = ", ".join(f"{result.fevers[f]} at oral >= {f:.1f} °C" for f in FEVERS_C)
    out.print(
        f"{result.subjects} subjects replayed in file order ({result.skipped} rows skipped); "
        f"fever (oral, monitor mode): {fevers}. Reading: median over rounds of canthiMax.",
        highlight=False,
    )
    out.print(_table("All subjects", result.scores))
    cv = result.cross_validation
    held = "; ".join(
        f">= {s.fever_c:.1f}: sensitivity {s.sensitivity:.3f}, specificity {s.specificity:.3f}"
        for s in cv.held_out
    )
    offsets = ", ".join(f"{o:.1f}" for o in cv.chosen_offsets_c)
    out.print(
        f"Relative offset, {FOLDS}-fold cross-validation (on each training part: the smallest of "
        f"{', '.join(f'{o:.1f}' for o in RELATIVE_OFFSETS_C)} °C with specificity >= "
        f"{CV_MIN_SPECIFICITY:.2f} at 38.0 °C): chosen {offsets}; held-out {held}",
        highlight=False,
    )
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
