"""Runs every camera of a config in its own thread, with one event bus and store."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from onsight.config import Config, LoadedConfig
from onsight.config._base import Polygon
from onsight.config.calibration import KEEP, CalibrationConfig
from onsight.config.editor import save_geometry
from onsight.detect import make_detector
from onsight.errors import ConfigError, OnsightError
from onsight.events import EventBus, EventStore
from onsight.events.bus import Sink
from onsight.events.mqtt import MqttSink
from onsight.privacy.audit import AuditLog, config_load_detail
from onsight.privacy.retention import Retention
from onsight.runtime.pipeline import CameraPipeline, FrameResult
from onsight.runtime.screening import Display, ScreeningPipeline
from onsight.runtime.sinks import close_sinks, open_sinks
from onsight.thermal.local_mqtt import LocalMqtt

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    summary: dict[str, object]
    errors: dict[str, str] = field(default_factory=dict)


class Runner:
    """Owns the pipelines; `start`, then `wait` (files) or `stop` (live / Ctrl-C)."""

    def __init__(
        self,
        loaded: LoadedConfig,
        on_frame: Callable[[CameraPipeline, FrameResult], None] | None = None,
        extra_sinks: Sequence[Sink] = (),
        on_screening: Display | None = None,
        start_time: datetime | None = None,
    ) -> None:
        """Every event goes to the local store, then to the config's opt-in sinks (MQTT,
        webhooks: opened here, closed in `close`) and `extra_sinks`; `on_screening` is the
        local display of screening stations. `start_time` stamps events from recordings
        with the time they were recorded (start + position in the file); live cameras
        always use the clock."""
        config = loaded.config
        self.audit = AuditLog(loaded.resolve(config.privacy.audit_log))
        self.audit.append("config_load", **config_load_detail(loaded.path))
        self.store = EventStore(loaded.database_path)
        try:
            self.sinks = open_sinks(loaded)
        except Exception:
            self.store.close()
            self.audit.close()
            raise
        self.bus = EventBus([self.store, *self.sinks, *extra_sinks])
        self.pipelines: list[CameraPipeline] = []
        self.stations: list[ScreeningPipeline] = []
        self._local_mqtt: LocalMqtt | None = None
        self.retention = Retention(
            config.privacy.retention, self.store, loaded.resolve(config.privacy.media_dir)
        )
        self._stopping = threading.Event()
        self._edit_lock = threading.Lock()
        try:
            self._enforce_retention()
            for camera in config.cameras:
                if camera.screening is not None:
                    self.stations.append(
                        ScreeningPipeline(
                            camera, self.store, display=on_screening, mqtt=self._mqtt(config)
                        )
                    )
                    continue
                detector = make_detector(
                    config.detector.model,
                    config.detector.backend,
                    score_threshold=config.detector.confidence,
                    threads=config.detector.threads,
                )
                self.pipelines.append(
                    CameraPipeline(camera, detector, self.bus, started=start_time)
                )
        except Exception:
            self.close()
            raise
        self._on_frame = on_frame
        self.errors: dict[str, str] = {}
        self._threads: list[threading.Thread] = []

    def change_geometry(
        self,
        loaded: LoadedConfig,
        camera: str,
        sections: Mapping[str, Sequence[Any]],
        ignore: list[Polygon],
        actor: str,
        calibration: CalibrationConfig | Literal["keep"] | None = KEEP,
    ) -> LoadedConfig:
        """A camera's new app items (config section -> items, validated as a camera config)
        and ignored areas, from the next frame on and in the config file; returns the
        config reloaded from the file.

        If the file cannot be written, the camera goes back to what it ran before. Home
        Assistant is told of new and removed entities, and the change is audited. Raises
        ConfigError (having changed nothing) when the result is refused.
        """
        pipeline = next((p for p in self.pipelines if p.camera.name == camera), None)
        if pipeline is None:
            raise ConfigError(f"no camera named {camera!r} is running")
        with self._edit_lock:  # one edit at a time: the file and the pipeline change together
            before = {key: list(getattr(pipeline.camera, key)) for key in sections}
            ignored_before, calibrated_before = pipeline.camera.ignore, pipeline.camera.calibration
            pipeline.apply_geometry(sections, ignore, calibration)  # changes nothing if it raises
            try:
                loaded = save_geometry(loaded, camera, sections, ignore, calibration)
            except ConfigError:
                pipeline.apply_geometry(before, ignored_before, calibrated_before)
                raise
        for sink in self.sinks:
            if isinstance(sink, MqttSink):
                sink.update_cameras(list(loaded.config.cameras))
        self.audit.append(
            "config_change",
            actor=actor,
            camera=camera,
            **{key: [item.name for item in items] for key, items in sections.items()},
            ignored_areas=len(ignore),
            calibration_points=None
            if calibration == KEEP or calibration is None
            else len(calibration.image),
            source="editor",
        )
        return loaded

    def _mqtt(self, config: Config) -> LocalMqtt | None:
        """The local broker link for screening alerts and room sensors, made once if needed."""
        if config.mqtt is None:
            return None
        if self._local_mqtt is None:
            self._local_mqtt = LocalMqtt(config.mqtt, client_id=f"onsight-{config.site}-screening")
        return self._local_mqtt

    def _enforce_retention(self) -> None:
        report = self.retention.enforce()
        if report.total:
            self.audit.append("retention", rows=report.rows, media_files=report.media_files)

    def _retention_loop(self) -> None:
        interval = self.retention.settings.check_minutes * 60.0
        while not self._stopping.wait(interval):
            try:
                self._enforce_retention()
            except Exception:  # retention must not stop analysis; it retries next round
                log.exception("retention failed")

    def start(self) -> None:
        workers = self._workers()
        self.audit.append("start", cameras=[p.camera.name for p in workers])
        threading.Thread(target=self._retention_loop, name="retention", daemon=True).start()
        if self._local_mqtt is not None:
            self._local_mqtt.start()
        for pipeline in workers:
            thread = threading.Thread(
                target=self._run_camera, args=(pipeline,), name=f"camera-{pipeline.camera.name}"
            )
            thread.start()
            self._threads.append(thread)

    def _workers(self) -> list[CameraPipeline | ScreeningPipeline]:
        return [*self.pipelines, *self.stations]

    def _run_camera(self, pipeline: CameraPipeline | ScreeningPipeline) -> None:
        name = pipeline.camera.name
        if isinstance(pipeline, ScreeningPipeline):
            self._guard(name, pipeline.run)
            return
        callback = None
        if self._on_frame is not None:
            on_frame = self._on_frame

            def callback(result: FrameResult) -> None:
                on_frame(pipeline, result)

        self._guard(name, lambda: pipeline.run(callback))

    def _guard(self, name: str, run: Callable[[], None]) -> None:
        try:
            run()
        except OnsightError as exc:
            self.errors[name] = str(exc)
        except Exception as exc:  # keep other cameras and recorded events alive
            log.exception("camera %r stopped on an unexpected error", name)
            self.errors[name] = f"camera {name!r}: unexpected error: {type(exc).__name__}"

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def wait(self, poll: Callable[[], None] | None = None, interval: float = 0.5) -> None:
        while self.running:
            if poll is not None:
                poll()
            time.sleep(interval)
        for thread in self._threads:
            thread.join()

    def stop(self) -> None:
        for pipeline in self._workers():
            pipeline.stop.set()
        for thread in self._threads:
            thread.join()

    def summary(self) -> dict[str, object]:
        workers = self._workers()
        return {"cameras": {p.camera.name: p.summary() for p in workers}}

    def close(self) -> None:
        """Write pending events, give the sinks a few seconds to deliver (what they cannot
        stays in their on-disk queues), close the store (idempotent)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        self._stopping.set()
        if self._local_mqtt is not None:
            self._local_mqtt.close()
        self.bus.close()
        close_sinks(self.sinks)  # after the bus: they get its last batch
        self.store.close()
        self.audit.append("stop")
        self.audit.close()
