"""Room conditions gate: screening is blocked outside the configured temperature/humidity range.

Face skin temperature follows the room: in a cold or hot, dry or humid room the face-to-core
difference changes and thresholds set elsewhere stop meaning the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from onsight.config.screening import EnvironmentConfig


@dataclass(frozen=True, slots=True)
class RoomReading:
    ambient_c: float
    humidity_pct: float
    at: float  # monotonic seconds


class EnvironmentCheck:
    """Holds the latest room reading (manual values or a sensor) and says why it blocks."""

    def __init__(self, config: EnvironmentConfig) -> None:
        self._config = config
        self._latest: RoomReading | None = None

    def record(self, ambient_c: float, humidity_pct: float, now: float) -> None:
        """A sensor reading arrived (the runtime feeds `sensor_topic` messages here)."""
        self._latest = RoomReading(ambient_c, humidity_pct, now)

    def problem(self, now: float) -> str | None:
        cfg = self._config
        if cfg.source == "manual":
            if cfg.ambient_c is None or cfg.humidity_pct is None:  # refused by the config
                return "room conditions not configured"
            return self.out_of_range(cfg.ambient_c, cfg.humidity_pct)
        latest = self._latest
        if latest is None:
            return f"no room reading yet from sensor topic {cfg.sensor_topic}"
        age = now - latest.at
        if age > cfg.sensor_max_age_s:
            return f"room reading is stale ({age:.0f} s old, limit {cfg.sensor_max_age_s:g} s)"
        return self.out_of_range(latest.ambient_c, latest.humidity_pct)

    def out_of_range(self, ambient_c: float, humidity_pct: float) -> str | None:
        cfg = self._config
        if not cfg.ambient_min_c <= ambient_c <= cfg.ambient_max_c:
            return (
                f"room temperature {ambient_c:.1f} °C is outside "
                f"{cfg.ambient_min_c:g}-{cfg.ambient_max_c:g} °C"
            )
        if not cfg.humidity_min_pct <= humidity_pct <= cfg.humidity_max_pct:
            return (
                f"relative humidity {humidity_pct:.0f} % is outside "
                f"{cfg.humidity_min_pct:g}-{cfg.humidity_max_pct:g} %"
            )
        return None
