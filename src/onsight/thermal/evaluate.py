"""Replay the FDA/PhysioNet subjects through the screening rules; sensitivity and specificity.

Subjects are replayed in file (measurement) order, one reading each, through the same rule
classes the station uses. A subject seen while a relative baseline warms up got no alert, so
it counts as not alerted. Fever is the oral (monitor mode) reference at >= 37.5 and >= 38.0 °C.

The relative rule's default offset is chosen by leave-one-group-out cross-validation
(`crossval.py`). The calibrated rule needs a site offset measured against a thermometer; here it is
cross-fitted (5 contiguous folds: the offset for each fold is the median oral - reading of
the afebrile subjects in the other folds), so no subject is scored with its own calibration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from onsight.config.screening import EnvironmentConfig, RuleConfig
from onsight.errors import OnsightError
from onsight.thermal.crossval import (
    GroupCrossValidation,
    choose_on,
    groupings,
    leave_one_group_out,
    replay_candidates,
)
from onsight.thermal.environment import EnvironmentCheck
from onsight.thermal.fda import FdaSubject
from onsight.thermal.rules import (
    CalibratedRule,
    RawThresholdRule,
    RelativeBaselineRule,
    ScreeningRule,
    rule_from_config,
    subject_reading,
)
from onsight.thermal.scores import FEVERS_C, Score, replay, score

FOLDS = 5
RELATIVE_OFFSETS_C = (0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0, 1.2)
CALIBRATED_THRESHOLDS_C = (37.5, 37.7, 38.0)
_AFEBRILE_BELOW_C = 37.5
MIN_SUBJECTS = 100
# Another camera, simulated: (label, constant error °C, extra random error sd °C). The site
# offset of the calibrated rule stays the one measured with this camera, as after a swap or a
# drift the blackbody does not see (e.g. a different emissivity or distance).
CAMERA_CHANGES: tuple[tuple[str, float, float], ...] = (
    ("this camera", 0.0, 0.0),
    ("reads 0.5 °C low", -0.5, 0.0),
    ("reads 0.5 °C high", 0.5, 0.0),
    ("noisier (+0.2 °C sd)", 0.0, 0.2),
)

RuleFactory = Callable[[], ScreeningRule]


@dataclass(frozen=True, slots=True)
class CameraChange:
    label: str
    scores: tuple[Score, ...]  # at fever >= 38.0 °C: default rule, calibrated>=37.5, raw>=37.5


@dataclass(frozen=True, slots=True)
class Evaluation:
    subjects: int
    skipped: int
    fevers: dict[float, int]
    scores: tuple[Score, ...]
    cross_validation: tuple[GroupCrossValidation, ...]  # one per grouping of the subjects
    chosen_offset_c: float  # what the CV's selection picks on all subjects: the default's offset
    gated_subjects: int  # inside the station's default room range (replayed again alone)
    gated_scores: tuple[Score, ...]
    camera_changes: tuple[CameraChange, ...]


def evaluate(subjects: Sequence[FdaSubject], skipped: int = 0) -> Evaluation:
    if len(subjects) < MIN_SUBJECTS:
        raise OnsightError(
            f"the evaluation needs at least {MIN_SUBJECTS} subjects "
            f"({FOLDS}-fold calibration and a {RuleConfig().baseline_subjects}-person baseline); "
            f"the table has {len(subjects)}"
        )
    readings = [subject_reading(s.canthi_max_c) for s in subjects]
    oral = [s.oral_c for s in subjects]
    gated = [i for i, s in enumerate(subjects) if _room_ok(s)]
    candidates = replay_candidates(readings)
    cross_validation = tuple(
        leave_one_group_out(candidates, oral, labels, name)
        for name, labels in groupings([s.measured_on for s in subjects])
    )
    return Evaluation(
        subjects=len(subjects),
        skipped=skipped,
        fevers={f: sum(o >= f for o in oral) for f in FEVERS_C},
        scores=_score_all(readings, oral),
        cross_validation=cross_validation,
        chosen_offset_c=choose_on(candidates, oral, np.arange(len(oral))),
        gated_subjects=len(gated),
        gated_scores=_score_all([readings[i] for i in gated], [oral[i] for i in gated]),
        camera_changes=tuple(_camera_change(readings, oral, *c) for c in CAMERA_CHANGES),
    )


def _score_all(readings: Sequence[float], oral: Sequence[float]) -> tuple[Score, ...]:
    runs: list[tuple[str, list[bool]]] = [("raw>=37.5", replay(RawThresholdRule(37.5), readings))]
    for threshold in CALIBRATED_THRESHOLDS_C:
        runs.append((f"calibrated>={threshold:.1f}", _cross_fit(readings, oral, threshold)))
    for offset in RELATIVE_OFFSETS_C:
        rule = RelativeBaselineRule(RuleConfig().baseline_subjects, offset)
        runs.append((rule.name, replay(rule, readings)))
    return tuple(score(name, alerts, oral, f) for name, alerts in runs for f in FEVERS_C)


def _folds(count: int) -> list[np.ndarray]:
    return list(np.array_split(np.arange(count), FOLDS))


def _cross_fit(
    readings: Sequence[float],
    oral: Sequence[float],
    threshold_c: float,
    replayed: Sequence[float] | None = None,
) -> list[bool]:
    """Calibrate on the other folds with `readings`, replay `replayed` (default: the same)."""
    reading, reference = np.asarray(readings), np.asarray(oral)
    later = reading if replayed is None else np.asarray(replayed)
    alerts = np.zeros(len(readings), dtype=bool)
    for test in _folds(len(readings)):
        train = np.setdiff1d(np.arange(len(readings)), test)
        calibration = train[reference[train] < _AFEBRILE_BELOW_C]
        if calibration.size == 0:
            raise OnsightError("no afebrile subject to calibrate the site offset on")
        site_offset = float(np.median(reference[calibration] - reading[calibration]))
        rule = CalibratedRule(site_offset, threshold_c)
        alerts[test] = replay(rule, later[test].tolist())
    return alerts.tolist()


def _camera_change(
    readings: Sequence[float], oral: Sequence[float], label: str, bias_c: float, noise_c: float
) -> CameraChange:
    rng = np.random.default_rng(0)  # fixed: the report is reproducible
    other = np.asarray(readings) + bias_c + rng.normal(0.0, noise_c, len(readings))
    default = rule_from_config(RuleConfig())
    runs = [
        (default.name, replay(default, other.tolist())),
        ("calibrated>=37.5", _cross_fit(readings, oral, 37.5, other.tolist())),
        ("raw>=37.5", replay(RawThresholdRule(37.5), other.tolist())),
    ]
    return CameraChange(label, tuple(score(name, alerts, oral, 38.0) for name, alerts in runs))


def _room_ok(subject: FdaSubject) -> bool:
    """The station's own room check with its default ranges, fed the study's T_atm/humidity."""
    if subject.ambient_c is None or subject.humidity_pct is None:
        return False
    check = EnvironmentCheck(EnvironmentConfig(source="sensor", sensor_topic="fda-replay"))
    check.record(subject.ambient_c, subject.humidity_pct, now=0.0)
    return check.problem(now=0.0) is None
