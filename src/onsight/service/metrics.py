"""Prometheus `/metrics`: pipeline, bus and sink counters, read at scrape time.

Labels are camera and sink names only: nothing per person, per track or per event.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from onsight.events import EventStore
from onsight.runtime import Runner

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Optional sink attributes exported when a sink has them: (attribute, metric, kind, help).
_SINK_FIELDS = (
    ("pending", "onsight_sink_queue_depth", "gauge", "Events waiting in a sink's queue."),
    ("delivered", "onsight_sink_delivered", "counter", "Events a sink delivered."),
    ("dropped", "onsight_sink_dropped", "counter", "Events a full sink queue dropped."),
    ("dead_letters", "onsight_sink_dead_letters", "gauge", "Deliveries given up on."),
    ("connected", "onsight_sink_connected", "gauge", "1 when the sink's peer is reachable."),
    ("reconnects", "onsight_sink_reconnects", "counter", "Reconnections to the sink's peer."),
)


class _RunnerCollector(Collector):
    def __init__(self, runner: Runner, sinks: Sequence[object]) -> None:
        self._runner = runner
        self._sinks = sinks

    def collect(self) -> Iterator[Metric]:
        yield from self._cameras()
        bus = self._runner.bus
        yield _gauge("onsight_event_bus_queue_depth", "Events not yet written.", bus.pending)
        yield _counter("onsight_events_published", "Events put on the bus.", bus.published)
        yield _counter(
            "onsight_event_bus_blocked", "Times a full bus made a camera wait.", bus.blocked
        )
        yield _counter(
            "onsight_event_sink_failures", "Batches a sink failed to take.", bus.failed_batches
        )
        yield from self._sink_metrics()
        yield from _store_metrics(self._runner.store)

    def _cameras(self) -> Iterator[Metric]:
        labels = ["camera"]
        decoded = CounterMetricFamily(
            "onsight_frames_decoded", "Frames decoded from the source.", labels=labels
        )
        analysed = CounterMetricFamily(
            "onsight_frames_analysed", "Frames analysed at the camera's rate.", labels=labels
        )
        detected = CounterMetricFamily(
            "onsight_frames_detected", "Analysed frames the detector ran on.", labels=labels
        )
        skip = GaugeMetricFamily(
            "onsight_skip_ratio", "Share of analysed frames without detection.", labels=labels
        )
        fps = GaugeMetricFamily("onsight_analysis_fps", "Recent analysed fps.", labels=labels)
        connected = GaugeMetricFamily(
            "onsight_camera_connected", "1 when the source delivers.", labels=labels
        )
        reconnects = CounterMetricFamily(
            "onsight_source_reconnects", "Times frames came again after an outage.", labels=labels
        )
        errors = CounterMetricFamily(
            "onsight_decode_errors", "Damaged packets skipped.", labels=labels
        )
        restarts = CounterMetricFamily(
            "onsight_worker_restarts",
            "Times the camera's decoding worker was started again (crashed or hung).",
            labels=labels,
        )
        events = CounterMetricFamily("onsight_events_emitted", "Events emitted.", labels=labels)
        latency = HistogramMetricFamily(
            "onsight_detector_latency_seconds", "Detector wall time per frame.", labels=labels
        )
        for camera in self._runner.cameras:
            name = [camera.name]
            health = camera.health()
            decoded.add_metric(name, health.frames_decoded)
            analysed.add_metric(name, health.frames_analysed)
            detected.add_metric(name, camera.detected_frames)
            skip.add_metric(name, health.skip_ratio)
            fps.add_metric(name, health.fps)
            connected.add_metric(name, float(health.connected))
            reconnects.add_metric(name, health.reconnects)
            errors.add_metric(name, health.decode_errors)
            restarts.add_metric(name, health.restarts)
            events.add_metric(name, health.events)
            snap = camera.detect_latency()
            counts = [float(c) for c in snap.cumulative]
            buckets = [(repr(b), c) for b, c in zip(snap.bounds, counts[:-1], strict=True)]
            buckets.append(("+Inf", counts[-1]))
            latency.add_metric(name, buckets, snap.total)
        yield from (decoded, analysed, detected, skip, fps, connected, reconnects, errors)
        yield from (restarts, events, latency)

    def _sink_metrics(self) -> Iterator[Metric]:
        for attribute, metric, kind, help_text in _SINK_FIELDS:
            family_type = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
            family = family_type(metric, help_text, labels=["sink"])
            found = False
            for sink in self._sinks:
                value = getattr(sink, attribute, None)
                if isinstance(value, bool | int | float):
                    family.add_metric([sink_name(sink)], float(value))
                    found = True
            if found:
                yield family


def _store_metrics(store: EventStore) -> Iterator[Metric]:
    yield _gauge(
        "onsight_store_buffered_events",
        "Events held in memory because the event store cannot write (disk full).",
        store.held,
    )
    yield _gauge(
        "onsight_store_writable",
        "0 while the event store's disk refuses writes.",
        not store.problem,
    )
    yield _counter(
        "onsight_store_write_failures",
        "Writes the event store's disk refused.",
        store.write_failures,
    )
    yield _counter(
        "onsight_store_dropped_events",
        "Events lost: memory buffer full while disk full.",
        store.dropped,
    )


def sink_name(sink: object) -> str:
    """How metrics and the health page name a sink: "mqtt", "webhook"."""
    return type(sink).__name__.removesuffix("Sink").lower()


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help_text, value=value)


def render_metrics(runner: Runner, sinks: Sequence[object] = ()) -> tuple[bytes, str]:
    """The Prometheus text exposition of `runner` and `sinks` right now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RunnerCollector(runner, sinks))
    return generate_latest(registry), CONTENT_TYPE
