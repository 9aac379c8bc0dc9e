"""The printable transparency notice (privacy rule 7), rendered from the live config."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from onsight.config import Config, LoadedConfig, load_config
from onsight.config.purposes import PURPOSES, app_descriptions
from onsight.privacy.cli import notice_command
from onsight.privacy.notice import NEVER_COLLECTED, NO_CONTACT, render_notice

GENERATED = datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
SECRET = "Pa55w0rd!x"

SITE = """\
site: depot-7
database: /var/lib/onsight/events.db
cameras:
  - name: front-door
    url: rtsp://admin:${CAM_PASS}@10.0.0.5:554/stream1
    detect_url: rtsp://viewer:sub-secret@10.0.0.5/stream2
    purpose: footfall
    lines:
      - {name: entrance, points: [[0.5, 0], [0.5, 1]], in_name: enter, out_name: leave}
    zones:
      - {name: lobby, polygon: [[0, 0], [1, 0], [1, 1]], dwell: true}
  - name: loading-bay
    url: http://user:secret@10.0.0.6/video.mjpg
    purpose: safety
    privacy:
      redaction: faces
      masks:
        - [[0, 0], [0.2, 0], [0.2, 0.2]]
        - [[0.8, 0.8], [1, 0.8], [1, 1]]
    zones:
      - {name: forklift-lane, polygon: [[0, 0], [1, 0], [1, 1]]}
privacy:
  operator: '<script>alert("owned")</script> Logistics'
  contact: Jo Bloggs, facilities desk, jo@example.com
  audit_log: /var/lib/onsight/audit-trail.db
  retention: {events_days: 14}
"""


def _load(tmp_path: Path, text: str = SITE) -> LoadedConfig:
    path = tmp_path / "onsight.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, {"CAM_PASS": SECRET})


@pytest.fixture
def html(tmp_path: Path) -> str:
    return render_notice(_load(tmp_path).config, GENERATED)


def _text(html: str) -> str:
    """The visible text, tags dropped and whitespace collapsed, for phrase matching."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_rule7_notice_says_what_is_collected_why_where_and_for_how_long(html: str) -> None:
    text = _text(html)
    # why: each camera's purpose in plain language
    assert "Count visitors entering and leaving" in text
    assert PURPOSES["safety"].capitalize() in text
    # what: derived from the apps each camera runs
    for app in ("line_count", "occupancy", "dwell"):
        assert app_descriptions()[app] in text
    assert app_descriptions()["ppe"] not in text
    # where: nothing leaves the machine, because no sink is configured
    assert "No data leaves this machine." in text
    # how long
    assert "Counts and statistics are deleted after 14 days." in text
    assert "No raw images or video are kept." in text
    assert "tamper-evident audit log" in text
    assert "Generated 2025-03-01 08:30 UTC" in text


def test_rule7_notice_lists_what_is_never_collected(html: str) -> None:
    text = _text(html)
    for item in NEVER_COLLECTED:
        assert item in text
    assert "images of people, unless the people in them are blurred first" in text
    assert "face recognition" in text and "tracks or paths" in text


def test_notice_names_who_runs_it_and_who_to_ask(html: str) -> None:
    assert "Jo Bloggs, facilities desk, jo@example.com" in _text(html)


def test_contact_defaults_to_asking_the_site_manager() -> None:
    config = Config.model_validate({"cameras": [{"name": "a", "url": "x.mp4"}]})
    text = _text(render_notice(config, GENERATED))
    assert f"Questions or concerns: {NO_CONTACT}" in text
    assert "Run by: the site operator" in text


def test_notice_lists_lines_zones_redaction_and_masks_per_camera(html: str) -> None:
    text = _text(html)
    assert "Camera front-door" in text and "Camera loading-bay" in text
    assert "entrance (crossings counted as enter / leave)" in text
    assert "lobby (also time spent there)" in text and "forklift-lane" in text
    assert "images shown to staff blur whole people" in text
    assert "images shown to staff blur faces and heads" in text
    assert "2 areas are blacked out in every image" in text


def test_rule7_notice_never_shows_camera_urls_passwords_or_file_paths(
    tmp_path: Path, html: str
) -> None:
    for leak in (SECRET, "Pa55w0rd%21x", "admin", "sub-secret", "user:secret", "10.0.0", "rtsp"):
        assert leak not in html
    for path in ("/var/lib/onsight", "events.db", "audit-trail.db", str(tmp_path)):
        assert path not in html


def test_notice_escapes_a_hostile_operator_name(html: str) -> None:
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt; Logistics" in html


def test_notice_is_self_contained_and_printable(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    for external in ("http://", "https://", "src=", "<link", "@import", "url(", "<script"):
        assert external not in html
    assert "@media print" in html


def test_kept_media_is_announced_with_its_hours(tmp_path: Path) -> None:
    text = SITE.replace(
        "retention: {events_days: 14}", "retention: {store_media: true, media_hours: 48}"
    )
    out = _text(render_notice(_load(tmp_path, text).config, GENERATED))
    assert "Raw images and video are kept for 48 hours at most" in out
    assert "except the raw video kept for at most 48 hours" in out
    assert "deleted after 30 days" in out


def test_a_camera_without_lines_or_zones_says_nothing_is_measured() -> None:
    config = Config.model_validate({"cameras": [{"name": "a", "url": "x.mp4"}]})
    assert "nothing yet: no counting lines or areas are set up" in _text(
        render_notice(config, GENERATED)
    )


def test_template_ships_inside_the_package() -> None:
    template = resources.files("onsight.privacy").joinpath("templates/notice.html.j2")
    assert template.is_file()


def _notice_app() -> typer.Typer:
    app = typer.Typer()
    app.command("notice")(notice_command)
    return app


def test_notice_command_writes_stdout_or_a_file(tmp_path: Path) -> None:
    config = tmp_path / "onsight.yaml"
    config.write_text(SITE.replace("${CAM_PASS}", "inline"), encoding="utf-8")
    result = CliRunner().invoke(_notice_app(), [str(config)])
    assert result.exit_code == 0 and "Camera front-door" in result.output
    out = tmp_path / "notice.html"
    result = CliRunner().invoke(_notice_app(), [str(config), "--out", str(out)])
    assert result.exit_code == 0 and "No data leaves this machine" in out.read_text("utf-8")


def test_notice_command_reports_a_bad_config_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(_notice_app(), [str(tmp_path / "missing.yaml")])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "config file not found" in result.output


def test_rule7_notice_lists_every_opt_in_sink_by_host_without_secrets() -> None:
    config = Config.model_validate(
        {
            "cameras": [{"name": "a", "url": "x.mp4"}],
            "mqtt": {"host": "broker.local"},
            "webhooks": [
                {
                    "name": "bi",
                    "url": "https://user:pw@hooks.example.com/in?token=abc",
                    "events": ["crossing", "zone_minute"],
                    "secret": "0123456789abcdef",
                }
            ],
        }
    )
    text = _text(render_notice(config, GENERATED))
    assert "No data leaves this machine" not in text
    assert "MQTT broker broker.local" in text
    assert "web service hooks.example.com (bi): line crossings, occupancy per minute" in text
    for secret in ("user", "pw@", "token", "abc", "0123456789abcdef"):
        assert secret not in text
