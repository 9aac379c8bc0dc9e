"""The overview a site manager opens in the morning: today's totals from the database (they
survive a restart), compared with yesterday and last week, a thumbnail per camera, and the
camera's state in words. Desktop and phone screenshots."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
from playwright.sync_api import Browser, Page, ViewportSize, expect

from onsight.service.queries import local_day_start
from onsight.types import LineCrossing, utc_iso
from tests.browser.conftest import log_in, screenshot
from tests.browser.service import CAMERA, Service, build, from_config

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
LAST_WEEK = 2  # people in through the line early on the same weekday last week


def _page(browser: Browser, service: Service, viewport: ViewportSize = DESKTOP) -> Page:
    context = browser.new_context(base_url=service.base_url, viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def _site_in(page: Page) -> int:
    return int(page.locator('[data-site="in"] [data-today]').inner_text())


def _first_seconds(clip: Path, out: Path, seconds: float) -> Path:
    """The clip's first `seconds` (to the keyframe there), its packets copied as they are:
    the same real frames, fewer of them."""
    with av.open(str(clip)) as source, av.open(str(out), "w") as target:
        stream = source.streams.video[0]
        copy = target.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            at = None if packet.pts is None else packet.pts * stream.time_base
            if packet.is_keyframe and at is not None and at >= seconds:
                break
            packet.stream = copy
            target.mux(packet)
    return out


def test_todays_totals_survive_a_restart_and_compare_with_last_week(
    browser: Browser, tmp_path: Path, video: Callable[[str], Path]
) -> None:
    # People cross the line from the first seconds: the clip's first 25 s (of 80) give
    # today's totals as well as the whole clip would, in a third of the time.
    clip = _first_seconds(video("vtest_480x360.avi"), tmp_path / "vtest-25s.avi", 25.0)
    first = build(tmp_path, clip)
    now = datetime.now(UTC)
    midnight = local_day_start(now.astimezone().date())
    last_week = (midnight - timedelta(days=7)).astimezone(UTC)
    # Last week, early on the same weekday: 2 people came in through the line (fewer than
    # the 4 who do in the clip's first 25 s: as many would read "same", not a change).
    first.runner.store.write(
        [
            LineCrossing(last_week + timedelta(seconds=i), CAMERA, "path", "in", "person")
            for i in range(LAST_WEEK)
        ]
    )
    try:
        first.serve()
        page = _page(browser, first)
        log_in(page, "viewer")
        first.play()
        # The clip plays to its end (faster than real time here): the camera is "finished".
        expect(page.locator(f'[data-camera="{CAMERA}"] [data-status]')).to_have_text(
            "finished", timeout=180_000
        )
        page.wait_for_function(
            "() => Number(document.querySelector('[data-site=in] [data-today]').textContent) > 0"
        )
        # A camera that ended has no occupancy "now" (not its last frame's).
        expect(page.locator('[data-zone="left"] [data-count="current"]')).to_have_text("\u2013")
        page.reload()  # the thumbnail is drawn once the camera has a frame
        expect(page.locator("img.thumb")).to_have_count(1)
        page.wait_for_function("() => document.querySelector('img.thumb').naturalWidth > 0")
        screenshot(page, "overview-today")
        page.context.close()
    finally:
        first.close()
    with sqlite3.connect(first.context.loaded.database_path) as db:
        (counted,) = db.execute(
            "SELECT count(*) FROM crossings WHERE direction = 'in' AND time >= ?",
            (utc_iso(midnight),),
        ).fetchone()
    assert counted > 0

    second = from_config(first.config)  # a restart: same config, database and users
    try:
        second.serve()
        page = _page(browser, second)
        log_in(page, "viewer")
        assert _site_in(page) == counted  # from the database, before any new frame
        site = page.locator('[data-site="in"]')
        expect(site.locator(".change").nth(0)).to_have_text("new")  # nothing yesterday
        expected = f"{(counted - LAST_WEEK) / LAST_WEEK:+.0%}".replace("-", "\u2212")
        expect(site.locator(".change").nth(1)).to_have_text(expected)
        card = page.locator(f'[data-camera="{CAMERA}"]')
        expect(card.locator("[data-direction=in] [data-today]")).to_have_text(str(counted))
        expect(card.locator('[data-zone="left"] [data-peak]')).not_to_have_text("\u2013")
        expect(card.locator("[data-status]")).to_have_text("connecting")
        screenshot(page, "overview-after-restart")
        phone = _page(browser, second, PHONE)
        log_in(phone, "viewer")
        width = phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the overview is {width} px wide on a phone"
        screenshot(phone, "overview-phone")
        phone.context.close()
        page.context.close()
    finally:
        second.close()


def test_the_camera_events_and_health_pages_fit_a_phone(browser: Browser, service: Service) -> None:
    service.play()
    page = _page(browser, service, PHONE)
    log_in(page, "viewer")
    for path, name in ((f"/cameras/{CAMERA}", "camera-phone"), ("/events", "events-phone"),
                       ("/health", "health-phone")):  # fmt: skip
        page.goto(path)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        screenshot(page, name)
        assert width <= PHONE["width"], f"{path} is {width} px wide on a phone"
    page.context.close()
