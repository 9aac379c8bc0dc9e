"""The one narrow way the web service reads and commands a running camera.

The dashboard and the API get counts, health, metrics figures, the latest frame and recent
alert frames (as redacted JPEGs only: no raw pixel leaves through here) and geometry
commands from a `CameraHandle`, never from the live `CameraPipeline` behind it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel

from onsight.apps.base import AppKind
from onsight.apps.inspection import KIND as INSPECTION
from onsight.apps.inspection import Inspector
from onsight.config._base import Polygon
from onsight.config.calibration import KEEP, CalibrationConfig
from onsight.config.models import CameraConfig
from onsight.privacy.redact import Finders, encode_redacted, redact
from onsight.runtime.stats import CameraHealth, HistogramSnapshot
from onsight.types import Event

if TYPE_CHECKING:
    from onsight.config import LoadedConfig
    from onsight.runtime.pipeline import CameraPipeline, FrameResult
    from onsight.runtime.runner import Runner

C = TypeVar("C", bound=BaseModel)

JPEG_QUALITY = 80  # the live view, snapshots and alert frames


@dataclass(frozen=True)
class Alert:
    """A recent alert of the camera; its frame, redacted: `CameraHandle.alert_jpeg`."""

    number: int  # running number of alerts on this camera since start
    event: Event


class CameraHandle:
    """One camera as the service sees it; made by the `Runner` around its pipeline."""

    def __init__(self, pipeline: CameraPipeline, runner: Runner) -> None:
        self._pipeline = pipeline
        self._runner = runner
        self._redacting = threading.Lock()  # a second viewer of a frame waits for the first
        self._last: tuple[FrameResult, Finders, bytes] | None = None

    @property
    def name(self) -> str:
        return self._pipeline.camera.name

    @property
    def config(self) -> CameraConfig:
        """The camera's config as it runs now (geometry edits included)."""
        return self._pipeline.camera

    def error(self) -> str | None:
        """Why the runner gave the camera up (unscrubbed), or None while it runs."""
        return self._runner.errors.get(self.name)

    def health(self) -> CameraHealth:
        """The pipeline's health; `failed` with the runner's error when it was given up."""
        health = self._pipeline.health()
        error = self.error()
        return health if error is None else replace(health, state="failed", reason=error)

    def states(self, kind: AppKind[Any, Any]) -> list[dict[str, Any]]:
        """The live state of each running item of `kind` (none if the kind has no state)."""
        if kind.state is None:
            return []
        return [kind.state(app) for app in self._pipeline.running(kind)]

    def items(self, kind: AppKind[C, Any]) -> list[C]:
        """The configs of the running items of `kind`."""
        return [app.config for app in self._pipeline.running(kind)]

    @property
    def detected_frames(self) -> int:
        """Analysed frames the detector ran on."""
        return self._pipeline.detected_frames

    def detect_latency(self) -> HistogramSnapshot:
        return self._pipeline.detect_latency.snapshot()

    @property
    def frames_analysed(self) -> int:
        """Frames analysed so far: a new value means a new latest frame."""
        return self._pipeline.frames

    def has_frame(self) -> bool:
        return self._pipeline.latest() is not None

    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) of the latest analysed frame; None before the first."""
        result = self._pipeline.latest()
        return None if result is None else (result.frame.width, result.frame.height)

    def latest_jpeg(self, finders: Finders) -> bytes | None:
        """The latest analysed frame, redacted, as JPEG; None before the first. Redaction
        runs once per frame however many viewers ask (it runs a detector)."""
        with self._redacting:
            result = self._pipeline.latest()
            if result is None:
                return None
            last = self._last
            if last is not None and last[0] is result and last[1] is finders:
                return last[2]
            jpeg = self._redacted_jpeg(result, finders)
            self._last = (result, finders, jpeg)
            return jpeg

    def alerts(self) -> list[Alert]:
        """The most recent alerts, newest first."""
        return [Alert(shot.number, shot.event) for shot in self._pipeline.alerts()]

    def alert_jpeg(self, number: int, finders: Finders) -> bytes | None:
        """The frame alert `number` came from, redacted, as JPEG; None once no longer kept."""
        shot = next((s for s in self._pipeline.alerts() if s.number == number), None)
        return None if shot is None else self._redacted_jpeg(shot.result, finders)

    def inspector(self) -> Inspector | None:
        """The camera's inspection app (rejects, learning a reference); None if it has none."""
        running = self._pipeline.running(INSPECTION)
        return running[0] if running else None

    def change_geometry(
        self,
        loaded: LoadedConfig,
        sections: Mapping[str, Sequence[Any]],
        ignore: list[Polygon],
        actor: str,
        calibration: CalibrationConfig | Literal["keep"] | None = KEEP,
        renamed: Mapping[str, Mapping[str, str]] | None = None,
    ) -> LoadedConfig:
        """`Runner.change_geometry` for this camera: applied, saved, audited; raises
        ConfigError having changed nothing. Returns the config reloaded."""
        return self._runner.change_geometry(
            loaded, self.name, sections, ignore, actor, calibration, renamed
        )

    def _redacted_jpeg(self, result: FrameResult, finders: Finders) -> bytes:
        redaction = redact(result.frame.image, self.config, finders, people=result.people)
        return encode_redacted(redaction, ".jpg", JPEG_QUALITY)
