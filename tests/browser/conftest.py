"""Browser tests: the real service (uvicorn, Runner on a sample clip) and Debian's Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.service import CAMERA, CLIP, PASSWORDS, Service, build
from tests.conftest import REPO, assets_dir, missing, require

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    require(assets_dir() / "models" / "yolox_nano_416_coco.onnx", "default model")
    clip = require(assets_dir() / "video" / CLIP, f"sample video {CLIP}")
    service = build(tmp_path_factory.mktemp("service"), clip)
    try:
        service.serve()
        yield service
    finally:
        service.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        missing(f"Chromium not found at {CHROMIUM}; install it with `apt-get install chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, service: Service) -> Page:
    context = browser.new_context(
        base_url=service.base_url, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def log_in(page: Page, user: str) -> None:
    page.goto("/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORDS[user])
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def open_editor(browser: Browser, service: Service) -> Page:
    """An admin's editor with its snapshot loaded, while the clip plays."""
    service.play()
    page = new_page(browser, service)
    log_in(page, "admin")
    page.goto(f"/editor/{CAMERA}")
    page.wait_for_function("() => document.querySelector('.frame img').naturalWidth > 0")
    return page


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
