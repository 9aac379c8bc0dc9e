"""`onsight run` on a screening camera: a recorded 16-bit TLinear stream through the station.

The recording is synthetic (no radiometric video of people is licensed for tests) but real in
form: FFV1 `gray16le` in Matroska, pixels in centi-kelvin, the way a PureThermal board's Y16
stream is recorded. It runs through the same source, station and store as a live camera.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from onsight.config.models import CameraConfig
from onsight.config.service import MqttConfig
from onsight.events.store import EventStore
from onsight.runtime.screening import ScreeningPipeline
from onsight.thermal.local_mqtt import LocalMqtt
from onsight.thermal.station import ScreeningResult
from tests.conftest import assets_dir, require
from tests.integration.mosquitto import HOST, Mosquitto

ONSIGHT = [sys.executable, "-m", "onsight.cli"]
HEIGHT, WIDTH = 120, 160
ROOM_C, SET_POINT_C, SKIN_C = 22.0, 35.0, 34.5
FPS = 10
NORMAL_C = (35.4, 35.6, 35.5, 35.3, 35.7, 35.5, 35.4, 35.6, 35.5, 35.5, 35.6)
FEVER_C = 37.2  # 1.7 °C above the baseline: an alert under the default relative rule

SENSOR_PAYLOADS = (  # two malformed readings, then a valid one
    b"not json",
    b'{"ambient_c": 21.5}',
    b'{"ambient_c": 21.5, "humidity_pct": 40}',
)
SCREENING = {
    "measurement_region": [[0.2, 0.0], [1.0, 0.0], [1.0, 1.0], [0.2, 1.0]],
    "blackbody": {
        "region": [[0.04, 0.05], [0.085, 0.05], [0.085, 0.12], [0.04, 0.12]],
        "set_point_c": SET_POINT_C,
        "drift_window_s": 1.0,
    },
    "subject": {"stable_frames": 3, "clear_frames": 2},
    "environment": {"source": "manual", "ambient_c": 21.0, "humidity_pct": 40},
}


def _frame_c(canthus_c: float | None) -> npt.NDArray[np.float64]:
    frame = np.full((HEIGHT, WIDTH), ROOM_C)
    frame[5:15, 5:15] = SET_POINT_C
    if canthus_c is not None:
        frame[40:64, 80:110] = SKIN_C
        frame[46:50, 88:92] = canthus_c
    return frame


def _record_tlinear(path: Path, people_c: list[float]) -> None:
    """Blackbody settles for 1.5 s, then each person stands 0.6 s and leaves for 0.3 s."""
    timeline: list[float | None] = [None] * 15
    for reading in people_c:
        timeline += [reading] * 6 + [None] * 3
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "gray16le"
        for reading in timeline:
            kelvin = _frame_c(reading) + 273.15
            raw = np.round(kelvin / 0.01).astype(np.uint16)
            frame = av.VideoFrame.from_ndarray(raw, format="gray16le")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _config(tmp_path: Path, url: Path) -> Path:
    config = {
        "cameras": [
            {
                "name": "entrance",
                "url": str(url),
                "fps": FPS,
                "purpose": "screening",
                "screening": SCREENING,
            }
        ]
    }
    path = tmp_path / "onsight.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _run(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ONSIGHT, "run", str(config)], capture_output=True, text=True, timeout=120, check=False
    )


def _rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: con.execute(f"SELECT * FROM {t}").fetchall() for t in tables}


def test_recorded_tlinear_stream_is_screened_counted_hourly_and_shows_the_alert_locally(
    tmp_path: Path,
) -> None:
    recording = tmp_path / "entrance.mkv"
    _record_tlinear(recording, [*NORMAL_C, FEVER_C])
    result = _run(_config(tmp_path, recording))
    assert result.returncode == 0, result.stderr
    display = result.stderr
    assert "baseline warming up (1/10)" in display
    assert "no elevated skin temperature detected" in display
    assert display.count("elevated skin temperature: please confirm") == 1
    assert not re.search(r"3\d\.\d", display + result.stdout), "no temperature is shown in text"
    rows = _rows(tmp_path / "onsight-data" / "onsight.db")
    # 12 people screened; 1 alert is below k=5, so the alert count is suppressed (NULL).
    assert [r[1:] for r in rows["screening_hours"]] == [("entrance", 12, None)]
    assert all(not v for t, v in rows.items() if t not in ("screening_hours", "app_schema"))


def test_an_ordinary_video_is_refused_as_a_screening_source(tmp_path: Path) -> None:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    result = _run(_config(tmp_path, video))
    assert result.returncode == 1
    assert "not a 16-bit radiometric (TLinear) stream" in result.stderr
    assert "Traceback" not in result.stderr


def test_flir_seq_replay_pauses_without_a_blackbody_and_stores_nothing(tmp_path: Path) -> None:
    seq = require(assets_dir() / "thermal" / "flirpy" / "test.seq", "FLIR SEQ sample")
    result = _run(_config(tmp_path, seq))
    assert result.returncode == 0, result.stderr
    assert "blackbody" in result.stderr
    assert _rows(tmp_path / "onsight-data" / "onsight.db")["screening_hours"] == []


def test_alert_goes_to_the_local_mqtt_topic_without_a_temperature(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    received: list[bytes] = []
    listener = paho.Client(CallbackAPIVersion.VERSION2, client_id="station-display")
    listener.on_message = lambda _c, _u, message: received.append(message.payload)
    try:
        listener.connect(HOST, broker.port)
        listener.subscribe("site/entrance/alert", qos=1)
        listener.loop_start()
        recording = tmp_path / "entrance.mkv"
        _record_tlinear(recording, [*NORMAL_C, FEVER_C, NORMAL_C[0]])
        config = _config(tmp_path, recording)
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        data["cameras"][0]["screening"]["alert_topic"] = "site/entrance/alert"
        data["mqtt"] = {"host": HOST, "port": broker.port}
        config.write_text(yaml.safe_dump(data), encoding="utf-8")
        result = _run(config)
        assert result.returncode == 0, result.stderr
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.loop_stop()
        listener.disconnect()
        broker.stop()
    assert len(received) == 1
    alert = json.loads(received[0])
    assert set(alert) == {"event", "camera", "time"}
    assert alert["camera"] == "entrance" and alert["time"].endswith("Z")


def test_room_sensor_readings_arrive_from_the_local_broker(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    readings: list[tuple[float, float]] = []
    local = LocalMqtt(MqttConfig(host=HOST, port=broker.port), client_id="station")
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="room-sensor")
    try:
        local.on_room_reading("site/entrance/room", lambda t, h: readings.append((t, h)))
        local.start()
        publisher.connect(HOST, broker.port)
        publisher.loop_start()
        for payload in SENSOR_PAYLOADS:
            publisher.publish("site/entrance/room", payload, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while not readings and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        local.close()
        broker.stop()
    assert readings == [(21.5, 40.0)], "malformed readings are ignored, the valid one arrives"


def test_the_remote_status_says_screening_or_paused_never_a_decision(tmp_path: Path) -> None:
    recording = tmp_path / "entrance.mkv"
    _record_tlinear(recording, [*NORMAL_C, FEVER_C])
    camera = CameraConfig.model_validate(
        {"name": "entrance", "url": str(recording), "fps": FPS, "purpose": "screening",
         "screening": SCREENING}
    )  # fmt: skip
    store = EventStore(tmp_path / "onsight.db")
    station = ScreeningPipeline(camera, store)
    statuses: list[str] = []
    decisions: list[str] = []

    def on_frame(result: ScreeningResult) -> None:
        statuses.append(station.operational)
        if result.new_subject:
            decisions.append(result.state)

    station.run(on_frame)
    store.close()
    assert len(decisions) == 12 and "screened-alert" in decisions
    assert statuses[0].startswith("paused: blackbody settling")
    assert set(statuses[20:]) == {"screening"}, "decisions and alerts never show remotely"
    assert station.operational == "stopped"
