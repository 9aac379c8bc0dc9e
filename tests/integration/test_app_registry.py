"""The app registry: a new app kind is one file (here, this one) and one registry entry.

The toy kind below is defined only in this test. Registered, it runs in the real pipeline on
a real clip, and its events are stored, published on MQTT (with its Home Assistant entity),
exported to CSV, listed by the API's query and named in the notice, with no other file
touched. And a database made before the registry keeps its rows when opened now.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from onsight.apps import registry
from onsight.apps.base import AppKind, Column, Entity, EventType, per_item
from onsight.apps.occupancy import ZoneConfig, in_zone
from onsight.config.models import Config
from onsight.detect import make_detector
from onsight.events import EventBus, EventStore
from onsight.events.mqtt import MqttSink
from onsight.privacy.notice import render_notice
from onsight.runtime import CameraPipeline
from onsight.service.pages import _csv
from onsight.service.queries import EventFilter, EventQueries
from onsight.types import Stamped, Tracks
from tests.conftest import assets_dir, require
from tests.integration.mosquitto import HOST, Mosquitto
from tests.integration.test_mqtt import UUID7, Subscriber, wait_for

# --- the toy app kind: the whole of it ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZoneFrames(Stamped):
    """How many analysed frames had anyone in a zone, once per run (a toy aggregate)."""

    time: datetime
    camera: str
    zone: str
    busy_frames: int

    @property
    def kind(self) -> str:
        return "toy_zone_frames"


class BusyFrames:
    def __init__(self, camera: str, config: ZoneConfig, class_names: list[str]) -> None:
        self.camera, self.config, self._names = camera, config, class_names
        self.busy = 0
        self._last_time: datetime | None = None

    def update(self, tracks: Tracks) -> list[ZoneFrames]:
        polygon = [(p[0], p[1]) for p in self.config.polygon]
        self.busy += bool(in_zone(tracks, polygon, set(self.config.classes), self._names).any())
        self._last_time = tracks.wall_time
        return []

    def flush(self) -> list[ZoneFrames]:
        when = self._last_time or datetime.now(UTC)
        return [ZoneFrames(when, self.camera, self.config.name, self.busy)]


TOY = AppKind(
    name="toy_busy_frames",
    section="zones",
    config=ZoneConfig,
    build=per_item(BusyFrames),
    events=(
        EventType(
            kind="toy_zone_frames",
            event=ZoneFrames,
            table="toy_zone_frames",
            time_column="time",
            name_column="zone",
            topic="toy",
            label="toy busy-frame counts",
            description="Frames with anyone in the zone.",
            columns=(Column("busy_frames", "INTEGER", "Frames with anyone in the zone."),),
        ),
    ),
    measures="a toy count of busy frames per zone",
    purposes=frozenset({"footfall"}),
    heading="Toy zones",
    describe=lambda zone: f"{zone.name} (toy)",
    summary=lambda app: {"busy_frames": app.busy},
    entities=lambda zone: [Entity("sensor", f"{zone.name}_toy", "toy", {"name": "toy"})],
)

# --------------------------------------------------------------------------------------------


@pytest.fixture
def toy() -> Iterator[AppKind[Any, Any]]:
    registry.register(TOY)
    yield TOY
    registry.unregister(TOY.name)


def _config(port: int) -> Config:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    return Config.model_validate(
        {
            "site": "hq",
            "cameras": [
                {
                    "name": "cam",
                    "url": str(video),
                    "fps": 5,
                    "zones": [{"name": "left", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}],
                }
            ],
            "mqtt": {"host": HOST, "port": port},
        }
    )


def test_a_toy_kind_in_one_file_is_run_stored_published_exported_and_noticed(
    toy: AppKind[Any, Any], tmp_path: Path
) -> None:
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    watcher = Subscriber(broker.port)
    try:
        config = _config(broker.port)
        camera = config.cameras[0]
        assert "toy_busy_frames" in camera.apps()
        store = EventStore(tmp_path / "onsight.db")
        assert config.mqtt is not None
        mqtt = MqttSink(config.mqtt, config.site, config.cameras, tmp_path / "q.db")
        bus = EventBus([store, mqtt])
        pipeline = CameraPipeline(camera, make_detector(), bus)

        def stop_early(result: Any) -> None:
            if pipeline.frames >= 40:
                pipeline.stop.set()

        pipeline.run(stop_early)
        bus.close()
        busy = pipeline.running(toy)[0].busy
        assert 0 < busy <= 40

        # stored, in the table the kind declared
        rows = sqlite3.connect(tmp_path / "onsight.db").execute(
            "SELECT camera, zone, busy_frames FROM toy_zone_frames"
        )
        assert rows.fetchall() == [("cam", "left", busy)]

        # published on MQTT, with its Home Assistant entity
        topic = "onsight/hq/cam/toy/left"
        wait_for(lambda: bool(watcher.on(topic)), "the toy event on MQTT")
        payload = json.loads(watcher.on(topic)[0].payload)
        assert payload["kind"] == "toy_zone_frames" and payload["busy_frames"] == busy
        discovery = "homeassistant/sensor/onsight_hq_cam_left_toy/config"
        wait_for(lambda: bool(watcher.on(discovery)), "the toy entity's discovery")
        assert json.loads(watcher.on(discovery)[0].payload)["state_topic"] == topic
        mqtt.close()

        # exported to CSV, and listed by the API's query
        listed = EventQueries(tmp_path / "onsight.db").events(
            EventFilter(kind="toy_zone_frames"), 10
        )
        assert [(r.kind, r.name, r.fields) for r in listed] == [
            ("toy_zone_frames", "left", {"busy_frames": busy})
        ]
        header, line = _csv(listed).splitlines()
        assert "busy_frames" in header.split(",")
        assert line.startswith("toy_zone_frames,") and line.endswith(f",{busy},{listed[0].id}")

        # named in the notice
        notice = render_notice(config, datetime.now(UTC))
        assert "a toy count of busy frames per zone" in notice and "left (toy)" in notice
    finally:
        watcher.close()
        broker.stop()


_OLD_SCHEMA = """
CREATE TABLE crossings (id INTEGER PRIMARY KEY, time TEXT NOT NULL, camera TEXT NOT NULL,
    line TEXT NOT NULL, direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    class TEXT NOT NULL);
CREATE INDEX crossings_camera_time ON crossings (camera, time);
CREATE TABLE zone_minutes (minute TEXT NOT NULL, camera TEXT NOT NULL, zone TEXT NOT NULL,
    class TEXT NOT NULL, mean REAL NOT NULL, peak INTEGER NOT NULL, samples INTEGER NOT NULL,
    PRIMARY KEY (minute, camera, zone, class));
CREATE TABLE screening_hours (hour TEXT NOT NULL, camera TEXT NOT NULL,
    screened INTEGER NOT NULL CHECK (screened >= 5), alerted INTEGER,
    PRIMARY KEY (hour, camera));
CREATE TABLE zone_dwell (hour TEXT NOT NULL, camera TEXT NOT NULL, zone TEXT NOT NULL,
    class TEXT NOT NULL, people INTEGER NOT NULL CHECK (people >= 5),
    median_seconds REAL NOT NULL, p90_seconds REAL NOT NULL,
    PRIMARY KEY (hour, camera, zone, class));
INSERT INTO crossings (time, camera, line, direction, class)
    VALUES ('2024-05-01T09:00:00.000Z', 'cam', 'door', 'in', 'person');
INSERT INTO zone_minutes VALUES ('2024-05-01T09:00:00.000Z', 'cam', 'hall', 'person', 1.5, 3, 10);
INSERT INTO zone_dwell VALUES ('2024-05-01T09:00:00.000Z', 'cam', 'hall', 'person', 6, 12, 30);
PRAGMA user_version = 3;
"""


def test_a_database_from_before_the_registry_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(_OLD_SCHEMA)
    db.close()
    store = EventStore(path)
    assert store.crossing_counts() == {("cam", "door", "in"): 1}
    assert store.count_rows("zone_minutes") == 1 and store.count_rows("zone_dwell") == 1
    assert store.count_rows("queue_minutes") == 0  # new kinds' tables were added
    store.close()
    listed = EventQueries(path).events(EventFilter(), 10)
    assert {r.kind for r in listed} == {"crossing", "zone_minute", "zone_dwell"}
    assert all(re.fullmatch(UUID7, r.id) for r in listed), "old rows got event ids"
    again = EventStore(path)  # opening twice changes nothing
    assert again.count_rows("crossings") == 1
    again.close()
    with sqlite3.connect(path) as db:
        (crossing_id,) = db.execute("SELECT event_id FROM crossings").fetchone()
        assert crossing_id == next(r.id for r in listed if r.kind == "crossing"), "ids are kept"
        # the id's time is the row's own: 2024-05-01T09:00Z
        assert int(crossing_id.replace("-", "")[:12], 16) == 1714554000000
        with pytest.raises(sqlite3.IntegrityError):  # one row per event id
            db.execute(
                "INSERT INTO crossings (time, camera, line, direction, class, event_id) "
                "VALUES ('2024-05-01T10:00:00.000Z', 'cam', 'door', 'out', 'person', ?)",
                (crossing_id,),
            )
