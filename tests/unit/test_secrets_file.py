"""The secrets file beside a config, and taking a password out of a camera URL (also through
the dashboard's add-camera form)."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from onsight.config import LoadedConfig, load_config
from onsight.config.editor import add_camera
from onsight.config.secrets_file import (
    read_secrets,
    secret_name,
    secrets_path,
    split_password,
    write_secrets,
)
from onsight.errors import ConfigError
from onsight.service import add_camera as add_camera_page
from onsight.service.web import Web

CONFIG = """\
cameras:
  - name: door
    url: rtsp://user:${DOOR_PASS}@10.0.0.5/stream
"""


@pytest.mark.parametrize(
    ("url", "want_url", "want_password"),
    [
        (
            "rtsp://user:pw@host/x",
            "rtsp://user:${ONSIGHT_CAM_GATE_PASSWORD}@host/x",
            "pw",
        ),
        (  # percent-encoded in the URL: stored decoded (the loader encodes it again)
            "rtsp://admin:p%40ss%2Fw@10.0.0.5:554/h264?ch=1",
            "rtsp://admin:${ONSIGHT_CAM_GATE_PASSWORD}@10.0.0.5:554/h264?ch=1",
            "p@ss/w",
        ),
        (  # an unencoded @ in the password: the user-info ends at the last @
            "rtsp://admin:p@ss@10.0.0.5/h264",
            "rtsp://admin:${ONSIGHT_CAM_GATE_PASSWORD}@10.0.0.5/h264",
            "p@ss",
        ),
        ("rtsp://10.0.0.5/h264", "rtsp://10.0.0.5/h264", ""),  # no credentials
        ("rtsp://viewer@10.0.0.5/h264", "rtsp://viewer@10.0.0.5/h264", ""),  # user only
        ("/videos/door.mp4", "/videos/door.mp4", ""),
        ("rtsp://u:${MINE}@h/x", "rtsp://u:${MINE}@h/x", ""),  # already a reference
    ],
)
def test_split_password(url: str, want_url: str, want_password: str) -> None:
    split = split_password(url, "ONSIGHT_CAM_GATE_PASSWORD")
    assert (split.url, split.password) == (want_url, want_password)
    assert split.variable == ("ONSIGHT_CAM_GATE_PASSWORD" if want_password else "")


def test_secret_names_are_valid_variables_and_unique() -> None:
    assert secret_name("front-door.2") == "ONSIGHT_CAM_FRONT_DOOR_2_PASSWORD"
    taken = {"ONSIGHT_CAM_A_B_PASSWORD", "ONSIGHT_CAM_A_B_2_PASSWORD"}
    assert secret_name("a.b", taken) == "ONSIGHT_CAM_A_B_3_PASSWORD"


def test_write_then_read_keeps_values_verbatim_and_the_file_private(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml.secrets.env"
    write_secrets(path, {"A_PASS": "x=y # not a comment 'q'"})
    write_secrets(path, {"B_PASS": " spaced "})
    write_secrets(path, {"A_PASS": "new"})
    assert read_secrets(path) == {"A_PASS": "new", "B_PASS": " spaced "}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_secrets(tmp_path / "missing.env") == {}
    with pytest.raises(ConfigError, match="single line"):
        write_secrets(path, {"C_PASS": "two\nlines"})


def test_a_malformed_line_is_named_without_its_value(tmp_path: Path) -> None:
    path = tmp_path / "s.env"
    path.write_text("# comment\n\nGOOD=1\nnot a pair hunter2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"s\.env:4: expected NAME=value") as error:
        read_secrets(path)
    assert "hunter2" not in str(error.value)


def test_load_config_reads_the_secrets_file_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    with pytest.raises(ConfigError, match="DOOR_PASS is not set"):
        load_config(config, {})
    write_secrets(secrets_path(config), {"DOOR_PASS": "from-file"})
    assert secrets_path(config).name == "site.yaml.secrets.env"
    loaded = load_config(config, {})
    assert loaded.config.cameras[0].url == "rtsp://user:from-file@10.0.0.5/stream"
    assert "from-file" in loaded.secrets  # scrubbed from messages like any ${ENV} value
    from_env = load_config(config, {"DOOR_PASS": "from-env"})
    assert from_env.config.cameras[0].url == "rtsp://user:from-env@10.0.0.5/stream"


def test_adding_a_camera_writes_a_reference_and_the_secret(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    write_secrets(secrets_path(config), {"DOOR_PASS": "door-secret"})
    loaded = load_config(config, {})
    split = split_password("rtsp://cam:s3cr%40t@10.0.0.6/live", "ONSIGHT_CAM_YARD_PASSWORD")
    entry = {"name": "yard", "url": split.url, "purpose": "occupancy", "fps": 5.0}
    new = add_camera(loaded, entry, {split.variable: split.password})
    assert [c.name for c in new.config.cameras] == ["door", "yard"]
    assert new.config.cameras[1].url == "rtsp://cam:s3cr%40t@10.0.0.6/live"
    text = config.read_text(encoding="utf-8")
    assert "${ONSIGHT_CAM_YARD_PASSWORD}" in text and "s3cr" not in text
    assert "${DOOR_PASS}" in text  # other references stay references
    assert read_secrets(secrets_path(config))["ONSIGHT_CAM_YARD_PASSWORD"] == "s3cr@t"
    assert config.with_name("site.yaml.bak").exists()
    with pytest.raises(ConfigError, match="duplicate name 'yard'"):
        add_camera(new, entry, {})
    assert text == config.read_text(encoding="utf-8")  # a refused camera changes nothing


class _Runner:
    """The running service's part in adding a camera: write the config (no pipelines)."""

    def add_camera(
        self, loaded: LoadedConfig, entry: dict[str, Any], secrets: dict[str, str], actor: str
    ) -> LoadedConfig:
        return add_camera(loaded, entry, secrets)


def _form_client(config: Path) -> TestClient:
    """The dashboard's add-camera routes over `config`, an admin logged in, CSRF passed."""
    loaded = load_config(config, {"DOOR_PASS": "door-secret"})
    context = SimpleNamespace(loaded=loaded, runner=_Runner())
    auth = SimpleNamespace(admin=lambda: SimpleNamespace(name="admin"), check_csrf=lambda: None)
    web = SimpleNamespace(context=context, auth=auth, scrub=lambda text: text)
    app = FastAPI()
    app.include_router(add_camera_page.router(cast(Web, web)))
    return TestClient(app, follow_redirects=False)


@pytest.mark.parametrize("ticked", [True, False])
def test_the_add_camera_form_saves_snapshot_true_only_when_ticked(
    tmp_path: Path, ticked: bool
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    write_secrets(secrets_path(config), {"DOOR_PASS": "door-secret"})
    url = "http://cam:s3cret@10.0.0.6/cgi-bin/snapshot.cgi"
    form = {"name": "yard", "url": url, "purpose": "occupancy", "fps": "1"}
    if ticked:
        form["snapshot"] = "true"  # what the ticked checkbox sends
    response = _form_client(config).post("/cameras/new", data=form)
    assert response.status_code == 303, response.text
    saved = yaml.safe_load(config.read_text(encoding="utf-8"))["cameras"][-1]
    assert saved["url"] == "http://cam:${ONSIGHT_CAM_YARD_PASSWORD}@10.0.0.6/cgi-bin/snapshot.cgi"
    if ticked:
        assert saved["snapshot"] is True
    else:
        assert "snapshot" not in saved
    camera = load_config(config, {"DOOR_PASS": "x"}).config.cameras[-1]
    assert camera.snapshot is ticked


def test_the_add_camera_form_refuses_a_snapshot_that_is_not_http(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    before = config.read_text(encoding="utf-8")
    web = SimpleNamespace(context=SimpleNamespace(loaded=load_config(config, {"DOOR_PASS": "x"})))
    with pytest.raises(add_camera_page.CameraFormError, match="snapshot: true needs an http"):
        add_camera_page.new_camera(
            cast(Web, web), "yard", "rtsp://cam:pw@10.0.0.6/live", "occupancy", 1.0, True
        )
    assert config.read_text(encoding="utf-8") == before
