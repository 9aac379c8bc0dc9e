"""Per-subject decision rules: one corrected face reading in, pass / alert / warming-up out.

The station and `onsight thermal evaluate` run these same classes, so the evaluation on the
FDA/PhysioNet data measures the code that screens people. Readings live in memory only.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np

from onsight.config.screening import RuleConfig


class Verdict(StrEnum):
    PASS = "pass"
    ALERT = "alert"
    WARMING_UP = "warming-up"  # relative mode before its baseline is full: no decision


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    threshold_c: float | None  # the face reading at which this subject would have alerted


class ScreeningRule(Protocol):
    @property
    def name(self) -> str: ...

    def decide(self, reading_c: float) -> Decision:
        """Decide for one subject; stateful rules learn from the reading."""
        ...


def celsius_label(value_c: float) -> str:
    """0.7 -> "0.7", 0.75 -> "0.75", 1.0 -> "1.0": two decimals only where they matter."""
    text = f"{value_c:.2f}"
    return text[:-1] if text.endswith("0") else text


def subject_reading(frame_maxima_c: Sequence[float]) -> float:
    """One reading per subject from the per-frame face maxima: their median.

    The median ignores a single frame with a glint or a blink; the station feeds the stable
    frames, the evaluation feeds the four measurement rounds of the FDA data.
    """
    values = [v for v in frame_maxima_c if math.isfinite(v)]
    if not values:
        raise ValueError("no finite reading")
    return float(np.median(values))


class RawThresholdRule:
    """Alert when the face reading itself reaches a threshold: the naive rule, for comparison.

    Skin is about 1 °C cooler than the core, so a raw 37.5 °C threshold misses most fevers.
    """

    def __init__(self, threshold_c: float = 37.5) -> None:
        self._threshold = threshold_c

    @property
    def name(self) -> str:
        return f"raw>={self._threshold:.1f}"

    def decide(self, reading_c: float) -> Decision:
        verdict = Verdict.ALERT if reading_c >= self._threshold else Verdict.PASS
        return Decision(verdict, self._threshold)


class CalibratedRule:
    """Estimated core = reading + site offset; alert when it reaches an absolute threshold."""

    def __init__(self, site_offset_c: float, threshold_c: float = 37.5) -> None:
        self._offset = site_offset_c
        self._threshold = threshold_c

    @property
    def name(self) -> str:
        return f"calibrated>={self._threshold:.1f}"

    def decide(self, reading_c: float) -> Decision:
        verdict = Verdict.ALERT if reading_c + self._offset >= self._threshold else Verdict.PASS
        return Decision(verdict, self._threshold - self._offset)


class RelativeBaselineRule:
    """Alert when a reading exceeds the trimmed mean of the last N non-alert readings + offset.

    The camera's absolute error, the room and the population cancel out of the difference,
    which is why this rule carries over to another camera. Alerts never enter the baseline,
    so a febrile queue cannot raise it; warm-up readings do (trimming absorbs one outlier).
    """

    def __init__(self, size: int = 10, offset_c: float = 0.75, trim_fraction: float = 0.1) -> None:
        if size < 2:
            raise ValueError("the baseline needs at least 2 subjects")
        self._size = size
        self._offset = offset_c
        self._trim = math.floor(trim_fraction * size)
        self._recent: deque[float] = deque(maxlen=size)

    @property
    def name(self) -> str:
        return f"relative N={self._size} +{celsius_label(self._offset)}"

    @property
    def baseline_count(self) -> int:
        return len(self._recent)

    @property
    def size(self) -> int:
        return self._size

    def baseline_c(self) -> float | None:
        if len(self._recent) < self._size:
            return None
        ordered = sorted(self._recent)
        kept = ordered[self._trim : len(ordered) - self._trim]
        return float(np.mean(kept))

    def decide(self, reading_c: float) -> Decision:
        baseline = self.baseline_c()
        if baseline is None:
            self._recent.append(reading_c)
            return Decision(Verdict.WARMING_UP, None)
        threshold = baseline + self._offset
        if reading_c >= threshold:
            return Decision(Verdict.ALERT, threshold)
        self._recent.append(reading_c)
        return Decision(Verdict.PASS, threshold)


def rule_from_config(config: RuleConfig) -> ScreeningRule:
    if config.mode == "calibrated":
        if config.site_offset_c is None:  # the config validator already refuses this
            raise ValueError("calibrated mode needs site_offset_c")
        return CalibratedRule(config.site_offset_c, config.alert_threshold_c)
    return RelativeBaselineRule(
        config.baseline_subjects, config.relative_offset_c, config.baseline_trim_fraction
    )
