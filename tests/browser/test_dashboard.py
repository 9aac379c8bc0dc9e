"""The dashboard in a real browser: log in, counts rise while the clip plays, the live view
shows, a zone drawn in the editor is saved and applied, a viewer cannot reach the editor.

Each page is saved as a screenshot under test-artifacts/screenshots/ for a human to look at.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import cv2
import httpx
import numpy as np
import yaml
from playwright.sync_api import Browser, Page, expect

from onsight.apps.flows import FlowHour
from onsight.apps.heatmap import HeatmapCell
from tests.browser.conftest import log_in, new_page, open_editor, screenshot
from tests.browser.service import CAMERA, CLIP_ENV, Service


def _total_count(page: Page) -> int:
    """Today's crossings over every line of every camera card on the overview."""
    texts = page.locator(".camera [data-direction] [data-today]").all_text_contents()
    return sum(int(text) for text in texts)


def test_login_then_counts_rise_while_the_video_plays(browser: Browser, service: Service) -> None:
    page = new_page(browser, service)
    page.goto("/")
    assert "/login" in page.url  # nothing without a login
    screenshot(page, "login")
    log_in(page, "admin")
    before = _total_count(page)
    service.play()
    # live.js polls /api/today every 2 s and updates the numbers without a reload
    page.wait_for_function(
        f"""() => [...document.querySelectorAll('.camera [data-direction] [data-today]')]
                 .reduce((sum, el) => sum + Number(el.textContent), 0) > {before}""",
        timeout=120_000,
    )
    assert _total_count(page) > before
    expect(page.locator("footer")).to_contain_text("see what is collected: /notice")
    screenshot(page, "overview")
    page.context.close()


def test_camera_page_shows_the_redacted_live_view(browser: Browser, service: Service) -> None:
    service.play()
    page = new_page(browser, service)
    log_in(page, "admin")
    page.goto(f"/cameras/{CAMERA}", wait_until="domcontentloaded")
    page.wait_for_function("() => document.querySelector('#live').naturalWidth > 0", timeout=60_000)
    expect(page.locator("svg.overlay .line")).to_have_count(1)
    expect(page.locator("svg.overlay .zone")).to_have_count(1)
    expect(page.locator("figure.chart")).to_have_count(3)
    page.wait_for_timeout(1000)  # a few more MJPEG frames, for the screenshot
    screenshot(page, "camera")
    page.context.close()
    actions = [(r.action, r.actor) for r in service.runner.audit.tail(200)]
    assert ("live_view", "admin") in actions


def test_the_live_stream_is_multipart_jpeg(service: Service) -> None:
    service.play()
    url = f"{service.base_url}/cameras/{CAMERA}/live.mjpeg"
    headers = {"Authorization": f"Bearer {service.token}"}
    data = b""
    with httpx.stream("GET", url, headers=headers, timeout=60) as response:
        assert response.status_code == 200
        kind, _, boundary = response.headers["content-type"].partition("; boundary=")
        assert kind == "multipart/x-mixed-replace" and boundary
        marker = b"--" + boundary.encode()
        for chunk in response.iter_bytes():
            data += chunk
            if data.count(marker) >= 3:
                break  # closing the stream here ends it on the server too
    for part in data.split(marker)[1:3]:
        head, _, body = part.partition(b"\r\n\r\n")
        assert b"Content-Type: image/jpeg" in head
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        image = cv2.imdecode(np.frombuffer(body[:length], np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (360, 480, 3)
    assert ("live_view", "token:ci") in [
        (r.action, r.actor) for r in service.runner.audit.tail(200)
    ]


def _draw_polygon(page: Page, tool: str, corners: list[tuple[float, float]]) -> None:
    """Pick a drawing tool, click each corner (normalised) on the picture, finish."""
    canvas = page.locator("#canvas")
    box = canvas.bounding_box()
    assert box is not None
    page.click(tool)
    for x, y in corners:
        canvas.click(position={"x": x * box["width"], "y": y * box["height"]})
    page.click("#finish-zone")


def test_a_zone_drawn_in_the_editor_is_saved_and_applied(
    browser: Browser, service: Service
) -> None:
    page = open_editor(browser, service)
    corners = [(0.55, 0.30), (0.90, 0.30), (0.90, 0.80), (0.55, 0.80)]
    page.fill("#item-name", "queue")
    _draw_polygon(page, "#draw-zone", corners)
    expect(page.get_by_role("textbox", name="Name of zone queue")).to_have_value("queue")
    screenshot(page, "editor")
    page.click("#save-form button[type=submit]")
    expect(page.locator(".message.ok")).to_contain_text("Saved")
    expect(page.locator("svg.overlay .zone")).to_have_count(2)
    screenshot(page, "editor-saved")

    text = service.config.read_text(encoding="utf-8")
    assert "${" + CLIP_ENV + "}" in text  # the secret-bearing reference stays a reference
    camera = yaml.safe_load(text)["cameras"][0]
    zones = {zone["name"]: zone["polygon"] for zone in camera["zones"]}
    assert set(zones) == {"left", "queue"}
    for (x, y), (want_x, want_y) in zip(zones["queue"], corners, strict=True):
        assert abs(x - want_x) < 0.01 and abs(y - want_y) < 0.01
    assert camera["lines"][0]["in_name"] == "westward"  # untouched settings survive
    assert service.config.with_name("onsight.yaml.bak").exists()

    # applied without a restart: the running pipeline and the API have the new zone
    cameras = json.loads(page.request.get("/api/cameras").text())
    assert "queue" in [zone["name"] for zone in cameras[0]["zones"]]
    assert any(r.action == "config_change" for r in service.runner.audit.tail(200))
    page.context.close()


def test_an_ignored_area_drawn_in_the_editor_is_saved_and_applied(
    browser: Browser, service: Service
) -> None:
    page = open_editor(browser, service)
    corners = [(0.02, 0.15), (0.09, 0.15), (0.09, 0.30), (0.02, 0.30)]  # the sign in vtest
    _draw_polygon(page, "#draw-ignore", corners)
    expect(page.locator("#ignore-list")).to_contain_text("ignore 1")
    page.click("#save-form button[type=submit]")
    expect(page.locator(".message.ok")).to_contain_text("Saved")
    expect(page.locator("svg.overlay .ignore")).to_have_count(1)
    screenshot(page, "editor-ignore")

    camera = yaml.safe_load(service.config.read_text(encoding="utf-8"))["cameras"][0]
    assert len(camera["ignore"]) == 1
    for (x, y), (want_x, want_y) in zip(camera["ignore"][0], corners, strict=True):
        assert abs(x - want_x) < 0.01 and abs(y - want_y) < 0.01
    # applied without a restart, and the other geometry is untouched
    camera_handle = service.runner.cameras[0]
    assert len(camera_handle.config.ignore) == 1 and camera_handle.config.lines
    page.goto(f"/editor/{CAMERA}")
    page.click("#ignore-list button")  # delete it again
    page.click("#save-form button[type=submit]")
    expect(page.locator(".message.ok")).to_contain_text("Saved")
    assert "ignore" not in yaml.safe_load(service.config.read_text(encoding="utf-8"))["cameras"][0]
    assert camera_handle.config.ignore == []
    page.context.close()


def test_events_health_and_notice_pages(browser: Browser, service: Service) -> None:
    service.play()
    page = new_page(browser, service)
    log_in(page, "viewer")
    page.goto("/events?kind=crossing")
    expect(page.locator("table.events tbody tr").first).to_be_visible()
    screenshot(page, "events")
    page.goto("/health")
    expect(page.locator("table.health").first).to_contain_text(CAMERA)
    screenshot(page, "health")
    page.context.close()
    public = new_page(browser, service)  # the notice needs no login
    public.goto("/notice")
    expect(public.locator("h1")).to_contain_text("what is measured and why")
    screenshot(public, "notice")
    public.context.close()


def test_a_viewer_cannot_reach_the_editor(browser: Browser, service: Service) -> None:
    page = new_page(browser, service)
    log_in(page, "viewer")
    expect(page.locator("nav")).to_be_visible()
    assert page.locator("a[href^='/editor']").count() == 0
    response = page.goto(f"/editor/{CAMERA}")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_contain_text("Not allowed")
    screenshot(page, "viewer-editor-forbidden")
    page.context.close()


def test_the_editor_draws_a_queue_and_a_wrong_way_alert(browser: Browser, service: Service) -> None:
    page = open_editor(browser, service)
    corners = [(0.10, 0.50), (0.40, 0.50), (0.40, 0.95), (0.10, 0.95)]
    page.fill("#item-name", "checkout")
    _draw_polygon(page, "#draw-queue", corners)
    expect(page.locator("#queue-list input.item-name")).to_have_value("checkout")
    first_line = page.locator("#line-list select").first
    first_line.select_option("out")
    page.click("#save-form button[type=submit]")
    expect(page.locator(".message.ok")).to_contain_text("Saved")

    camera = yaml.safe_load(service.config.read_text(encoding="utf-8"))["cameras"][0]
    assert [queue["name"] for queue in camera["queues"]] == ["checkout"]
    assert camera["lines"][0]["alert_direction"] == "out"
    assert camera["lines"][0]["in_name"] == "westward"  # untouched settings survive
    page.goto(f"/editor/{CAMERA}")
    expect(page.locator("#line-list select").first).to_have_value("out")
    page.goto(f"/cameras/{CAMERA}")
    expect(page.locator("section.card h2", has_text="Queues")).to_be_visible()


def test_heatmap_and_flows_page_draws_released_cells_and_the_flow_chart(
    browser: Browser, service: Service
) -> None:
    """Released rows (as the heatmap and flows apps store them at the end of an hour) are
    drawn over the snapshot, as a floor plan in metres, and as a Sankey-style chart."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    cells = [
        HeatmapCell(hour, CAMERA, "ground", x, y, 1.0, 5 + x % 3, 30.0 + 10 * (x + y + 24))
        for x in range(-14, -6)
        for y in range(-10, -4)
    ]
    flows = [
        FlowHour(hour, CAMERA, "line:path", "zone:left", 12),
        FlowHour(hour, CAMERA, "zone:left", "line:path", 7),
        FlowHour(hour, CAMERA, "other", "other", 3),
    ]
    service.runner.store.write([*cells, *flows])
    service.play()
    page = new_page(browser, service)
    log_in(page, "viewer")
    page.goto(f"/cameras/{CAMERA}")
    page.click("text=Heatmap and flows")
    page.wait_for_function("() => document.querySelector('.frame img').naturalWidth > 0")
    assert page.locator("svg.overlay.heat polygon").count() >= 30  # cells on the picture
    expect(page.locator("#floor-plan polygon")).to_have_count(len(cells))
    # a line every metre over the 8 x 6 m of cells, numbered axes and a 1 m scale bar
    expect(page.locator("#floor-plan line.grid")).to_have_count(9 + 7)
    expect(page.locator("#floor-plan text", has_text="1 m")).to_have_count(1)
    expect(page.locator("#floor-plan text", has_text="-14")).to_have_count(1)
    expect(page.locator("#flow-chart path")).to_have_count(3)
    expect(page.locator("table.events")).to_contain_text("zone:left")
    screenshot(page, "heatmap-and-flows")


def test_the_editor_calibrates_by_clicking_floor_marks(browser: Browser, service: Service) -> None:
    page = open_editor(browser, service)
    while page.locator("#calibration-list button").count():  # start from no marks
        page.locator("#calibration-list button").first.click()
    marks = [  # vtest's floor marks A-D: picture (normalised) and floor (metres)
        ((37.5 / 480, 350 / 360), (-20.593, -9.369)),
        ((450 / 480, 350 / 360), (-16.772, -16.209)),
        ((400 / 480, 93.75 / 360), (6.846, -6.475)),
        ((75 / 480, 100 / 360), (-0.524, 9.139)),
    ]
    canvas = page.locator("#canvas")
    box = canvas.bounding_box()
    assert box is not None
    for (x, y), (gx, gy) in marks:
        page.fill("#ground-x", str(gx))
        page.fill("#ground-y", str(gy))
        page.click("#add-calibration")
        canvas.click(position={"x": x * box["width"], "y": y * box["height"]})
    expect(page.locator("#calibration-list li")).to_have_count(4)
    page.click("#save-form button[type=submit]")
    expect(page.locator(".message.ok")).to_contain_text("Saved")
    camera = yaml.safe_load(service.config.read_text(encoding="utf-8"))["cameras"][0]
    assert camera["calibration"]["ground"][2] == [6.846, -6.475]
    calibration = service.runner.cameras[0].config.calibration
    assert calibration is not None and max(calibration.errors_m()) < 0.5
