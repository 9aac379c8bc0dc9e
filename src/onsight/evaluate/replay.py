"""Run one camera on its recording and record what the evaluation compares: crossings with
their source time, each analysed frame's zone occupancy and queue length, the queue waits
and the restricted-area alerts. Nothing is stored."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from onsight.apps.occupancy import KIND as ZONES
from onsight.apps.queue import KIND as QUEUES
from onsight.apps.restricted import RestrictedAlert
from onsight.config.models import CameraConfig
from onsight.detect.protocol import Detector
from onsight.events import EventBus
from onsight.runtime import CameraPipeline, FrameResult
from onsight.types import Direction, Event, LineCrossing

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Sink:
    write: Callable[[Sequence[Event]], None]


@dataclass(frozen=True, slots=True)
class CountedCrossing:
    time: float  # seconds of source time
    direction: Direction


@dataclass
class Observed:
    """What onsight reported on one camera."""

    frames: int = 0
    crossings: dict[str, list[CountedCrossing]] = field(default_factory=dict)
    occupancy: dict[str, dict[float, int]] = field(default_factory=dict)  # zone -> pts -> count
    queue_length: dict[str, dict[float, int]] = field(default_factory=dict)  # queue -> pts -> n
    waits: dict[str, list[float]] = field(default_factory=dict)  # queue -> every visit's wait
    alerts: dict[str, int] = field(default_factory=dict)  # restricted area -> alerts


def observe(
    camera: CameraConfig,
    detector: Detector,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> Observed:
    """Run `camera` (a file) to its end through the real pipeline; `on_frame` sees each
    analysed frame's result too (progress, or a peer counter fed the same tracks)."""
    observed = Observed(
        crossings={line.name: [] for line in camera.lines},
        occupancy={zone.name: {} for zone in camera.zones},
        queue_length={queue.name: {} for queue in camera.queues},
        alerts={area.name: 0 for area in camera.restricted},
    )

    def collect(events: Sequence[Event]) -> None:
        # Every crossing the store would get, also those counted when the recording ends.
        for event in events:
            if isinstance(event, LineCrossing):
                seconds = (event.time - _EPOCH).total_seconds()
                observed.crossings[event.line].append(CountedCrossing(seconds, event.direction))
            elif isinstance(event, RestrictedAlert):
                observed.alerts[event.area] += 1

    bus = EventBus([_Sink(collect)])
    pipeline = CameraPipeline(camera, detector, bus, started=_EPOCH)

    def record(result: FrameResult) -> None:
        for zone in pipeline.running(ZONES):
            observed.occupancy[zone.config.name][result.frame.pts] = zone.current
        for queue in pipeline.running(QUEUES):
            observed.queue_length[queue.config.name][result.frame.pts] = queue.length
        if on_frame is not None:
            on_frame(result)

    try:
        pipeline.run(record)
    finally:
        bus.close()
    observed.frames = pipeline.frames
    observed.waits = {queue.config.name: list(queue.waits) for queue in pipeline.running(QUEUES)}
    return observed
