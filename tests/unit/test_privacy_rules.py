"""The privacy rules of DESIGN.md, one or more tests each (rules 6 and 7: see also
test_audit.py and test_notice.py; rule 3 on real footage: golden/test_redaction_coverage.py;
rule 9: thermal/test_screening.py)."""

from __future__ import annotations

import ast
import dataclasses
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from onsight.apps import ZoneDwellTimer, registry
from onsight.apps.queue import QueueHour
from onsight.apps.station import StationHour
from onsight.cli import app
from onsight.config import CameraConfig, load_config
from onsight.config.models import ZoneConfig
from onsight.config.privacy import RetentionConfig
from onsight.detect import MODELS
from onsight.errors import ConfigError
from onsight.events import EventStore
from onsight.privacy.audit import AuditLog
from onsight.privacy.kanon import K, release_durations
from onsight.privacy.redact import redact
from onsight.privacy.retention import Retention
from onsight.types import Image, LineCrossing, Tracks, ZoneDwell, ZoneMinute
from tests.conftest import REPO, assets_dir, require

SRC = REPO / "src" / "onsight"
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
PERSONAL = ("track", "trajectory", "face", "embedding", "identity", "person_id", "plate")


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(SRC.rglob("*.py"))]


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


# -- rule 1: no face recognition, embeddings or templates; track ids stay in memory ---------


def test_rule1_no_face_recognition_or_embedding_library_is_imported() -> None:
    banned = {"face_recognition", "dlib", "insightface", "deepface", "facenet_pytorch", "torchreid"}
    for path, tree in _modules():
        assert not (_imported(tree) & banned), f"{path} imports {_imported(tree) & banned}"


def test_rule1_registered_models_only_detect() -> None:
    for spec in MODELS.values():
        assert spec.decoder in ("yolox", "nanodet"), spec.name  # box detectors, no embeddings
        assert not any(w in spec.name for w in ("reid", "arcface", "embed", "recogn")), spec.name


def _event_types() -> list[type]:
    """Every event dataclass of every registered app kind (a new kind is checked too)."""
    return [event.event for event in registry.event_types()]


def test_rule1_no_event_type_carries_a_track_id_or_trajectory() -> None:
    for event in _event_types():
        for field in dataclasses.fields(event):
            assert not any(word in field.name for word in PERSONAL), (event, field.name)
            assert field.name not in ("id", "xyxy", "box", "points", "centre"), (event, field.name)


def test_rule1_no_stored_table_has_an_identifying_column(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "onsight.db")
    try:
        for table, columns in store.tables().items():
            for column in columns:
                assert not any(word in column for word in PERSONAL), (table, column)
                # `event_id` names one event (a random UUIDv7), never a person: see
                # test_line_count's test of one person crossing again and again.
                assert not column.endswith("_id") or column == "event_id", (table, column)
    finally:
        store.close()


# -- rule 2 and 8: aggregates only; durations released for k >= 5 distinct tracks, per zone ---


def test_rule2_duration_statistics_are_suppressed_below_k() -> None:
    assert K == 5
    assert release_durations({i: [10.0] for i in range(4)}) is None
    assert release_durations({i: [10.0, 20.0] if i == 0 else [] for i in range(8)}) is None
    stats = release_durations({i: [float(i)] for i in range(5)})
    assert stats is not None and stats.people == 5 and stats.median_seconds == 2.0


def _tracks(pts: float, ids: list[int], inside: bool = True) -> Tracks:
    x = 0.25 if inside else 0.75
    boxes = np.array([[x - 0.02, 0.3, x + 0.02, 0.5]] * len(ids), np.float32).reshape(-1, 4)
    return Tracks(
        pts=pts,
        wall_time=T0 + timedelta(seconds=pts),
        xyxy=boxes,
        class_id=np.zeros(len(ids), np.int64),
        track_id=np.array(ids, np.int64),
    )


def _dwell_events(people: int) -> list[ZoneDwell]:
    zone = ZoneConfig.model_validate(
        {"name": "desk", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]], "dwell": True}
    )
    timer = ZoneDwellTimer("cam", zone, ["person"])
    events: list[ZoneDwell] = []
    for person in range(people):  # one after another, each 5 s in the zone
        for step in range(6):
            events += timer.update(_tracks(person * 10.0 + step, [person]))
    return events + timer.flush()


def test_rule8_dwell_is_released_per_zone_only_for_five_or_more_people() -> None:
    assert _dwell_events(4) == []
    (event,) = _dwell_events(5)
    assert (event.zone, event.people, event.median_seconds) == ("desk", 5, 5.0)


def test_rule2_every_released_distribution_has_a_k_floor_in_its_table() -> None:
    """A kind that releases medians or percentiles must refuse rows under k in SQL too."""
    for event in registry.event_types():
        names = [column.name for column in event.columns]
        if any("median" in name or "p90" in name for name in names):
            assert any(">= 5" in column.check for column in event.columns), event.kind


@pytest.mark.parametrize(
    "event",
    [
        QueueHour(T0, "cam", "till", 4, 30.0, 60.0),
        StationHour(T0, "cam", "pack", "person", 4, 30.0, 60.0),
    ],
)
def test_rule2_the_store_refuses_queue_and_station_rows_under_k(
    tmp_path: Path, event: object
) -> None:
    store = EventStore(tmp_path / "onsight.db")
    try:
        with pytest.raises(Exception, match="CHECK"):
            store.write([event])  # type: ignore[list-item]
    finally:
        store.close()


def test_rule7_every_app_kind_explains_itself_on_the_notice() -> None:
    for kind in registry.kinds():
        assert kind.measures and kind.purposes and kind.heading, kind.name
        for event in kind.events:
            assert event.label and event.description, event.kind


def test_rule2_the_store_refuses_a_dwell_row_under_k(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "onsight.db")
    try:
        with pytest.raises(Exception, match="CHECK"):
            store.write([ZoneDwell(T0, "cam", "desk", "person", 4, 5.0, 9.0)])
        assert store.count_rows("zone_dwell") == 0
    finally:
        store.close()


# -- rule 3: every pixel that leaves is redacted; fail closed ---------------------------------

ENCODERS = {"imencode", "imwrite", "VideoWriter", "VideoWriter_fourcc"}
IMAGE_LIBRARIES = {"PIL", "imageio", "matplotlib", "skimage"}


def _opens_av_for_writing(node: ast.AST) -> bool:
    """`av.open(..., "w")`: writing video with PyAV."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return False
    mode = node.args[1:2] or [k.value for k in node.keywords if k.arg == "mode"]
    writes = any(isinstance(m, ast.Constant) and str(m.value).startswith("w") for m in mode)
    return node.func.attr == "open" and writes and ast.unparse(node.func.value) == "av"


def test_rule3_no_module_outside_privacy_encodes_images() -> None:
    for path, tree in _modules():
        if path.parent.name == "privacy":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr not in ENCODERS, f"{path}:{node.lineno} uses {node.attr}"
            assert not _opens_av_for_writing(node), f"{path}:{getattr(node, 'lineno', 0)}"
        assert not (_imported(tree) & IMAGE_LIBRARIES), f"{path} imports an image library"
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "onsight.privacy._encode" not in modules, f"{path} encodes without redact"


class _Finders:
    def __init__(self, people: np.ndarray, fail: bool = False) -> None:
        self._people, self._fail = people, fail

    def people(self, image: Image) -> np.ndarray:
        if self._fail:
            raise RuntimeError("detector crashed")
        return self._people

    def faces(self, image: Image, threshold: float) -> np.ndarray:
        return np.zeros((0, 4), np.float32)


def _camera(**privacy: object) -> CameraConfig:
    return CameraConfig.model_validate({"name": "c", "url": "x", "privacy": privacy})


def _detailed_image() -> Image:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)


def _detail(region: Image) -> float:
    """Mean absolute difference between neighbouring pixels: high for detail, ~0 when flat."""
    return float(np.abs(np.diff(region.astype(np.int16), axis=1)).mean())


def test_rule3_people_are_obliterated_and_the_rest_kept() -> None:
    image = _detailed_image()
    person = np.array([[0.25, 0.25, 0.5, 0.75]], np.float32)
    out = redact(image, _camera(), _Finders(person)).image
    assert _detail(out[40:80, 45:75]) < 0.1 * _detail(image[40:80, 45:75])
    assert np.array_equal(out[:, 120:], image[:, 120:])


def test_rule3_a_failing_detector_obliterates_the_whole_frame() -> None:
    image = _detailed_image()
    result = redact(image, _camera(), _Finders(np.zeros((0, 4)), fail=True))
    assert result.fail_closed and "RuntimeError" in result.reason
    assert _detail(result.image) < 0.1 * _detail(image)


def test_rule3_a_detector_over_budget_obliterates_the_whole_frame() -> None:
    ticks = iter([0.0, 5.0])  # the finders "took" 5 s against a 2 s budget
    image = _detailed_image()
    result = redact(image, _camera(), _Finders(np.zeros((0, 4))), clock=lambda: next(ticks))
    assert result.fail_closed and "budget" in result.reason
    assert _detail(result.image) < 0.1 * _detail(image)


def test_rule3_privacy_masks_are_burned_in() -> None:
    image = _detailed_image()
    masks = [[[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]]
    out = redact(image, _camera(masks=masks), _Finders(np.zeros((0, 4)))).image
    assert _detail(out[2:55, 2:75]) == 0.0
    assert np.array_equal(out[70:, 90:], image[70:, 90:])


def test_rule3_redaction_none_is_refused_for_cameras_that_film_people() -> None:
    with pytest.raises(ValueError, match="Only inspection cameras"):
        _camera(redaction="none")
    CameraConfig.model_validate(
        {"name": "c", "url": "x", "purpose": "inspection", "privacy": {"redaction": "none"}}
    )


# -- rule 4: purpose binding ------------------------------------------------------------------


def test_rule4_check_rejects_an_app_outside_the_camera_purpose(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        textwrap.dedent("""\
            cameras:
              - name: packing
                url: x.mp4
                purpose: inspection
                zones:
                  - name: bench
                    polygon: [[0, 0], [1, 0], [1, 1]]
            """),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["check", str(config)])
    assert result.exit_code == 1
    assert "purpose 'inspection'" in result.output and "does not permit occupancy" in result.output


@pytest.mark.parametrize(
    ("purpose", "zone_extra", "ok"),
    [
        ("footfall", {"dwell": True}, True),
        ("operations", {"dwell": True}, True),
        ("safety", {"dwell": True}, False),  # timing people is not a safety purpose
        ("screening", {}, False),
    ],
)
def test_rule4_purpose_table(purpose: str, zone_extra: dict[str, object], ok: bool) -> None:
    camera = {
        "name": "c",
        "url": "x",
        "purpose": purpose,
        "zones": [{"name": "z", "polygon": [[0, 0], [1, 0], [1, 1]], **zone_extra}],
    }
    if ok:
        CameraConfig.model_validate(camera)
    else:
        with pytest.raises(ValueError, match="does not permit"):
            CameraConfig.model_validate(camera)


# -- rule 5: retention --------------------------------------------------------------------------


def test_rule5_events_older_than_the_period_are_deleted(tmp_path: Path) -> None:
    store = EventStore(tmp_path / "onsight.db")
    old, recent = T0 - timedelta(days=31), T0 - timedelta(days=29)
    store.write(
        [
            LineCrossing(old, "c", "l", "in", "person"),
            LineCrossing(recent, "c", "l", "in", "person"),
        ]
    )
    store.write([ZoneMinute(old, "c", "z", "person", 1.0, 1, 10)])
    report = Retention(RetentionConfig(), store, tmp_path / "media", clock=lambda: T0).enforce()
    assert report.rows["crossings"] == 1 and report.rows["zone_minutes"] == 1
    assert store.count_rows("crossings") == 1
    store.close()


def _media(tmp_path: Path, age_hours: float) -> Path:
    path = tmp_path / "media" / f"clip-{age_hours}.mp4"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"x")
    stamp = (T0 - timedelta(hours=age_hours)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_rule5_media_is_kept_24_hours_by_default_when_enabled(tmp_path: Path) -> None:
    fresh, stale = _media(tmp_path, 23), _media(tmp_path, 25)
    notes = tmp_path / "media" / "notes.txt"
    notes.write_text("not media")
    store = EventStore(tmp_path / "onsight.db")
    settings = RetentionConfig(store_media=True)
    assert settings.media_hours == 24 and settings.events_days == 30
    Retention(settings, store, tmp_path / "media", clock=lambda: T0).enforce()
    assert fresh.exists() and not stale.exists() and notes.exists()
    store.close()


def test_rule5_media_is_off_by_default_and_any_found_is_deleted(tmp_path: Path) -> None:
    fresh = _media(tmp_path, 0.1)
    store = EventStore(tmp_path / "onsight.db")
    assert RetentionConfig().store_media is False
    Retention(RetentionConfig(), store, tmp_path / "media", clock=lambda: T0).enforce()
    assert not fresh.exists()
    store.close()


def test_rule5_more_than_72_hours_of_media_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "cameras: [{name: a, url: x.mp4}]\n"
        "privacy:\n  retention: {store_media: true, media_hours: 73}\n"
    )
    with pytest.raises(ConfigError, match=r":3: privacy.retention.media_hours: .*at most 72 hours"):
        load_config(config)


def test_rule5_retention_runs_at_start_up(tmp_path: Path) -> None:
    from onsight.runtime import Runner

    require(assets_dir() / "models" / "yolox_nano_416_coco.onnx", "default model")
    config = tmp_path / "c.yaml"
    config.write_text("cameras: [{name: a, url: x.mp4}]\ndatabase: onsight.db\n")
    store = EventStore(tmp_path / "onsight.db")
    store.write([LineCrossing(datetime.now(UTC) - timedelta(days=40), "a", "l", "in", "person")])
    store.close()
    runner = Runner(load_config(config))
    try:
        assert runner.store.count_rows("crossings") == 0
    finally:
        runner.close()
    with AuditLog(tmp_path / "onsight-data" / "audit.db") as audit:
        actions = [record.action for record in audit.tail()]
    assert actions == ["config_load", "retention", "stop"]


# -- rule 7: no egress by default ----------------------------------------------------------------

_GUARD = """
import os, socket, sys
_log = os.environ["ONSIGHT_EGRESS_LOG"]
def _hook(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.getaddrinfo"):
        target = args[1] if event != "socket.getaddrinfo" else args[0]
        if event == "socket.connect" and args[0].family == socket.AF_UNIX:
            return
        with open(_log, "a") as f:
            f.write(f"{event} {target!r}\\n")
        raise PermissionError(f"egress attempted: {event} {target!r}")
sys.addaudithook(_hook)
"""


def test_rule7_the_demo_makes_no_outbound_connection(tmp_path: Path) -> None:
    require(assets_dir() / "video" / "vtest_480x360.avi", "demo clip")
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(_GUARD)
    log = tmp_path / "egress.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(guard), os.environ.get("PYTHONPATH")])),
        "ONSIGHT_EGRESS_LOG": str(log),
        "ONSIGHT_ASSETS": str(assets_dir()),
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "onsight"), "demo", "--out", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not log.exists(), log.read_text()
    assert (tmp_path / "demo" / "preview.jpg").is_file()


def test_rule7_the_guard_would_catch_a_connection(tmp_path: Path) -> None:
    """The egress test above can fail: the same guard reports a real connection attempt."""
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(_GUARD)
    log = tmp_path / "egress.log"
    code = (
        "import socket; s = socket.socket(); s.settimeout(0.2)\n"
        "try: s.connect(('192.0.2.1', 80))\nexcept Exception: pass"
    )
    env = {**os.environ, "PYTHONPATH": str(guard), "ONSIGHT_EGRESS_LOG": str(log)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    assert "192.0.2.1" in log.read_text()
