"""A safety camera's page in a real browser: its protective-equipment shares by hour and
since the start, with "fewer than 5 people" where a share would come from fewer; and the
notice saying in plain words that faces are looked at for masks and never stored.

Two still cameras on frames of the worker-zone clip (one worker in an orange vest): `yard`
takes two stills, each of six views of him side by side (a crowd: a share), `gate` three
stills of one view each (three sightings, never five people at once: no share).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import log_in, new_page, screenshot
from tests.browser.service import Service, from_config
from tests.conftest import assets_dir, require
from tests.integration.test_ppe_run import mosaic

CONFIG = """\
site: yard-site
cameras:
  - {{name: yard, url: "{yard}", fps: 1, width: 1440, purpose: safety,
     ppe: {{hivis: true, masks: true}}}}
  - {{name: gate, url: "{gate}", fps: 1, purpose: safety, ppe: {{hivis: true}}}}
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("ppe-site")
    clip = require(assets_dir() / "video" / "worker-zone-detection.gif", "worker-zone clip")
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)][::5]
    stills = {"yard": [mosaic(frames[:6], 3), mosaic(frames[6:12], 3)], "gate": frames[:3]}
    for name, images in stills.items():
        (folder / name).mkdir()
        for number, image in enumerate(images):
            cv2.imwrite(str(folder / name / f"{number:02d}.png"), image)
    config = folder / "onsight.yaml"
    config.write_text(CONFIG.format(yard=folder / "yard", gate=folder / "gate"), encoding="utf-8")
    served = from_config(config)
    served.play()
    give_up = time.monotonic() + 120
    while not all(p.finished for p in served.runner.pipelines):  # stills: a folder ends
        assert time.monotonic() < give_up, "the stills were not analysed"
        time.sleep(0.2)
    served.serve()
    try:
        yield served
    finally:
        served.close()


def test_the_camera_page_shows_shares_and_their_k_suppression(
    browser: Browser, service: Service
) -> None:
    page = new_page(browser, service)
    log_in(page, "viewer")
    page.goto("/cameras/yard")
    panel = page.locator("section, div").filter(has_text="Protective equipment").last
    expect(panel).to_contain_text("Hi-vis, all")
    expect(panel).to_contain_text("Hi-vis, by hour (UTC)")
    expect(panel).to_contain_text(re.compile(r"\d\dh \d+% of 1[23]"))
    screenshot(page, "ppe-camera-yard")
    page.goto("/cameras/gate")
    gate = page.locator("section, div").filter(has_text="Protective equipment").last
    expect(gate).to_contain_text("fewer than 5 people")
    expect(gate).not_to_contain_text("Masks"), "only the checks the camera runs are shown"
    screenshot(page, "ppe-camera-gate")


def test_the_notice_says_faces_are_looked_at_for_masks_and_never_stored(
    browser: Browser, service: Service
) -> None:
    page = new_page(browser, service)
    page.goto("/notice")
    body = page.locator("body")
    expect(body).to_contain_text("faces are looked at to see whether a mask covers")
    expect(body).to_contain_text("No face or picture is stored")
    expect(body).to_contain_text("figures count sightings, not people")
    screenshot(page, "ppe-notice")


def test_the_shares_are_stored_only_from_five(service: Service) -> None:
    import sqlite3

    database: Path = service.context.loaded.database_path
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT camera, equipment, seen FROM ppe_hours").fetchall()
    assert [(camera, equipment) for camera, equipment, _ in rows] == [("yard", "hivis")], (
        "gate's three sightings are never stored"
    )
    assert rows[0][2] >= 12
