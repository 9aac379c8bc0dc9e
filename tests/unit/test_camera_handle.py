"""The narrow handle: the web service reads and commands cameras only through
`CameraHandle`, and a frame leaves it only redacted."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from onsight.apps.line_count import KIND as LINES
from onsight.apps.occupancy import KIND as ZONES
from onsight.config import LoadedConfig, load_config
from onsight.config.models import CameraConfig, LineConfig
from onsight.errors import ConfigError
from onsight.privacy.redact import redact
from onsight.runtime import CameraPipeline, Runner
from onsight.types import FloatArray, Image
from tests.conftest import assets_dir, require

SERVICE = Path(__file__).resolve().parents[2] / "src" / "onsight" / "service"
LIVE_NAMES = {"CameraPipeline", "FrameResult", "AlertShot"}  # live objects, raw frames
LIVE_ATTRIBUTES = {"pipelines", "_pipeline"}


def _reaches_past_the_handle(source: str) -> list[str]:
    """Where `source` imports the pipeline module or its live types, or reads the runner's
    pipelines (or a handle's private pipeline)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("onsight.runtime.pipeline")]
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").startswith("onsight.runtime.pipeline"):
                found.append(f"line {node.lineno}: from {node.module}")
            found += [f"line {node.lineno}: {a.name}" for a in node.names if a.name in LIVE_NAMES]
        elif isinstance(node, ast.Attribute) and node.attr in LIVE_ATTRIBUTES:
            found.append(f"line {node.lineno}: .{node.attr}")
    return found


def test_the_check_finds_a_service_module_reaching_into_pipelines() -> None:
    source = (
        "import onsight.runtime.pipeline\n"
        "from onsight.runtime import CameraPipeline\n"
        "from onsight.runtime.pipeline import STAGES\n"
        "names = [p.camera.name for p in runner.pipelines]  # pipelines in a comment is fine\n"
    )
    assert len(_reaches_past_the_handle(source)) == 4
    assert _reaches_past_the_handle("# runner.pipelines\ntext = 'CameraPipeline'\n") == []


def test_no_service_module_reaches_past_the_camera_handle() -> None:
    modules = sorted(SERVICE.rglob("*.py"))
    assert len(modules) > 20
    for path in modules:
        found = _reaches_past_the_handle(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name} reaches past CameraHandle: {found}"


# -- the handle on a real runner over the vtest clip ------------------------------------------

CONFIG = """\
cameras:
  - name: square
    url: "{video}"
    fps: 10
    lines: [{{name: path, points: [[0.45, 0.25], [0.45, 1.0]], alert_direction: in}}]
    zones: [{{name: left, polygon: [[0, 0.3], [0.45, 0.3], [0.45, 1], [0, 1]]}}]
"""


class _NobodyFinders:
    """Finds nobody; counts how often redaction asked (each ask is a detector run). What is
    blurred then are the people the pipeline itself detected in the frame."""

    def __init__(self) -> None:
        self.calls = 0

    def people(self, image: Image) -> FloatArray:
        self.calls += 1
        return np.zeros((0, 4), np.float32)

    def faces(self, image: Image, threshold: float) -> FloatArray:
        self.calls += 1
        return np.zeros((0, 4), np.float32)


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedConfig:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    config = tmp_path / "onsight.yaml"
    config.write_text(CONFIG.format(video=video), encoding="utf-8")
    return load_config(config)


@pytest.fixture
def runner(loaded: LoadedConfig) -> Iterator[Runner]:
    runner = Runner(loaded)
    try:
        yield runner
    finally:
        runner.close()


class _Player:
    """Analyses the clip's frames one call at a time, as the camera's thread would."""

    def __init__(self, pipeline: CameraPipeline) -> None:
        self.pipeline = pipeline
        self._frames = iter(pipeline.source.frames())

    def play(self, frames: int) -> None:
        for _ in range(frames):
            self.pipeline.process(next(self._frames))

    def close(self) -> None:
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()


@pytest.fixture
def player(runner: Runner) -> Iterator[_Player]:
    player = _Player(runner.pipelines[0])
    try:
        yield player
    finally:
        player.close()


def _decode(jpeg: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image, np.uint8)


def _largest_box(people: FloatArray, width: int, height: int) -> tuple[slice, slice]:
    boxes = np.asarray(people, np.float32).reshape(-1, 4)
    assert len(boxes) > 0, "the pipeline saw nobody in the frame"
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    x1, y1, x2, y2 = boxes[int(np.argmax(areas))]
    return slice(int(y1 * height), int(y2 * height)), slice(int(x1 * width), int(x2 * width))


def _assert_redacted(jpeg: bytes, raw: Image, people: FloatArray, config: CameraConfig) -> None:
    """`jpeg` is `raw` as `privacy.redact` shows it (JPEG noise aside), not the raw frame:
    the largest person the pipeline saw is obliterated."""
    shown = _decode(jpeg).astype(np.int16)
    assert shown.shape == raw.shape
    expected = redact(raw, config, _NobodyFinders(), people=people).image.astype(np.int16)
    rows, cols = _largest_box(people, raw.shape[1], raw.shape[0])
    to_redacted = float(np.abs(shown - expected)[rows, cols].mean())
    to_raw = float(np.abs(shown - raw.astype(np.int16))[rows, cols].mean())
    assert to_redacted < 3.0 and to_raw > 5 * to_redacted, (to_redacted, to_raw)
    assert float(np.abs(shown - expected).mean()) < 3.0


def test_the_runner_hands_out_one_handle_per_camera_in_config_order(
    runner: Runner, loaded: LoadedConfig
) -> None:
    (camera,) = runner.cameras
    assert runner.camera("square") is camera and runner.camera("nowhere") is None
    assert camera.name == "square" and camera.config == loaded.config.cameras[0]
    assert runner.cameras == runner.cameras and runner.cameras is not runner.cameras  # copies


def test_health_is_failed_with_the_runners_error(runner: Runner, player: _Player) -> None:
    camera = runner.camera("square")
    assert camera is not None
    player.play(3)
    health = camera.health()
    assert health.state == "live" and health.reason is None and camera.error() is None
    assert health.frames_analysed == 3
    message = "camera 'square': gave up on the file: the decoder made no progress for 60 s"
    runner.errors["square"] = message  # how the runner records a camera it gave up
    failed = camera.health()
    assert (failed.state, failed.reason, camera.error()) == ("failed", message, message)
    assert failed.frames_analysed == 3 and failed.camera == "square"


def test_states_and_items_follow_a_geometry_change(
    runner: Runner, player: _Player, loaded: LoadedConfig
) -> None:
    camera = runner.camera("square")
    assert camera is not None
    player.play(5)
    assert [line.name for line in camera.items(LINES)] == ["path"]
    assert [state["name"] for state in camera.states(LINES)] == ["path"]
    assert [zone.name for zone in camera.items(ZONES)] == ["left"]
    gate = LineConfig.model_validate({"name": "gate", "points": [[0.6, 0.2], [0.6, 1.0]]})
    reloaded = camera.change_geometry(loaded, {"lines": [gate]}, [], "tester")
    assert camera.items(LINES) == [gate] and camera.config.lines == [gate]
    assert [state["name"] for state in camera.states(LINES)] == ["gate"]
    assert [zone.name for zone in camera.items(ZONES)] == ["left"]  # a kind not sent stays
    assert [line.name for line in reloaded.config.cameras[0].lines] == ["gate"]
    assert "gate" in loaded.path.read_text(encoding="utf-8")
    player.play(2)  # the camera runs on with the new line
    assert [state["name"] for state in camera.states(LINES)] == ["gate"]
    odd = LineConfig.model_validate({"name": "odd", "points": [[0.1, 0], [0.1, 1]],
                                     "classes": ["unicorn"]})  # fmt: skip
    with pytest.raises(ConfigError, match="unicorn"):
        camera.change_geometry(reloaded, {"lines": [odd]}, [], "tester")
    assert camera.items(LINES) == [gate], "a refused change changes nothing"


def test_the_latest_frame_leaves_only_redacted_and_once_per_frame(
    runner: Runner, player: _Player
) -> None:
    camera = runner.camera("square")
    assert camera is not None
    finders = _NobodyFinders()
    assert not camera.has_frame() and camera.latest_jpeg(finders) is None
    assert camera.frame_size() is None and finders.calls == 0
    player.play(30)
    raw = player.pipeline.latest()
    assert raw is not None and camera.has_frame() and camera.frame_size() == (480, 360)
    jpeg = camera.latest_jpeg(finders)
    assert jpeg is not None
    _assert_redacted(jpeg, raw.frame.image, raw.people, camera.config)
    calls = finders.calls
    assert calls > 0 and camera.latest_jpeg(finders) == jpeg
    assert finders.calls == calls, "a second viewer of the same frame reuses the JPEG"
    player.play(1)
    assert camera.latest_jpeg(finders) != jpeg
    assert finders.calls > calls, "a new frame is redacted afresh"


def test_alert_frames_leave_only_redacted(runner: Runner, player: _Player) -> None:
    camera = runner.camera("square")
    assert camera is not None
    finders = _NobodyFinders()
    for _ in range(40):  # people cross the line westward within the clip's first minute
        player.play(10)
        if camera.alerts():
            break
    alerts = camera.alerts()
    assert alerts and alerts[0].event.kind == "wrong_way"
    shot = next(s for s in player.pipeline.alerts() if s.number == alerts[0].number)
    jpeg = camera.alert_jpeg(alerts[0].number, finders)
    assert jpeg is not None
    _assert_redacted(jpeg, shot.result.frame.image, shot.result.people, camera.config)
    assert camera.alert_jpeg(10_000, finders) is None


def test_a_camera_added_while_running_gets_a_handle(runner: Runner, loaded: LoadedConfig) -> None:
    video = require(assets_dir() / "video" / "vtest_480x360.avi", "sample video")
    entry: dict[str, Any] = {"name": "yard", "url": str(video), "purpose": "occupancy", "fps": 5}
    runner.add_camera(loaded, entry, {}, "tester")
    assert [camera.name for camera in runner.cameras] == ["square", "yard"]
    yard = runner.camera("yard")
    assert yard is not None and yard.config.purpose == "occupancy" and not yard.has_frame()
