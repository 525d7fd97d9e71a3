"""
Headless Chromium (Debian's `chromium`, installed by `make install`) driven by Playwright, and
signing in to Superset through the LMS's login form, as a person does.
"""

from __future__ import annotations

import shutil
import typing as t

from playwright.sync_api import APIRequestContext, Browser, BrowserContext, Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def published_ports(ports: t.Mapping[str, int]) -> str:
    """
    A Chromium argument that sends the browser's connections to `host:port` (a platform's
    public address, as docker publishes it) to a port of this machine, {"host:port": port};
    the browser keeps the address in its URLs, Host headers and cookies.
    """
    rules = [f"MAP {address} 127.0.0.1:{port}" for address, port in ports.items()]
    return "--host-resolver-rules=" + ", ".join(rules)


class SignedIn(t.NamedTuple):
    status: int  # of the page the browser ended on
    text: str
    api: APIRequestContext  # the browser's cookies, for Superset's API
    page: Page
    context: BrowserContext


def sign_in(
    browser: Browser, superset_url: str, lms_url: str, username: str, password: str
) -> SignedIn:
    """In a fresh browser context: Superset's LMS login, the LMS form, back to Superset."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{superset_url}/login/openedxsso")
    assert page.url.startswith(f"{lms_url}/login"), page.url
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation(url=f"{superset_url}/**") as navigation:
        page.click('button[type="submit"], input[type="submit"]')
    page.wait_for_load_state()
    response = navigation.value
    return SignedIn(response.status, page.content(), context.request, page, context)
