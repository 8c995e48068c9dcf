"""Swagger UI and ReDoc in a real browser (Debian's Chromium, driven by Playwright), with the network cut off.

Every request to anything but 127.0.0.1 is blocked and fails the test: the pages must work offline.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask_jwt_extended import create_access_token
from playwright.sync_api import BrowserContext, ConsoleMessage, FloatRect, Page, Playwright, Route, sync_playwright

import example_petstore
from flask_ligand.extensions.database import DB
from tests.servers import require, serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
#: The top of the page, what a person sees first.
SCREENSHOT_CLIP: FloatRect = {"x": 0, "y": 0, "width": 1280, "height": 1200}
#: Longest wait for any one thing on the page, in milliseconds.
TIMEOUT_MS = 20_000


class BrowserLog:
    """What the page did that it must not: requests leaving 127.0.0.1, script errors, CSP violations."""

    def __init__(self, expected_errors: tuple[str, ...] = ()) -> None:
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.expected_errors = expected_errors

    def route(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            if not any(expected in message.text for expected in self.expected_errors):
                self.errors.append(message.text)

    def page_error(self, error: Any) -> None:
        self.errors.append(str(error))

    def assert_clean(self) -> None:
        assert self.blocked == [], "the page sent requests away from 127.0.0.1"
        assert self.errors == [], "the page logged errors"


@pytest.fixture
def playwright() -> Iterator[Playwright]:
    """Playwright's driver, only when Debian's Chromium is installed (CI installs it; no browser is downloaded)."""
    require(CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser(playwright: Playwright, tmp_path: Path) -> Iterator[BrowserContext]:
    """A headless Chromium with an empty profile, every page's requests away from 127.0.0.1 blocked."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_FLAGS,
        headless=True,
        viewport={"width": 1280, "height": 1600},
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def log(browser: BrowserContext) -> BrowserLog:
    log = BrowserLog()
    browser.route("**/*", log.route)
    return log


def _petstore(tmp_path: Path, **settings: Any) -> Flask:
    app = example_petstore.create_app(
        "testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'docs.sqlite'}", **settings
    )
    with app.app_context():
        DB.create_all()
    return app


def _open(browser: BrowserContext, log: BrowserLog, url: str) -> Page:
    page = browser.pages[0] if browser.pages else browser.new_page()
    page.on("console", log.console)
    page.on("pageerror", log.page_error)
    page.goto(url)
    return page


def _operation_ids(base_url: str) -> list[str]:
    with urllib.request.urlopen(f"{base_url}/openapi/api-spec.json", timeout=10) as response:
        spec = json.load(response)
    return [
        operation["operationId"]
        for path in spec["paths"].values()
        for method, operation in path.items()
        if method != "parameters"
    ]


def _try_it_out(page: Page, operation_id: str, body: dict[str, Any] | None = None) -> str:
    """Open an operation, run it with "Try it out" and return the status code Swagger UI shows."""
    operation = page.locator(f"#operations-Pets-{operation_id}")
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    if body is not None:
        operation.locator("textarea.body-param__text").fill(json.dumps(body))
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    return status.inner_text().strip()


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
def test_swagger_ui_shows_every_operation_and_runs_them_offline(
    browser: BrowserContext, log: BrowserLog, tmp_path: Path, version: str
) -> None:
    """Swagger UI loads with nothing from outside, lists every operation, authorizes a token and runs list/create."""
    app = _petstore(tmp_path, OPENAPI_VERSION=version)
    with app.app_context():
        token = create_access_token("browser", additional_claims={"realm_access": {"roles": ["user", "admin"]}})
    with serve(app) as base_url:
        page = _open(browser, log, f"{base_url}/apidocs")
        page.locator(".opblock").first.wait_for()
        shown = page.locator(".opblock-summary-operation-id").all_inner_texts()
        assert sorted(shown) == sorted(_operation_ids(base_url))
        assert page.locator(".errors-wrapper").count() == 0, page.locator(".errors-wrapper").inner_text()

        page.locator("button.authorize").first.click()
        page.locator(".modal-ux input").first.fill(token)
        page.locator(".modal-ux button.authorize").click()
        page.locator(".modal-ux button.btn-done").click()

        listed = _try_it_out(page, "listPets")
        created = _try_it_out(page, "createPet", {"name": "Rex", "description": "Found through Swagger UI"})
        page.screenshot(path=str(tmp_path / "swagger-ui.png"), full_page=True, clip=SCREENSHOT_CLIP)
        page.screenshot(path=str(tmp_path / "swagger-ui-full.png"), full_page=True)

    assert (listed, created) == ("200", "201")
    log.assert_clean()


def test_redoc_shows_every_operation_offline(browser: BrowserContext, log: BrowserLog, tmp_path: Path) -> None:
    """ReDoc, when enabled, loads with nothing from outside and lists every operation."""
    # ReDoc's sidebar always shows its vendor's logo from a CDN: the page's CSP stops it inside the browser.
    log.expected_errors = (f"Loading the image '{REDOC_LOGO}' violates the following Content Security Policy",)
    app = _petstore(tmp_path, OPENAPI_REDOC_PATH="/redoc")
    with serve(app) as base_url:
        page = _open(browser, log, f"{base_url}/redoc")
        page.locator("[data-section-id^='operation/']").first.wait_for()
        shown = page.locator("[data-section-id^='operation/']").evaluate_all(
            "elements => elements.map(element => element.dataset.sectionId)"
        )
        page.screenshot(path=str(tmp_path / "redoc.png"))
        assert sorted(shown) == sorted(f"operation/{operation_id}" for operation_id in _operation_ids(base_url))

    log.assert_clean()
