"""Browser tests: the real app served by a real WSGI server on loopback, driven by Debian's Chromium.

- ``live_server``: the ``app`` fixture (test database, tables emptied after each test) served by
  werkzeug's threaded server on 127.0.0.1; ``BASE_URL`` is that address, so links in mail work.
- ``site``: a fresh browser page for the live server. It records every request the page makes,
  every console message and every ``securitypolicyviolation`` event; a test fails at teardown if the
  Content-Security-Policy blocked anything.
- ``check_axe(page)``: axe-core (shipped inside axe-playwright-python) injected with
  ``page.evaluate`` (a script tag would be refused by the CSP); fails on serious or critical
  violations.
- Without /usr/bin/chromium every browser test skips with that reason (with CI=true a skip fails).
"""
from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}

# Registered before any page script runs (an init script is not subject to the page's CSP): every
# CSP violation becomes a console error the ``site`` fixture records.
REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline"));
});
"""


BROWSER_FIXTURES = {"site", "make_site", "browser", "page"}


def pytest_collection_modifyitems(items):
    """Every test here that drives Chromium is marked ``browser`` (``-m "not browser"`` leaves them out)."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def server_port() -> int:
    """One loopback port for the whole run; each test starts and stops its own server on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server_base(server_port) -> str:
    return f"http://127.0.0.1:{server_port}"


@pytest.fixture
def app_config(app_config, server_base):
    app_config.BASE_URL = server_base
    return app_config


@pytest.fixture
def live_server(app, server_port, server_base):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", server_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="kapfinder-live-server", daemon=True)
    thread.start()
    try:
        yield server_base
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- pytest-playwright, pointed at Debian's Chromium ---------------------------------------------

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@dataclass
class Site:
    """A browser page on the live server and what it saw."""
    page: object
    context: object
    base: str
    requests: list = field(default_factory=list)
    console: list = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def goto(self, path: str, **kwargs):
        response = self.page.goto(self.url(path), **kwargs)
        return response

    def csp_violations(self) -> list[str]:
        return [text for kind, text in self.console
                if "Content Security Policy" in text or text.startswith("CSP violation")]

    def foreign_requests(self) -> list[str]:
        own = urlsplit(self.base).netloc
        return [r.url for r in self.requests
                if urlsplit(r.url).scheme in ("http", "https", "ws", "wss") and urlsplit(r.url).netloc != own]


@pytest.fixture
def make_site(browser, live_server):
    """``make_site(**context_options)``: a new browser context and page; several per test are fine
    (a patient and a moderator side by side)."""
    contexts = []
    sites: list[Site] = []

    def make(**options) -> Site:
        options.setdefault("viewport", DESKTOP)
        options.setdefault("locale", "en-US")
        options.setdefault("base_url", live_server)
        context = browser.new_context(**options)
        context.add_init_script(REPORT_CSP)
        contexts.append(context)
        page = context.new_page()
        site = Site(page=page, context=context, base=live_server)
        page.on("request", lambda request: site.requests.append(request))
        page.on("console", lambda msg: site.console.append((msg.type, msg.text)))
        page.on("pageerror", lambda err: site.console.append(("pageerror", str(err))))
        sites.append(site)
        return site

    yield make
    problems = []
    for site in sites:
        problems += site.csp_violations()
        problems += [text for kind, text in site.console if kind == "pageerror"]
    for context in contexts:
        context.close()
    assert not problems, "the browser reported CSP violations or script errors:\n" + "\n".join(problems)


@pytest.fixture
def site(make_site) -> Site:
    return make_site()


# --- accessibility --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def axe_source() -> str:
    from axe_playwright_python.sync_playwright import Axe

    return Axe().axe_script


def axe_violations(page, axe_source: str) -> list[dict]:
    """Serious and critical axe-core violations on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    # target-size (WCAG 2.2: targets at least 24 px) is switched on explicitly, with the default rules.
    result = page.evaluate("axe.run(document, {resultTypes: ['violations'], rules: {'target-size': {enabled: true}}})")
    return [v for v in result["violations"] if v.get("impact") in ("serious", "critical")]


def describe_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['impact']}: {v['id']}: {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}: {node.get('failureSummary', '').splitlines()[-1:]}")
    return "\n".join(lines)


@pytest.fixture
def check_axe(axe_source):
    def check(page, label: str = ""):
        found = axe_violations(page, axe_source)
        assert not found, f"axe on {label or page.url}:\n{describe_violations(found)}"

    return check


# --- screenshots and layout -----------------------------------------------------------------------

@pytest.fixture(scope="session")
def screenshots_enabled() -> bool:
    """Screenshots on SQLite only (DESIGN: Tests, CI and dependencies)."""
    return os.environ.get("KAPFINDER_TEST_ENGINE", "sqlite") == "sqlite"


@pytest.fixture
def screenshot(screenshots_enabled):
    def take(page, name: str):
        if not screenshots_enabled:
            return
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        width = page.viewport_size["width"]
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)

    return take


def sideways_overflow(page) -> int:
    """How many CSS pixels the page can scroll sideways (0 is the goal)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


# --- data -----------------------------------------------------------------------------------------

@pytest.fixture
def austin_clinics(make_clinic, days_ago):
    """25 published clinics within 20 miles of Austin, TX (78701), nearest first by construction,
    so results run to two pages; every third takes Aetna PPO for Spravato, every other one offers
    oral ketamine, one is stale and one is a fictional sample listing."""
    clinics = []
    for n in range(25):
        methods = ["iv"] + (["oral"] if n % 2 else []) + (["esketamine-nasal"] if n % 3 == 0 else [])
        insurance = [{"carrier": "aetna", "service": "esketamine", "network": "in-network", "plan_types": ["ppo"]}] \
            if n % 3 == 0 else []
        when = days_ago(120) if n == 7 else days_ago(n % 30)
        clinics.append(make_clinic(
            name=f"Austin Care {n + 1:02d}", slug=f"austin-care-{n + 1:02d}",
            lat=30.2713 + 0.012 * (n + 1), lon=-97.7426, methods=methods, insurance=insurance,
            rems_certified=n % 3 == 0, phone=f"+1512555{n:04d}", verified_at=when, confirmed_at=when,
            prices=[{"service": "ketamine", "min_usd": 400 + n, "max_usd": 600 + n}],
            sample=n == 24, hours=[{"day": "mo", "opens": "09:00", "closes": "17:00"}]))
    return clinics


# --- journeys -------------------------------------------------------------------------------------

def sign_in(site: Site, email: str, password: str) -> None:
    """Sign in through the real form, as a person would."""
    page = site.page
    site.goto("/account/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/account/sign-in" not in page.url, f"sign-in failed for {email}: {page.url}"


def search_form(page):
    """The search form on the home page or the results page (there is exactly one)."""
    return page.locator("form.search-form")
