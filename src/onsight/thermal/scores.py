"""Replaying readings through a rule and counting its hits: shared by the evaluation and its CV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from onsight.config.screening import RuleConfig
from onsight.thermal.rules import ScreeningRule, Verdict, rule_from_config

Values = Sequence[float] | npt.NDArray[np.float64]
Flags = Sequence[bool] | npt.NDArray[np.bool_]
FEVERS_C = (37.5, 38.0)  # fever: oral (monitor mode) reference at or above these


@dataclass(frozen=True, slots=True)
class Score:
    name: str
    default: bool
    fever_c: float
    true_pos: int
    false_neg: int
    true_neg: int
    false_pos: int

    @property
    def fevers(self) -> int:
        return self.true_pos + self.false_neg

    @property
    def sensitivity(self) -> float:
        return self.true_pos / max(1, self.true_pos + self.false_neg)

    @property
    def specificity(self) -> float:
        return self.true_neg / max(1, self.true_neg + self.false_pos)

    def as_json(self) -> dict[str, str | bool | float]:
        return {
            "name": self.name,
            "default": self.default,
            "fever_c": self.fever_c,
            "sensitivity": round(self.sensitivity, 4),
            "specificity": round(self.specificity, 4),
        }


def default_rule_name() -> str:
    return rule_from_config(RuleConfig()).name


def replay(rule: ScreeningRule, readings: Sequence[float]) -> list[bool]:
    """Alert or not per subject, in order; warm-up counts as not alerted."""
    return [rule.decide(reading).verdict is Verdict.ALERT for reading in readings]


def score(name: str, alerts: Flags, oral_c: Values, fever_c: float) -> Score:
    alert = np.asarray(alerts, dtype=bool)
    fever = np.asarray(oral_c) >= fever_c
    return Score(
        name=name,
        default=name == default_rule_name(),
        fever_c=fever_c,
        true_pos=int((alert & fever).sum()),
        false_neg=int((~alert & fever).sum()),
        true_neg=int((~alert & ~fever).sum()),
        false_pos=int((alert & ~fever).sum()),
    )
