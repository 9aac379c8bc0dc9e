"""Event-level evaluation of a camera's counts against ground truth a site labelled (the
names load on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from onsight._lazy import lazy_exports

if TYPE_CHECKING:
    from onsight.evaluate.matching import LineScore, score_line
    from onsight.evaluate.replay import Observed, observe
    from onsight.evaluate.report import CameraReport, compare, report_dict
    from onsight.evaluate.truth import Sequence, TruthError, load_sequence

_EXPORTS = {
    "LineScore": "onsight.evaluate.matching",
    "score_line": "onsight.evaluate.matching",
    "Observed": "onsight.evaluate.replay",
    "observe": "onsight.evaluate.replay",
    "CameraReport": "onsight.evaluate.report",
    "compare": "onsight.evaluate.report",
    "report_dict": "onsight.evaluate.report",
    "Sequence": "onsight.evaluate.truth",
    "TruthError": "onsight.evaluate.truth",
    "load_sequence": "onsight.evaluate.truth",
}

__all__ = [
    "CameraReport",
    "LineScore",
    "Observed",
    "Sequence",
    "TruthError",
    "compare",
    "load_sequence",
    "observe",
    "report_dict",
    "score_line",
]

__getattr__ = lazy_exports(_EXPORTS)
