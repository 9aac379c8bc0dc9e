"""The fleet dashboard in Chromium over a real PostgreSQL: the sites at a glance with a site
that stopped reporting, footfall per day and week, sites side by side, queue waits and
compliance shares, the date range picker and a CSV download. Desktop and phone screenshots
(test-artifacts/screenshots/fleet-*.png)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.browser.conftest import screenshot
from tests.integration.postgres import Postgres
from tests.integration.test_fleet_web import PASSWORDS, Fleet, build, close, make_stale, seed

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@contextmanager
def _uvicorn(app: FastAPI) -> Iterator[str]:
    """`app` on a free loopback port in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Fleet]]:
    """The seeded fleet behind uvicorn: (base URL, what was stored)."""
    postgres = Postgres()
    try:
        postgres.start()
        name = f"fleet_ui_{uuid.uuid4().hex[:12]}"
        url = postgres.create_database(name)
        stored = seed(url)
        make_stale(postgres, name, "west", timedelta(hours=2, minutes=5))
        served = build(tmp_path_factory.mktemp("fleet-ui"), url, stored)
        try:
            with _uvicorn(served.app) as base:
                yield base, stored
        finally:
            close(served)
    finally:
        postgres.close()


def _page(browser: Browser, base: str, user: str, viewport: ViewportSize = DESKTOP) -> Page:
    page = browser.new_context(base_url=base, viewport=viewport, accept_downloads=True).new_page()
    page.set_default_timeout(15_000)
    page.goto("/footfall")  # a page behind the login: back here after it
    page.fill("#username", user)
    page.fill("#password", PASSWORDS[user])
    page.click("button[type=submit]")
    page.wait_for_url("**/footfall")
    return page


def test_sites_at_a_glance_flag_the_site_that_stopped_reporting(
    browser: Browser, fleet: tuple[str, Fleet]
) -> None:
    base, _ = fleet
    page = _page(browser, base, "viewer")
    page.goto("/")
    expect(page.locator("#sites tbody tr")).to_have_count(3)
    west = page.locator('#sites tr[data-site="west"]')
    expect(west.locator('[data-reporting="no"]')).to_contain_text("no message for 2 h 5 min")
    expect(page.locator('#sites tr[data-site="north"] [data-reporting="yes"]')).to_be_visible()
    expect(page.locator('[data-site-card="north"] tr[data-camera]')).to_have_count(2)
    expect(page.locator("header nav a")).to_have_count(5)  # no "Ingest problems" for viewers
    screenshot(page, "fleet-sites")
    page.context.close()

    phone = _page(browser, base, "viewer", PHONE)
    phone.goto("/")
    expect(phone.locator('#sites tr[data-site="west"] [data-reporting="no"]')).to_be_visible()
    screenshot(phone, "fleet-sites-phone")
    phone.context.close()


def test_footfall_per_day_and_week_with_the_date_picker(
    browser: Browser, fleet: tuple[str, Fleet], tmp_path: Path
) -> None:
    base, stored = fleet
    page = _page(browser, base, "viewer")
    north = page.locator('#table-footfall tr[data-site="north"] td[data-column="Total"]')
    expect(north).to_have_text(str(sum(stored.north_in)))
    expect(page.locator(".chart svg rect")).not_to_have_count(0)
    screenshot(page, "fleet-footfall")

    first = stored.today - timedelta(days=27)
    page.fill("#from", first.isoformat())
    page.select_option("#by", "week")
    page.click("#range-form button[type=submit]")
    page.wait_for_url(f"**/footfall?from={first.isoformat()}*by=week")
    expect(page.locator("#table-footfall caption")).to_have_text("People in, per week")
    expect(north).to_have_text(str(sum(stored.north_in)))
    with page.expect_download() as download:
        page.click("#download-csv")
    saved = tmp_path / "footfall.csv"
    download.value.save_as(saved)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("Site,") and lines[0].endswith(",Total")
    assert any(line.startswith("north,") and line.endswith(",17") for line in lines)

    page.fill("#from", (stored.today + timedelta(days=3)).isoformat())  # after "to"
    page.click("#range-form button[type=submit]")
    expect(page.locator(".message.error")).to_contain_text("is after to")
    expect(page.locator("#table-footfall")).to_have_count(0)
    screenshot(page, "fleet-range-error")
    page.context.close()


def test_comparison_queues_and_compliance_pages(browser: Browser, fleet: tuple[str, Fleet]) -> None:
    base, _ = fleet
    page = _page(browser, base, "admin")
    page.goto("/compare")
    row = page.locator('#table-compare tr[data-site="north"]')
    expect(row.locator('td[data-column="People in"]')).to_have_text("17")
    expect(row.locator('td[data-column="Typical wait (s)"]')).to_have_text("90.0")
    expect(page.locator(".chart")).to_have_count(2)
    screenshot(page, "fleet-compare")

    page.click("header nav >> text=Queues")
    north = page.locator('#table-queues tr[data-site="north"]')
    expect(north.locator('td[data-column="Visits"]')).to_have_text("40")
    expect(north.locator('td[data-column="Longest hourly p90 (s)"]')).to_have_text("200.0")
    screenshot(page, "fleet-queues")

    page.click("header nav >> text=Compliance")
    south = page.locator('#table-compliance tr[data-site="south"]')
    expect(south.locator('td[data-column="Distancing: time close to someone (%)"]')).to_have_text(
        "25.0"
    )
    north_share = page.locator(
        '#table-compliance tr[data-site="north"] td[data-column="Inspection: items rejected (%)"]'
    )
    expect(north_share).to_have_text("\u2013")  # no inspection there: no share, not 0
    screenshot(page, "fleet-compliance")

    page.click("header nav >> text=Ingest problems")
    expect(page.locator("#dead-letters tbody tr")).to_have_count(1)
    screenshot(page, "fleet-dead-letters")
    page.context.close()
