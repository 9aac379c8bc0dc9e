"""One screening camera: radiometric frames -> station -> local display, hourly counts.

What leaves this module: state messages for the local station display (never logged), an
optional local MQTT alert without temperature, and k-suppressed hourly counts in the store.
Readings live in memory for the one frame that decides (privacy rule 9).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from onsight.config.models import CameraConfig
from onsight.config.screening import ScreeningConfig
from onsight.events.store import EventStore
from onsight.thermal.hourly import HourlyCounter, ScreeningHour
from onsight.thermal.local_mqtt import LocalMqtt
from onsight.thermal.source import thermal_frames
from onsight.thermal.station import (
    ScreeningResult,
    ScreeningState,
    ScreeningStation,
    alert_message,
)

Display = Callable[[str, ScreeningResult], None]  # camera name, what the station shows


def _display_key(result: ScreeningResult) -> tuple[str, str]:
    """What must change for the display to be redrawn: the state, or its text beyond numbers
    (so "hold still (2/3)" or a settling countdown does not flood a terminal)."""
    return result.state, re.sub(r"[0-9.]+", "#", result.message)


class ScreeningPipeline:
    """Runs one screening station; `run` in one thread, `stop` from any."""

    def __init__(
        self,
        camera: CameraConfig,
        store: EventStore,
        *,
        display: Display | None = None,
        mqtt: LocalMqtt | None = None,
        started: datetime | None = None,
    ) -> None:
        if camera.screening is None:
            raise ValueError(f"camera {camera.name!r} has no screening section")
        self.camera = camera
        self.settings: ScreeningConfig = camera.screening
        self.stop = threading.Event()
        self.frames = 0
        self.state_message = "starting"  # for the local display only
        # For remote views (health page): whether screening runs, never a decision (rule 9).
        self.operational = "starting"
        self._store = store
        self._display = display
        self._mqtt = mqtt
        self._started = started or datetime.now(UTC)
        self._live = camera.url.startswith("/dev/video")
        self._station = ScreeningStation(self.settings)
        self._hours = HourlyCounter(camera.name, k=self.settings.k_anonymity)
        self._room: tuple[float, float] | None = None  # latest sensor reading, not yet applied
        self._room_lock = threading.Lock()
        self._clock = 0.0
        if mqtt is not None and self.settings.environment.source == "sensor":
            topic = self.settings.environment.sensor_topic
            assert topic is not None  # the config validator requires it for `sensor`
            mqtt.on_room_reading(topic, self._on_room_reading)

    def run(self, on_frame: Callable[[ScreeningResult], None] | None = None) -> None:
        """Screen frames until the source ends or `stop` is set; then store the open hours."""
        shown: tuple[str, str] | None = None
        try:
            frames = thermal_frames(
                self.camera.name,
                self.camera.url,
                self.camera.fps,
                self.settings.tlinear_resolution_k,
                self.stop,
            )
            for sample in frames:
                self._clock = time.monotonic() if self._live else sample.seconds
                moment = (
                    datetime.now(UTC)
                    if self._live
                    else self._started + timedelta(seconds=sample.seconds)
                )
                self._apply_room_reading()
                result = self._station.update(sample.celsius, self._clock)
                self.frames += 1
                self.operational = (
                    f"paused: {result.message}"
                    if result.state is ScreeningState.PAUSED
                    else "screening"
                )
                self._hours.add(result, moment)
                if result.alert and result.new_subject:
                    self._send_alert(moment)
                if _display_key(result) != shown:
                    shown = _display_key(result)
                    self.state_message = f"{result.state}: {result.message}"
                    if self._display is not None:
                        self._display(self.camera.name, result)
                if on_frame is not None:
                    on_frame(result)
                self._store_hours(self._hours.flush(moment))
        finally:
            self.operational = "stopped"
            self._store_hours(self._hours.flush_all())

    def summary(self) -> dict[str, object]:
        return {"frames": self.frames, "screening": self.state_message}

    def _store_hours(self, hours: list[ScreeningHour]) -> None:
        if hours:
            self._store.write_screening_hours([hour.as_row() for hour in hours])

    def _send_alert(self, moment: datetime) -> None:
        topic = self.settings.alert_topic
        if self._mqtt is not None and topic is not None:
            self._mqtt.publish_alert(topic, alert_message(self.camera.name, moment))

    def _on_room_reading(self, ambient_c: float, humidity_pct: float) -> None:
        with self._room_lock:
            self._room = (ambient_c, humidity_pct)

    def _apply_room_reading(self) -> None:
        # Sensor readings arrive on the MQTT thread; the station is touched by this one only.
        with self._room_lock:
            room, self._room = self._room, None
        if room is not None:
            self._station.record_environment(room[0], room[1], self._clock)
