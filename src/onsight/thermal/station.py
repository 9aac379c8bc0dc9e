"""Elevated-skin-temperature screening station: one °C frame in, one typed result out.

Per frame: room check -> blackbody check and offset -> warm blobs in the measurement region
-> exactly one face, big enough, still for several frames -> one reading -> the rule.
The decision is held on the local display until the person leaves the region; only then is
the next person measured. Nothing here is written anywhere: no image, no reading, no identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

import numpy as np

from onsight.config.screening import ScreeningConfig
from onsight.thermal.blackbody import BlackbodyMonitor
from onsight.thermal.environment import EnvironmentCheck
from onsight.thermal.frames import Blob, CelsiusFrame, MaskCache, warm_blobs
from onsight.thermal.rules import (
    RelativeBaselineRule,
    ScreeningRule,
    Verdict,
    rule_from_config,
    subject_reading,
)
from onsight.types import utc_iso

# A warm blob this fraction of a measurable face (a person about twice as far away, a face
# half hidden) still counts as somebody else in the measurement area.
_OTHER_PERSON_FRACTION = 0.25
# Standing still also means the face does not grow or shrink by more than this between frames.
_MAX_AREA_CHANGE = 0.25


class ScreeningState(StrEnum):
    PAUSED = "paused"
    WAITING = "waiting"
    ONE_AT_A_TIME = "one-at-a-time"
    MEASURING = "measuring"
    SCREENED_PASS = "screened-pass"
    SCREENED_ALERT = "screened-alert"
    SCREENED_WARMING_UP = "screened-warming-up"


_SCREENED = {
    Verdict.PASS: ScreeningState.SCREENED_PASS,
    Verdict.ALERT: ScreeningState.SCREENED_ALERT,
    Verdict.WARMING_UP: ScreeningState.SCREENED_WARMING_UP,
}


@dataclass(frozen=True, slots=True)
class ScreeningResult:
    state: ScreeningState
    message: str  # for the local station display
    new_subject: bool = False  # True on the one frame a person's decision is made: count it
    # For the local display only: never stored, published or logged.
    reading_c: float | None = None
    threshold_c: float | None = None

    @property
    def screened(self) -> bool:
        return self.state in _SCREENED.values()

    @property
    def alert(self) -> bool:
        return self.state is ScreeningState.SCREENED_ALERT


class ScreeningStation:
    def __init__(self, config: ScreeningConfig, rule: ScreeningRule | None = None) -> None:
        self._config = config
        self._rule = rule if rule is not None else rule_from_config(config.rule)
        self._blackbody = BlackbodyMonitor(config.blackbody)
        self._environment = EnvironmentCheck(config.environment)
        self._region = MaskCache(config.measurement_region)
        self._blackbody_region = MaskCache(config.blackbody.region)
        self._samples: list[float] = []
        self._last_face: Blob | None = None
        self._held: ScreeningResult | None = None  # decision shown until the person leaves
        self._empty_frames = 0

    def record_environment(self, ambient_c: float, humidity_pct: float, now: float) -> None:
        """Room reading from the configured sensor (ignored in manual mode)."""
        self._environment.record(ambient_c, humidity_pct, now)

    def update(self, frame_c: CelsiusFrame, now: float) -> ScreeningResult:
        """Process one radiometric frame (H x W, °C) taken at monotonic time `now` (s)."""
        frame = np.asarray(frame_c, dtype=np.float64)
        if frame.ndim != 2:
            raise ValueError(f"expected an H x W frame in °C, got shape {frame.shape}")
        problem = self._environment.problem(now)
        if problem is not None:
            return self._pause(f"screening blocked: {problem}")
        status = self._blackbody.update(frame, now)
        if status.offset_c is None:
            return self._pause(status.problem or "blackbody check failed")
        corrected = frame + status.offset_c
        height, width = frame.shape
        region = self._region.get(height, width) & ~self._blackbody_region.get(height, width)
        subject = self._config.subject
        smallest = max(1, math.ceil(subject.min_blob_pixels * _OTHER_PERSON_FRACTION))
        blobs = warm_blobs(corrected, region, subject.face_min_c, subject.face_max_c, smallest)
        if self._held is not None:
            return self._hold(blobs)
        if len(blobs) >= 2:
            self._restart()
            return ScreeningResult(
                ScreeningState.ONE_AT_A_TIME,
                f"one person at a time: {len(blobs)} people in the measurement area",
            )
        if not blobs:
            self._restart()
            return ScreeningResult(ScreeningState.WAITING, "step onto the mark, facing the camera")
        face = blobs[0]
        if face.pixels < subject.min_blob_pixels:
            self._restart()
            return ScreeningResult(ScreeningState.WAITING, "step closer to the camera")
        return self._measure(face)

    def _measure(self, face: Blob) -> ScreeningResult:
        needed = self._config.subject.stable_frames
        if not self._is_still(face):
            self._samples = []
        self._samples.append(face.reading_c)
        self._last_face = face
        if len(self._samples) < needed:
            return ScreeningResult(
                ScreeningState.MEASURING, f"hold still ({len(self._samples)}/{needed})"
            )
        reading = subject_reading(self._samples)
        decision = self._rule.decide(reading)
        result = ScreeningResult(
            _SCREENED[decision.verdict],
            self._message(decision.verdict),
            new_subject=True,
            reading_c=reading,
            threshold_c=decision.threshold_c,
        )
        self._restart()
        self._held = replace(result, new_subject=False)
        return result

    def _is_still(self, face: Blob) -> bool:
        last = self._last_face
        if last is None:
            return False
        shift = math.dist(face.centre, last.centre)
        growth = abs(face.pixels - last.pixels) / last.pixels
        return shift <= self._config.subject.max_shift and growth <= _MAX_AREA_CHANGE

    def _hold(self, blobs: list[Blob]) -> ScreeningResult:
        held = self._held
        assert held is not None
        self._empty_frames = 0 if blobs else self._empty_frames + 1
        if self._empty_frames < self._config.subject.clear_frames:
            return held
        self._held = None
        self._empty_frames = 0
        return ScreeningResult(ScreeningState.WAITING, "step onto the mark, facing the camera")

    def _pause(self, reason: str) -> ScreeningResult:
        # A decision already shown stays held; a measurement in progress starts again.
        self._restart()
        return ScreeningResult(ScreeningState.PAUSED, reason)

    def _restart(self) -> None:
        self._samples = []
        self._last_face = None

    def _message(self, verdict: Verdict) -> str:
        if verdict is Verdict.ALERT:
            return "elevated skin temperature: please confirm with a clinical thermometer"
        if verdict is Verdict.PASS:
            return "no elevated skin temperature detected"
        rule = self._rule
        if isinstance(rule, RelativeBaselineRule):
            return (
                f"baseline warming up ({rule.baseline_count}/{rule.size}): "
                "no decision for this person"
            )
        return "baseline warming up: no decision for this person"


def alert_message(camera: str, at: datetime) -> dict[str, str]:
    """The optional local MQTT alert: that an alert happened, where and when. Nothing else."""
    return {"event": "elevated-skin-temperature", "camera": camera, "time": utc_iso(at)}
