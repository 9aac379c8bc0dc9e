"""Compare what onsight reported on a camera with its ground truth; the stable JSON report."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onsight.config.models import CameraConfig
from onsight.evaluate.matching import TOLERANCE_S, LineScore, score_line, total
from onsight.evaluate.replay import Observed
from onsight.evaluate.truth import Sequence

SCHEMA = "onsight.evaluate/1"


@dataclass(frozen=True, slots=True)
class ZoneScore:
    """Occupancy over the analysed frames, true and measured."""

    frames: int
    true_mean: float
    measured_mean: float
    true_peak: int
    measured_peak: int
    frame_mae: float  # mean over frames of |measured - true|

    @property
    def mean_error(self) -> float | None:
        """Relative error of the mean (None when nobody was ever in the zone)."""
        if self.true_mean == 0:
            return None
        return abs(self.measured_mean - self.true_mean) / self.true_mean

    @property
    def phantom(self) -> bool:
        """Nobody was in the zone, yet onsight saw someone there."""
        return self.true_mean == 0 and self.measured_mean > 0

    def as_dict(self) -> dict[str, float | int | None]:
        error = self.mean_error
        return {
            "frames": self.frames,
            "true_mean": round(self.true_mean, 4),
            "measured_mean": round(self.measured_mean, 4),
            "true_peak": self.true_peak,
            "measured_peak": self.measured_peak,
            "mean_error": None if error is None else round(error, 4),
            "frame_mae": round(self.frame_mae, 4),
        }


@dataclass(frozen=True)
class CameraReport:
    camera: str
    frames: int
    lines: dict[str, LineScore]
    zones: dict[str, ZoneScore]

    @property
    def lines_total(self) -> LineScore:
        return total(self.lines.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "lines": {name: score.as_dict() for name, score in self.lines.items()},
            "lines_total": self.lines_total.as_dict(),
            "zones": {name: score.as_dict() for name, score in self.zones.items()},
        }


def compare(
    camera: CameraConfig, truth: Sequence, observed: Observed, tolerance: float = TOLERANCE_S
) -> CameraReport:
    lines = {
        line.name: score_line(truth.crossings(line), observed.crossings[line.name], tolerance)
        for line in camera.lines
    }
    zones = {}
    for zone in camera.zones:
        samples = observed.occupancy[zone.name]
        measured = np.array(list(samples.values()), np.float64)
        true = np.array(
            [truth.occupancy(zone, truth.frame_at(pts)) for pts in samples], np.float64
        )
        zones[zone.name] = ZoneScore(
            frames=len(samples),
            true_mean=float(true.mean()) if len(true) else 0.0,
            measured_mean=float(measured.mean()) if len(measured) else 0.0,
            true_peak=int(true.max()) if len(true) else 0,
            measured_peak=int(measured.max()) if len(measured) else 0,
            frame_mae=float(np.abs(measured - true).mean()) if len(true) else 0.0,
        )
    return CameraReport(camera.name, observed.frames, lines, zones)


def report_dict(reports: list[CameraReport], tolerance: float = TOLERANCE_S) -> dict[str, object]:
    """The `--json` document (schema documented in README, "Evaluating an installation")."""
    errors = [e for r in reports for z in r.zones.values() if (e := z.mean_error) is not None]
    phantoms = [f"{r.camera}/{name}" for r in reports for name, z in r.zones.items() if z.phantom]
    return {
        "schema": SCHEMA,
        "tolerance_seconds": tolerance,
        "cameras": {r.camera: r.as_dict() for r in reports},
        "overall": {
            "lines": total(r.lines_total for r in reports).as_dict(),
            "zone_mean_error": round(float(np.mean(errors)), 4) if errors else None,
            "phantom_zones": phantoms,
        },
    }
