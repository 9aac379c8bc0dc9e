"""Event-level evaluation of a camera's counts against ground truth a site labelled."""

from onsight.evaluate.matching import LineScore, score_line
from onsight.evaluate.replay import Observed, observe
from onsight.evaluate.report import CameraReport, compare, report_dict
from onsight.evaluate.truth import Sequence, TruthError, load_sequence

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
