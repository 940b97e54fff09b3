"""``/admin/docs`` in a real browser, on a machine without internet: headless
Chromium (Debian's ``chromium``, driven by Playwright) loads the page from a
real server with every request to another host refused, and the page still
renders every operation of the admin API, from the server's own files.

Where ``/usr/bin/chromium`` is missing (``apt-get install chromium``) the
browser test skips with that reason; with ``PK_TEST_BROWSER_REQUIRED=1`` (CI)
it fails instead. The browser is only ever Debian's: ``playwright install``
is never run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from .server import ServerProcess, running_server

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
REQUIRED = os.environ.get("PK_TEST_BROWSER_REQUIRED") == "1"
# Parsing Swagger UI's 1.5 MB script and drawing the page takes a second or
# two on CI's two cores; the limit leaves room without hiding a blank page.
_render_ms_max = 20_000
_launch_ms_max = 30_000
_timeout_seconds = 10.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # The page reads no data: one server on SQLite is enough.
    with running_server(tmp_path_factory.mktemp("docs")) as process:
        yield process


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        reason = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
        if REQUIRED:
            pytest.fail(f"{reason}, and PK_TEST_BROWSER_REQUIRED=1")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, timeout=_launch_ms_max
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _operation_count(server: ServerProcess) -> int:
    document = httpx.get(f"{server.base_url}/admin/openapi.json", timeout=_timeout_seconds).json()
    return sum(len(operations) for operations in document["paths"].values())


def _is_the_servers(url: str, server: ServerProcess) -> bool:
    parts = urlsplit(url)
    return (parts.scheme, parts.hostname, parts.port) == ("http", "127.0.0.1", server.port)


def _page_urls(page: Page) -> list[str]:
    """Every URL the page's elements name, resolved as the browser would."""
    urls: list[str] = page.eval_on_selector_all(
        "[src], link[href]", "elements => elements.map(e => e.src || e.href)"
    )
    return urls


def test_the_docs_render_every_operation_with_other_hosts_refused(
    server: ServerProcess, browser: Browser
) -> None:
    requested: list[str] = []
    refused: list[str] = []
    failed: list[str] = []
    errors: list[str] = []

    def only_the_server(route: Route) -> None:
        if _is_the_servers(route.request.url, server):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    # A fresh context: nothing cached, no token, as a first visit.
    context = browser.new_context()
    try:
        context.route("**/*", only_the_server)
        page = context.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        answer = page.goto(f"{server.base_url}/admin/docs", wait_until="load")
        assert answer is not None and answer.status == 200
        # The load event waits for the page's scripts and style sheets.
        assert refused == [], f"the page asked other hosts: {refused}"

        customer = page.locator(
            ".opblock", has=page.locator("[data-path='/v1/customers/{customerNumber}']")
        )
        expect(customer.first).to_be_visible(timeout=_render_ms_max)
        # Both methods of the path, named as the document names them.
        expect(customer).to_have_count(2)
        methods = customer.locator(".opblock-summary-method").all_inner_texts()
        assert sorted(methods) == ["GET", "PUT"]
        expect(page.locator(".opblock")).to_have_count(_operation_count(server))
        expect(page.locator(".info .title")).to_contain_text("pointkeeper admin API")
        page_urls = _page_urls(page)
    finally:
        context.close()

    assert refused == []
    assert failed == []
    assert errors == []
    assert f"{server.base_url}/admin/openapi.json" in requested
    assert [url for url in requested if not _is_the_servers(url, server)] == []
    assert page_urls, "the page names its script, style sheet and icon"
    assert [url for url in page_urls if not _is_the_servers(url, server)] == []


def test_the_docs_files_are_open_without_a_token_with_their_types_and_caching(
    server: ServerProcess,
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=_timeout_seconds) as client:
        page = client.get("/admin/docs")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-cache"
        assert "https://" not in page.text and "http://" not in page.text
        files = {
            "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
            "swagger-ui.css": "text/css; charset=utf-8",
            "favicon.png": "image/png",
        }
        for name, media_type in files.items():
            (url,) = [part.split('"')[0] for part in page.text.split('="') if name in part]
            answer = client.get(url)
            assert answer.status_code == 200, url
            assert answer.headers["content-type"] == media_type
            assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert "etag" in answer.headers
            assert len(answer.content) > 0
        # The token rule is unchanged: the API itself still wants one, and
        # nothing else under the files' folder is served.
        assert client.get("/admin/v1/customers/1").status_code == 401
        assert client.get(url.rsplit("/", 1)[0] + "/redoc.standalone.js").status_code == 401
