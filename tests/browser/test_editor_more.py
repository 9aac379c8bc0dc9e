"""The editor in a real browser, part two: moving and renaming lines and zones, and adding a
camera (with a connection test against our local RTSP server) from the dashboard.

Screenshots: editor-move, add-camera, add-camera-phone, add-camera-saved
(test-artifacts/screenshots/).
"""

from __future__ import annotations

import json
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from onsight.apps.line_count import KIND as LINES
from onsight.apps.occupancy import KIND as ZONES
from onsight.config.secrets_file import read_secrets, secrets_path
from tests.browser.conftest import log_in, new_page, open_editor, screenshot
from tests.browser.service import CAMERA, Service
from tests.conftest import assets_dir, require
from tests.integration.rtsp_server import RtspServer

RTSP_CLIP = "one-by-one-person-detection.mp4"  # H.264, people walking
PASSWORD = "Xq7-s3cret@cam"  # an unencoded @ too: it must still be taken out whole
SECRET_VAR = "ONSIGHT_CAM_YARD_PASSWORD"
WAIT = 60.0  # seconds; a generous bound so a hung service fails instead of blocking CI


def _drag(page: Page, selector: str, to: tuple[float, float]) -> None:
    """Drag what `selector` finds to a normalised point of the picture."""
    box = page.locator(selector).bounding_box()
    canvas = page.locator("#canvas").bounding_box()
    assert box is not None and canvas is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    target = (canvas["x"] + to[0] * canvas["width"], canvas["y"] + to[1] * canvas["height"])
    page.mouse.move(*target, steps=8)
    page.mouse.up()


def _camera(service: Service, index: int = 0) -> dict[str, object]:
    camera = yaml.safe_load(service.config.read_text(encoding="utf-8"))["cameras"][index]
    assert isinstance(camera, dict)
    return camera


def test_a_line_end_and_a_whole_zone_are_moved_by_dragging(
    browser: Browser, service: Service
) -> None:
    page = open_editor(browser, service)
    _drag(page, "#canvas g.line[data-name='path'] circle.handle[data-index='0']", (0.60, 0.30))
    expect(page.locator("#hint")).to_contain_text("Moved path")
    # the whole zone: grab it by its middle and move it 0.05 to the right
    zone = page.locator("#canvas g.zone[data-name='left'] polygon")
    box, canvas = zone.bounding_box(), page.locator("#canvas").bounding_box()
    assert box is not None and canvas is not None
    start = ((0.20 * canvas["width"]) + canvas["x"], (0.70 * canvas["height"]) + canvas["y"])
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 0.05 * canvas["width"], start[1], steps=5)
    page.mouse.up()
    expect(page.locator("#hint")).to_contain_text("Moved left")
    expect(page.locator("#line-list")).to_contain_text("westward / eastward")
    screenshot(page, "editor-move")
    page.click("#save-form button[type=submit]")
    expect(page.locator(".message.ok")).to_contain_text("Saved")

    line = _camera(service)["lines"][0]  # type: ignore[index]
    assert line["name"] == "path"
    assert line["points"][0] == pytest.approx([0.60, 0.30], abs=0.01)
    assert line["points"][1] == pytest.approx([0.45, 1.0], abs=1e-6)  # the other end stays
    assert (line["in_name"], line["out_name"]) == ("westward", "eastward")
    zone_points = _camera(service)["zones"][0]["polygon"]  # type: ignore[index]
    assert [p[0] for p in zone_points] == pytest.approx([0.05, 0.5, 0.5, 0.05], abs=0.01)
    assert [p[1] for p in zone_points] == pytest.approx([0, 0, 1, 1], abs=1e-6)
    # applied without a restart
    running = service.runner.cameras[0].items(LINES)[0]
    assert running.points[0] == pytest.approx((0.60, 0.30), abs=0.01)
    assert running.in_name == "westward"
    page.context.close()


def _crossings(service: Service, line: str) -> int:
    with sqlite3.connect(service.context.loaded.database_path) as db:
        row = db.execute("SELECT count(*) FROM crossings WHERE line = ?", (line,)).fetchone()
    return int(row[0])


def test_renaming_a_line_and_a_zone_keeps_their_settings(
    browser: Browser, service: Service
) -> None:
    page = open_editor(browser, service)
    deadline = time.monotonic() + WAIT  # counts under the old name, to see that they stay
    while _crossings(service, "path") == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    recorded = _crossings(service, "path")
    assert recorded > 0, "no crossing of 'path' was recorded while the clip played"
    expect(page.locator("#rename-note")).to_contain_text("stay under the old name")
    page.fill("#line-list input.item-name", "doorway")
    page.press("#line-list input.item-name", "Tab")
    expect(page.locator("#hint")).to_contain_text("counts already recorded stay under path")
    page.fill("#zone-list input.item-name", "west-side")
    page.press("#zone-list input.item-name", "Tab")
    expect(page.locator("#canvas g.zone[data-name='west-side']")).to_have_count(1)
    page.click("#save-form button[type=submit]")
    expect(page.locator(".message.ok")).to_contain_text("Saved")

    camera = _camera(service)
    line = camera["lines"][0]  # type: ignore[index]
    assert line["name"] == "doorway"
    assert (line["in_name"], line["out_name"]) == ("westward", "eastward")
    assert [zone["name"] for zone in camera["zones"]] == ["west-side"]  # type: ignore[attr-defined]
    # the running camera counts under the new names, and the API shows them
    running = service.runner.cameras[0]
    assert [line.name for line in running.items(LINES)] == ["doorway"]
    assert running.items(LINES)[0].out_name == "eastward"
    assert [zone.name for zone in running.items(ZONES)] == ["west-side"]
    cameras = json.loads(page.request.get("/api/cameras").text())
    shown = next(c for c in cameras if c["name"] == CAMERA)
    assert [zone["name"] for zone in shown["zones"]] == ["west-side"]
    assert _crossings(service, "path") >= recorded  # what was counted keeps its old name
    change = [r for r in service.runner.audit.tail(50) if r.action == "config_change"][-1]
    renamed = {"lines": {"path": "doorway"}, "zones": {"left": "west-side"}}
    assert json.loads(change.detail)["renamed"] == renamed
    page.goto(f"/editor/{CAMERA}")
    expect(page.locator("#line-list input.item-name")).to_have_value("doorway")
    expect(page.locator("#line-list")).to_contain_text("westward / eastward")
    page.context.close()


@pytest.fixture
def camera_server() -> Iterator[RtspServer]:
    clip = require(assets_dir() / "video" / RTSP_CLIP, f"sample video {RTSP_CLIP}")
    with RtspServer(clip, user="cam", password=PASSWORD) as server:
        yield server


def _test_connection(page: Page, url: str) -> dict[str, object]:
    page.fill("#camera-url", url)
    with page.expect_response("**/cameras/new/test") as answer:
        page.click("#test-connection")
    body = answer.value.text()
    assert PASSWORD not in body and "s3cret" not in body
    result = json.loads(body)
    assert isinstance(result, dict)
    return result


def test_an_admin_adds_a_camera_after_a_connection_test(
    browser: Browser,
    service: Service,
    camera_server: RtspServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    service.play()
    page = new_page(browser, service)
    log_in(page, "admin")
    page.click("#add-camera")
    page.fill("#camera-name", "yard")
    page.select_option("#camera-purpose", "occupancy")
    page.fill("#camera-fps", "5")
    expect(page.locator("#camera-snapshot")).not_to_be_checked()  # an RTSP stream

    wrong = _test_connection(page, camera_server.url("cam", "not-the-password"))
    assert wrong["ok"] is False and "authentication failed" in str(wrong["reason"])
    expect(page.locator("#test-result")).to_contain_text("Not connected: authentication failed")
    expect(page.locator("#test-image")).to_be_hidden()

    url = camera_server.url("cam", PASSWORD)
    good = _test_connection(page, url)
    assert good["ok"] is True and good["redaction"] == "people"
    expect(page.locator("#test-result")).to_contain_text("people blurred")
    expect(page.locator("#test-image")).to_be_visible()
    page.wait_for_function("() => document.getElementById('test-image').naturalWidth > 0")
    screenshot(page, "add-camera")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "add-camera-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    seen = [page.content()]  # the pages and answers the browser got

    page.click("#camera-form button[type=submit]")
    page.wait_for_url(f"{service.base_url}/")
    expect(page.locator("section.camera[data-camera='yard']")).to_be_visible()
    seen.append(page.content())
    screenshot(page, "add-camera-saved")

    text = service.config.read_text(encoding="utf-8")
    added = yaml.safe_load(text)["cameras"][-1]
    assert added["url"] == f"rtsp://cam:${{{SECRET_VAR}}}@127.0.0.1:{camera_server.port}/stream"
    assert (added["name"], added["purpose"], added["fps"]) == ("yard", "occupancy", 5.0)
    assert "snapshot" not in added  # the box was not ticked
    secrets = secrets_path(service.config)
    assert read_secrets(secrets) == {SECRET_VAR: PASSWORD}
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600

    # started in the running service: it analyses frames from the RTSP server
    yard = service.runner.camera("yard")
    assert yard is not None and service.runner.cameras[-1] is yard  # in config order
    deadline = time.monotonic() + WAIT
    while not yard.has_frame() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert yard.has_frame(), "the added camera delivered no frame"
    audit = [r for r in service.runner.audit.tail(50) if r.action == "config_change"]
    assert json.loads(audit[-1].detail) | {"camera": "yard", "added": True} == json.loads(
        audit[-1].detail
    )

    for path in ("/", "/health", "/api/cameras", "/cameras/yard", "/editor/yard"):
        response = page.request.get(path)
        assert response.ok, path
        seen.append(response.text())
    leaked = [
        where
        for where, content in [
            ("pages and answers", "\n".join(seen)),
            ("log", caplog.text),
            ("config", text),
            ("audit", "\n".join(r.detail for r in service.runner.audit.tail(500))),
            ("audit file", Path(service.runner.audit.path).read_bytes().decode("latin-1")),
        ]
        if "s3cret" in content
    ]
    assert leaked == []

    # the name is taken now: refused in words, and the typed URL is not shown back
    page.goto("/cameras/new")
    page.fill("#camera-name", "yard")
    page.fill("#camera-url", url)
    page.click("#camera-form button[type=submit]")
    expect(page.locator(".message.error")).to_contain_text("a camera named 'yard' exists already")
    assert "s3cret" not in page.content()
    page.context.close()
    viewer = new_page(browser, service)  # admins only
    log_in(viewer, "viewer")
    expect(viewer.locator("#add-camera")).to_have_count(0)
    refused = viewer.goto("/cameras/new")
    assert refused is not None and refused.status == 403
    viewer.context.close()
