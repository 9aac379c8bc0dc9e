"""An inspection camera's page in a real browser: items and rejects per hour, the latest
rejects (item and heatmap), the read rate, unread and wrong-label events, and an admin
learning a new defect reference from the last good items; a viewer cannot.

The service runs on a generated conveyor clip of one product (`tests.conveyor.product_run`):
two items carry defects, one has no label (unread, and unlike the good ones) and one a
wrong EAN-13 (not starting 40). The first reference is learned, before the service starts,
from a short run of good items of the same product, as `onsight inspect collect` sees them.
Screenshots are saved under test-artifacts/screenshots/ for a human to look at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect

from onsight.inspection.cli import collect_command
from onsight.inspection.reference import WEIGHTS, learn, load_images
from onsight.service.auth import User
from onsight.service.inspection_page import Learner
from onsight.service.web import Web
from tests.browser.conftest import log_in, new_page, screenshot
from tests.browser.service import Service, from_config
from tests.conftest import assets_dir, require
from tests.conveyor import ean13, make_conveyor_clip, product_run

CAMERA = "line-1"
FPS = 10
GOOD_SEED, RUN_SEED = 11, 12
ITEMS = 22
GOOD_ITEMS = 10  # the first reference's
DEFECTS = {3: "stain", 9: "tear", 16: "dent"}
UNREAD, WRONG = 6, 12  # indices of the item without a label and of the wrong label
WRONG_CODE = ean13("500000000001")
LEARN_FROM = 10
REGION = "[[0, 0.2], [1, 0.2], [1, 0.8], [0, 0.8]]"

CONFIG = f"""\
site: line-site
privacy:
  operator: the test line
  retention: {{store_media: true, media_hours: 24}}
cameras:
  - name: {CAMERA}
    url: "{{clip}}"
    fps: {FPS}
    purpose: inspection
    privacy: {{redaction: none}}
    inspection: {{region: {REGION}, travel: right, reference: refs/line-1}}
    barcodes:
      formats: [EAN13, Code128, QRCode, DataMatrix]
      expect: {{EAN13: "^40[0-9]{{11}}$"}}
server:
  login_attempts_per_minute: 20
"""


@dataclass(frozen=True)
class Line:
    service: Service
    reference: Path


def _first_reference(root: Path, config: Path) -> None:
    """refs/line-1 from a short good run of the product, as the app crops its items."""
    good_clip = root / "good.mp4"
    make_conveyor_clip(good_clip, product_run(GOOD_ITEMS, seed=GOOD_SEED), fps=FPS, seed=GOOD_SEED)
    crops = root / "good-items"
    collect_command(config, CAMERA, crops, source=str(good_clip), limit=200)
    learn(load_images(crops)).save(root / "refs" / "line-1")


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    require(assets_dir() / "models" / "yolox_nano_416_coco.onnx", "default model")
    require(assets_dir() / "models" / WEIGHTS, "inspection backbone")
    root = tmp_path_factory.mktemp("inspection")
    items = product_run(ITEMS, DEFECTS, seed=RUN_SEED)
    items[UNREAD] = replace(items[UNREAD], code=None, format=None)
    items[WRONG] = replace(items[WRONG], code=WRONG_CODE)
    clip = root / "run.mp4"
    make_conveyor_clip(clip, items, fps=FPS, seed=RUN_SEED)
    config = root / "line.yaml"
    config.write_text(CONFIG.replace("{clip}", str(clip)), encoding="utf-8")
    _first_reference(root, config)
    service = from_config(config)
    try:
        service.serve()
        service.play()
        service.runner.wait()  # the whole clip: its minutes are stored when it ends
        yield Line(service, root / "refs" / "line-1")
    finally:
        service.close()


def _wait_for_images(page: Page) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('.rejects img')].every(i => i.naturalWidth > 0)"
    )


def _number(text: str) -> float:
    found = re.search(r"[0-9]+(?:\.[0-9]+)?", text)
    assert found is not None, text
    return float(found.group())


def test_inspection_page_shows_counts_rejects_reads_and_learns(
    browser: Browser, line: Line
) -> None:
    service = line.service
    page = new_page(browser, service)
    log_in(page, "admin")
    page.goto(f"/cameras/{CAMERA}", wait_until="domcontentloaded")

    # 1. items and rejects per hour, today
    items_today = int(page.locator("[data-items-today]").inner_text())
    assert items_today >= ITEMS - 1  # every item found (one may merge at worst)
    assert int(page.locator("[data-rejected-today]").inner_text()) >= len(DEFECTS)
    chart = page.locator("#inspection figure.chart").first
    expect(chart).to_contain_text("Items and rejects per hour")
    bar_titles = chart.locator("rect title").all_text_contents()
    accepted = sum(int(t.rsplit(": ", 1)[1]) for t in bar_titles if " accepted: " in t)
    rejected = sum(int(t.rsplit(": ", 1)[1]) for t in bar_titles if " rejected: " in t)
    assert accepted > 0 and rejected > 0 and accepted + rejected == items_today

    # 2. the latest rejects: item and heatmap side by side, score against threshold
    figures = page.locator(".rejects figure")
    assert figures.count() >= len(DEFECTS)
    expect(figures.first).to_contain_text("threshold")
    _wait_for_images(page)
    gallery = page.locator("#inspection").inner_text()
    assert "kept in memory only" in gallery and "for at most 24 hours" in gallery

    # 3. read rate, unread and wrong-label events
    rate = _number(page.locator("[data-read-rate]").inner_text())
    assert 70.0 <= rate < 100.0  # the item without a label is never read
    assert _number(page.locator("[data-read-rate-today]").inner_text()) == rate  # one clip
    events = page.locator("#label-events")
    expect(events).to_contain_text("wrong label")
    expect(events).to_contain_text(WRONG_CODE)
    expect(events).to_contain_text("barcode unread")
    page.locator("#inspection").scroll_into_view_if_needed()
    screenshot(page, "inspection-camera")

    # 4. an admin learns a new reference from the last good items
    held = _number(page.locator("[data-good-held]").inner_text())
    assert held >= LEARN_FROM, "too few good items passed to learn from"
    before = (line.reference / "reference.json").read_text(encoding="utf-8")
    page.fill("#learn-items", str(LEARN_FROM))
    page.click(".learn-form button[type=submit]")
    page.wait_for_url(f"**/cameras/{CAMERA}/inspection/learn")
    expect(page.locator("#learn-state")).to_contain_text("learn")  # learning, or done already
    screenshot(page, "inspection-learning")
    # the status page reloads itself while learning runs
    expect(page.locator("#learn-state")).to_contain_text("learned at", timeout=120_000)
    state = page.locator("#learn-state").inner_text()
    assert f"from {LEARN_FROM} items, threshold" in state
    page.goto(f"/cameras/{CAMERA}", wait_until="domcontentloaded")
    expect(page.locator("#learn #learn-state")).to_contain_text(state)
    meta = json.loads((line.reference / "reference.json").read_text(encoding="utf-8"))
    assert meta["images"] == LEARN_FROM and json.dumps(meta) != before
    assert (line.reference / "bank.npy").is_file()
    assert not line.reference.with_name("line-1.new").exists()
    page.locator("#learn").scroll_into_view_if_needed()
    screenshot(page, "inspection-learned")
    page.context.close()
    changes = [r for r in service.runner.audit.tail(200) if r.action == "config_change"]
    assert any(
        r.actor == "admin" and r.details().get("change") == "inspection_reference"
        and r.details().get("outcome") == "learned"
        for r in changes
    )  # fmt: skip


def test_a_viewer_sees_no_learn_form_and_cannot_post(browser: Browser, line: Line) -> None:
    service = line.service
    page = new_page(browser, service)
    log_in(page, "viewer")
    page.goto(f"/cameras/{CAMERA}", wait_until="domcontentloaded")
    expect(page.locator("#inspection")).to_be_visible()
    expect(page.locator(".learn-form")).to_have_count(0)
    token = page.locator("form[action='/logout'] input[name=csrf_token]").get_attribute("value")
    assert token
    answer = page.request.post(
        f"/cameras/{CAMERA}/inspection/learn",
        form={"csrf_token": token, "items": str(LEARN_FROM), "target": "0.01"},
        max_redirects=0,
    )
    assert answer.status == 403
    assert "admin" in answer.text()
    _wait_for_images(page)
    screenshot(page, "inspection-viewer")
    page.context.close()


class _Inspector:
    """What `Learner.start` asks of an inspector, without a camera."""

    def __init__(self, reference_path: Path | None, good: int) -> None:
        self.reference_path = reference_path
        self._good = [np.zeros((40, 60, 3), np.uint8)] * good

    def recent_good(self) -> list[np.ndarray]:
        return list(self._good)


def test_learning_is_refused_without_a_reference_path_or_enough_good_items(
    line: Line, tmp_path: Path
) -> None:
    learner = Learner(Web(line.service.context, None))  # type: ignore[arg-type]  # no routes
    admin = User("admin", "admin")
    learner.start("cam", _Inspector(None, 50), admin, 50, 0.01)  # type: ignore[arg-type]
    state = learner.state("cam")
    assert state is not None and state.state == "failed"
    assert "no `inspection.reference:` path" in state.text()
    learner.start("cam", _Inspector(tmp_path / "ref", 9), admin, 50, 0.01)  # type: ignore[arg-type]
    state = learner.state("cam")
    assert state is not None and state.state == "failed"
    assert "only 9 good items" in state.text() and "at least 10" in state.text()
    assert not (tmp_path / "ref").exists() and not learner.threads
