"""The reports page in a real browser: a custom range per day, the table and charts per line
and zone, the Excel download (audited) holding exactly the page's numbers, a clear error for
a bad range, and a phone-sized page that does not scroll sideways. Desktop and phone
screenshots."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlencode

from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, ViewportSize, expect

from onsight.types import Event, LineCrossing, ZoneMinute
from tests.browser.conftest import log_in, screenshot
from tests.browser.service import CAMERA, Service

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


def _page(browser: Browser, service: Service, viewport: ViewportSize) -> Page:
    context = browser.new_context(
        base_url=service.base_url, viewport=viewport, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    """A local (site) time on `day`, as UTC, the way events are stamped."""
    return datetime.combine(day, time(hour, minute)).astimezone().astimezone(UTC)


def _events(first: date) -> list[Event]:
    """Over a week from `first`: crossings on its 2nd and 5th day, occupancy on its 2nd."""
    second, fifth = first + timedelta(days=1), first + timedelta(days=4)
    return [
        *(LineCrossing(_at(second, 9, m), CAMERA, "path", "in", "person") for m in range(3)),
        LineCrossing(_at(second, 17), CAMERA, "path", "out", "person"),
        *(LineCrossing(_at(fifth, 12, m), CAMERA, "path", "in", "person") for m in range(2)),
        ZoneMinute(_at(second, 10), CAMERA, "left", "person", 1.0, 2, 60),
        ZoneMinute(_at(second, 10, 1), CAMERA, "left", "person", 2.0, 4, 60),
    ]


def _page_tables(page: Page) -> dict[str, list[str]]:
    """Export column name -> the page's cells in that column (periods, then the total)."""
    columns: dict[str, list[str]] = {}
    for table in page.locator("table.report").all():
        headers = table.locator("thead th[data-column]").all()
        for index, header in enumerate(headers):
            name = header.get_attribute("data-column")
            assert name is not None
            cells = table.locator(f"tbody tr td:nth-of-type({index + 1})").all_inner_texts()
            total = table.locator(f"tfoot tr td:nth-of-type({index + 1})").inner_text()
            columns[name] = [*cells, total]
    return columns


def _same(text: str, value: object) -> bool:
    if text == "\u2013":
        return value is None
    return isinstance(value, int | float) and math.isclose(float(text), value, abs_tol=0.005)


def test_a_custom_range_per_day_shows_tables_charts_and_downloads_the_same_excel(
    browser: Browser, service: Service, tmp_path: Path
) -> None:
    today = datetime.now().astimezone().date()
    first, last = today - timedelta(days=9), today - timedelta(days=3)
    service.runner.store.write(_events(first))
    page = _page(browser, service, DESKTOP)
    log_in(page, "viewer")
    page.click("header nav >> text=Reports")
    expect(page.locator("h1")).to_have_text("Reports")
    expect(page.locator("header nav a[aria-current=page]")).to_have_text("Reports")
    page.select_option("#range", "custom")
    page.fill("#from", first.isoformat())
    page.fill("#to", last.isoformat())
    page.select_option("#by", "day")
    page.select_option("#camera", CAMERA)
    page.click("#report-form button[type=submit]")
    page.wait_for_url("**/reports?*range=custom*")

    crossings = page.locator('table.report[data-kind="crossing"][data-name="path"]')
    expect(crossings.locator("tbody tr")).to_have_count(7)
    second = crossings.locator("tbody tr").nth(1)
    expect(second.locator("th")).to_have_text(f"{first + timedelta(days=1):%a %Y-%m-%d}")
    expect(second.locator("td")).to_have_text(["3", "1"])
    expect(crossings.locator("tbody tr").nth(0).locator("td")).to_have_text(["0", "0"])
    expect(crossings.locator("tfoot td")).to_have_text(["5", "1"])
    zone = page.locator('table.report[data-kind="zone_minute"][data-name="left"]')
    expect(zone.locator("tbody tr").nth(1).locator("td")).to_have_text(["1.50", "4"])
    expect(zone.locator("tbody tr").nth(0).locator("td")).to_have_text(["\u2013", "\u2013"])
    # a chart per table: bars for the crossings, a line for the occupancy
    expect(page.locator(".report-item figure.chart")).to_have_count(2)
    assert page.locator(".report-item figure.chart rect").count() >= 3
    # one day of occupancy: a dot for mean and peak (a line needs two neighbouring days)
    expect(page.locator(".report-item figure.chart circle")).to_have_count(2)
    screenshot(page, "reports")

    with page.expect_download() as info:
        page.click("#download-xlsx")
    download = info.value
    assert download.suggested_filename == f"onsight-report-{first}-{last}-day.xlsx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    sheet = load_workbook(saved)["Report"]
    cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header, body = cells[0], cells[1:]
    assert header[:2] == ["Period", "Start"] and len(body) == 7 + 1
    periods = page.locator("table.report").first.locator("tbody th").all_inner_texts()
    assert [row[0] for row in body] == [*periods, "Total"]
    shown = _page_tables(page)
    assert set(shown) == set(header[2:])  # every column of the workbook is on the page
    for name, texts in shown.items():
        column = header.index(name)
        values = [row[column] for row in body]
        assert all(_same(t, v) for t, v in zip(texts, values, strict=True)), (name, texts, values)
    record = [r for r in service.runner.audit.tail(50) if r.action == "export"][-1]
    assert record.actor == "viewer" and record.details()["format"] == "xlsx"
    assert record.details()["first"] == first.isoformat()

    # the downloads refuse what the page explains
    bad = {"range": "custom", "from": last.isoformat(), "to": first.isoformat()}
    response = page.request.get("/reports.xlsx?" + urlencode(bad))
    assert response.status == 422 and "after" in response.text()
    page.goto("/reports?" + urlencode(bad))
    expect(page.locator(".message.error")).to_contain_text(f"from {last} is after to {first}")
    page.goto("/reports?" + urlencode({"range": "7d", "camera": "nowhere"}))
    expect(page.locator(".message.error")).to_contain_text("no camera named 'nowhere'")
    page.context.close()

    phone = _page(browser, service, PHONE)
    log_in(phone, "viewer")
    query = {"range": "custom", "from": first.isoformat(), "to": last.isoformat(), "by": "day"}
    phone.goto("/reports?" + urlencode(query))
    expect(phone.locator("table.report")).not_to_have_count(0)
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the reports page is {width} px wide on a phone"
    screenshot(phone, "reports-phone")
    phone.context.close()
