"""Config validation: a table of bad configs and the one-line messages they produce."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from onsight.cli import app
from onsight.config import load_config
from onsight.errors import ConfigError

MINIMAL = """\
cameras:
  - name: square
    url: /path/to/video.mp4        # or rtsp://user:${CAM_PASS}@host/stream
    fps: 10
    lines:
      - name: door
        points: [[0.5, 0.0], [0.5, 1.0]]
    zones:
      - name: left
        polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
"""


SCREENING = """\
cameras:
  - name: gate
    url: /dev/video0
    purpose: screening
    screening:
      measurement_region: [[0.2, 0.0], [1.0, 0.0], [1.0, 1.0], [0.2, 1.0]]
      blackbody: {region: [[0.04, 0.05], [0.09, 0.05], [0.09, 0.12]], set_point_c: 35}
      environment: {source: manual, ambient_c: 21, humidity_pct: 40}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "onsight.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_config_from_the_issue_loads_with_defaults(tmp_path: Path) -> None:
    loaded = load_config(_write(tmp_path, MINIMAL))
    camera = loaded.config.cameras[0]
    assert camera.lines[0].classes == ["person"] and camera.zones[0].classes == ["person"]
    assert loaded.config.detector.model == "yolox_nano_416_coco"
    assert loaded.database_path == tmp_path / "onsight-data" / "onsight.db"


BAD = [
    ("", ":1:", "empty"),
    ("cameras: [\n", ":2:", "invalid YAML"),
    ("- just\n- a list\n", ":1:", "mapping"),
    ("cameras: []\n", ":1: cameras:", "at least 1"),
    ("site: x\n", ":1: cameras:", "required field is missing"),
    (MINIMAL + "colour: red\n", ":11: colour:", "unknown field"),
    (MINIMAL.replace("fps: 10", "fps: fast"), ":4: cameras[0].fps:", "number"),
    (MINIMAL.replace("fps: 10", "fps: 0"), ":4: cameras[0].fps:", "greater than 0"),
    (
        MINIMAL.replace("[0.5, 1.0]]", "[1.5, 1.0]]"),
        ":7: cameras[0].lines[0].points[1][0]:",
        "less than or equal to 1",
    ),
    (
        MINIMAL.replace("[[0.5, 0.0], [0.5, 1.0]]", "[[0.5, 0.5], [0.5, 0.5]]"),
        ":6: cameras[0].lines[0]:",
        "must differ",
    ),
    (
        MINIMAL.replace("[[0.5, 0.0], [0.5, 1.0]]", "[[0.5, 0.5]]"),
        ":7: cameras[0].lines[0].points:",
        "at least 2",
    ),
    (
        MINIMAL.replace("[0.5, 1], [0, 1]]", "[0.5, 0], [0, 0]]"),
        ":9: cameras[0].zones[0]:",
        "no area",
    ),
    (
        MINIMAL.replace("- name: door", "- name: door\n        colour: red"),
        ":7: cameras[0].lines[0].colour:",
        "unknown field",
    ),
    (MINIMAL.replace("name: square", "name: 'bad name!'"), ":2: cameras[0].name:", "1-64 letters"),
    (MINIMAL + MINIMAL.replace("cameras:\n", ""), ":1: cameras:", "duplicate name 'square'"),
    (
        MINIMAL.replace("url: /path/to/video.mp4", "url: rtsp://u:${ONSIGHT_TEST_UNSET}@h/s"),
        ":3: cameras[0].url:",
        "ONSIGHT_TEST_UNSET is not set",
    ),
    (
        MINIMAL + "detector:\n  backend: tensorflow\n",
        ":12: detector.backend:",
        "'onnxruntime' or 'opencv'",
    ),
    (MINIMAL + "detector:\n  threads: 'two'\n", ":12: detector.threads:", "integer"),
    (
        MINIMAL.replace("fps: 10", "fps: 10\n    purpose: spying"),
        ":5: cameras[0].purpose:",
        "footfall",
    ),
    (
        "cameras:\n  - name: gate\n    url: /dev/video0\n    purpose: screening\n",
        ":2: cameras[0]:",
        "needs a `screening:` section",
    ),
    (
        SCREENING.replace("purpose: screening", "purpose: footfall"),
        ":2: cameras[0]:",
        "does not permit screening",
    ),
    (
        SCREENING.replace("humidity_pct: 40}", "humidity_pct: 40}\n      alert_topic: a/b"),
        ":1: config:",
        "alert_topic needs an `mqtt:` section",
    ),
    (
        MINIMAL.replace("fps: 10", "fps: 10\n    ignore: [[[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]]"),
        ":5: cameras[0].ignore:",
        "the ignore polygon has no area",
    ),
    (
        MINIMAL.replace("fps: 10", "fps: 10\n    still_objects: {after_seconds: 0}"),
        ":5: cameras[0].still_objects.after_seconds:",
        "greater than 0",
    ),
    (
        MINIMAL + "mqtt:\n  port: 70000\n",
        ":12: mqtt.port:",
        "less than or equal to 65535",
    ),
    (
        MINIMAL + "webhooks:\n  - {name: h, url: 'ftp://x', events: [crossing], secret: "
        "0123456789abcdef}\n",
        ":12: webhooks[0].url:",
        "must be an http:// or https:// URL",
    ),
    (
        MINIMAL + "server:\n  public_origins: ['https://x.example/path']\n",
        ":12: server.public_origins:",
        "not an origin",
    ),
]


@pytest.mark.parametrize(("text", "where", "message"), BAD)
def test_bad_config_names_file_line_and_field(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    text_of_error = str(info.value)
    assert text_of_error.startswith(str(path)), text_of_error
    assert where in text_of_error, text_of_error
    assert message in text_of_error, text_of_error
    assert "\n" not in text_of_error


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_env_secret_is_interpolated_and_never_printed(tmp_path: Path) -> None:
    secret = "p@ss:w/rd"
    text = MINIMAL.replace("url: /path/to/video.mp4", "url: rtsp://admin:${CAM_PASS}@10.0.0.9/s")
    path = _write(tmp_path, text)
    loaded = load_config(path, environ={"CAM_PASS": secret})
    # Encoded in the URL's user-info, so its `@ : /` do not end it (FFmpeg decodes it again).
    assert loaded.config.cameras[0].url == "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.9/s"
    assert loaded.secrets == (secret, "p%40ss%3Aw%2Frd")
    result = CliRunner().invoke(app, ["check", str(path)], env={"CAM_PASS": secret})
    assert result.exit_code == 0, result.output
    assert "admin" not in result.output or secret not in result.output
    for form in (secret, "p%40ss%3Aw%2Frd", "p%40ss"):
        assert form not in result.output


def test_env_values_outside_a_urls_user_info_are_not_encoded(tmp_path: Path) -> None:
    text = MINIMAL.replace("url: /path/to/video.mp4", "url: rtsp://cam.local/${STREAM}?a=${Q}")
    loaded = load_config(_write(tmp_path, text), environ={"STREAM": "live/main", "Q": "1%2"})
    assert loaded.config.cameras[0].url == "rtsp://cam.local/live/main?a=1%2"


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = _write(tmp_path, "cameras: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(path)


def test_check_cli_prints_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL.replace("fps: 10", "fps: -1"))
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "cameras[0].fps" in lines[0] and ":4:" in lines[0], result.output


def test_check_cli_unknown_model(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "detector:\n  model: yolov99\n")
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1 and "unknown model 'yolov99'" in result.output


def test_check_cli_unknown_class(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL.replace("polygon:", "classes: [unicorn]\n        polygon:"))
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1 and "['unicorn'] are not detected" in result.output, result.output


def test_check_refuses_a_video_file_that_does_not_exist(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("cameras:\n  - name: cam\n    url: /no/such/clip.mp4\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "camera 'cam': url: no such file /no/such/clip.mp4" in result.output
