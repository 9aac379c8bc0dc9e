"""Compare what onsight reported on a camera with its ground truth; the stable JSON report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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


def _relative(measured: float | None, true: float | None) -> float | None:
    if measured is None or true is None or true == 0:
        return None
    return abs(measured - true) / true


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


@dataclass(frozen=True, slots=True)
class QueueScore:
    """Queue length over the analysed frames and waits per visit, true and measured.
    (The waits here are over every visit, before the k >= 5 release rule.)"""

    frames: int
    true_mean_length: float
    measured_mean_length: float
    true_waits: list[float]
    measured_waits: list[float]

    @property
    def length_error(self) -> float | None:
        return _relative(self.measured_mean_length, self.true_mean_length)

    @property
    def wait_error(self) -> float | None:
        return _relative(_median(self.measured_waits), _median(self.true_waits))

    def as_dict(self) -> dict[str, float | int | None]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "frames": self.frames,
            "true_mean_length": r(self.true_mean_length),
            "measured_mean_length": r(self.measured_mean_length),
            "length_error": r(self.length_error),
            "true_visits": len(self.true_waits),
            "measured_visits": len(self.measured_waits),
            "true_median_wait_s": r(_median(self.true_waits)),
            "measured_median_wait_s": r(_median(self.measured_waits)),
            "wait_error": r(self.wait_error),
        }


@dataclass(frozen=True, slots=True)
class AreaScore:
    """Restricted-area alerts against the true stays longer than `after_seconds`."""

    true_stays: int
    alerts: int

    @property
    def error(self) -> float | None:
        return _relative(float(self.alerts), float(self.true_stays))

    def as_dict(self) -> dict[str, float | int | None]:
        error = self.error
        return {
            "true_stays": self.true_stays,
            "alerts": self.alerts,
            "error": None if error is None else round(error, 4),
        }


@dataclass(frozen=True)
class CameraReport:
    camera: str
    frames: int
    lines: dict[str, LineScore]
    zones: dict[str, ZoneScore]
    queues: dict[str, QueueScore] = field(default_factory=dict)
    restricted: dict[str, AreaScore] = field(default_factory=dict)

    @property
    def lines_total(self) -> LineScore:
        return total(self.lines.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "frames": self.frames,
            "lines": {name: score.as_dict() for name, score in self.lines.items()},
            "lines_total": self.lines_total.as_dict(),
            "zones": {name: score.as_dict() for name, score in self.zones.items()},
            "queues": {name: score.as_dict() for name, score in self.queues.items()},
            "restricted": {name: score.as_dict() for name, score in self.restricted.items()},
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
        true = np.array([truth.occupancy(zone, truth.frame_at(pts)) for pts in samples], np.float64)
        zones[zone.name] = ZoneScore(
            frames=len(samples),
            true_mean=float(true.mean()) if len(true) else 0.0,
            measured_mean=float(measured.mean()) if len(measured) else 0.0,
            true_peak=int(true.max()) if len(true) else 0,
            measured_peak=int(measured.max()) if len(measured) else 0,
            frame_mae=float(np.abs(measured - true).mean()) if len(true) else 0.0,
        )
    lines_by_name = {line.name: line for line in camera.lines}
    queues = {}
    for queue in camera.queues:
        served = lines_by_name.get(queue.served_line or "")
        ends = None if served is None else _points(served.points)
        lengths = observed.queue_length[queue.name]
        queues[queue.name] = QueueScore(
            frames=len(lengths),
            true_mean_length=truth.mean_occupancy(queue.polygon, list(lengths)),
            measured_mean_length=float(np.mean(list(lengths.values()))) if lengths else 0.0,
            true_waits=truth.spells(queue.polygon, ends),
            measured_waits=observed.waits.get(queue.name, []),
        )
    restricted = {
        area.name: AreaScore(
            true_stays=sum(s >= area.after_seconds for s in truth.spells(area.polygon)),
            alerts=observed.alerts[area.name],
        )
        for area in camera.restricted
    }
    return CameraReport(camera.name, observed.frames, lines, zones, queues, restricted)


def _points(points: list[list[float]]) -> tuple[tuple[float, float], tuple[float, float]]:
    (ax, ay), (bx, by) = points
    return (ax, ay), (bx, by)


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
            "queue_length_error": _mean_of(
                q.length_error for r in reports for q in r.queues.values()
            ),
            "queue_wait_error": _mean_of(q.wait_error for r in reports for q in r.queues.values()),
            "restricted_alert_error": _mean_of(
                a.error for r in reports for a in r.restricted.values()
            ),
        },
    }


def _mean_of(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(float(np.mean(known)), 4) if known else None
