"""Prometheus exposition of a real runner: per-camera counters, latency histogram, sinks."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from onsight.config import load_config
from onsight.runtime import Runner
from onsight.service.metrics import render_metrics
from tests.conftest import assets_dir, require


class QueueSink:
    """A sink shape as MQTT and webhooks have it: only its counters matter here."""

    pending = 7
    delivered = 3
    connected = False

    def write(self, events: object) -> None:
        pass


def test_metrics_cover_frames_latency_skip_reconnects_queues_and_events(tmp_path: Path) -> None:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    config = tmp_path / "onsight.yaml"
    config.write_text(
        f"""cameras:
  - name: square
    url: "{video}"
    fps: 10
    lines: [{{name: path, points: [[0.45, 0.25], [0.45, 1.0]]}}]
""",
        encoding="utf-8",
    )
    sink = QueueSink()
    runner = Runner(load_config(config), extra_sinks=[sink])
    try:
        pipeline = runner.pipelines[0]
        frames = iter(pipeline.source.frames())
        for _ in range(40):
            pipeline.process(next(frames))
        body, content_type = render_metrics(runner, [sink])
    finally:
        runner.close()
    assert content_type.startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    cam = (("camera", "square"),)
    assert samples[("onsight_frames_analysed_total", cam)] == 40
    assert samples[("onsight_frames_decoded_total", cam)] >= 40
    assert samples[("onsight_camera_connected", cam)] == 1.0
    assert samples[("onsight_source_reconnects_total", cam)] == 0
    detected = samples[("onsight_frames_detected_total", cam)]
    assert samples[("onsight_detector_latency_seconds_count", cam)] == detected > 0
    assert 0.0 <= samples[("onsight_skip_ratio", cam)] < 1.0
    assert ("onsight_events_emitted_total", cam) in samples
    assert samples[("onsight_sink_queue_depth", (("sink", "queue"),))] == 7
    assert samples[("onsight_sink_connected", (("sink", "queue"),))] == 0
    assert ("onsight_event_bus_queue_depth", ()) in samples
    assert not [key for key in samples if "track" in key[0] or "person" in str(key[1])]
