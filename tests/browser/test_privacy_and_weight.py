"""Privacy and weight: the home and results pages transfer under 100 KB in all and ask no other host
for anything; the security headers; map tiles only from a server an operator configures."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

LIMIT_BYTES = 100 * 1024
TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.png"
# A 1×1 PNG, served in place of the operator's tile server (no request leaves this machine).
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")


def transferred(site) -> int:
    total = 0
    for request in site.requests:
        sizes = request.sizes()
        total += sizes["responseHeadersSize"] + sizes["responseBodySize"] + sizes["requestHeadersSize"]
    return total


@pytest.mark.parametrize("path", ["/", "/search?location=78701", "/search?location=Austin%2C+TX&page=2"])
def test_page_weight_and_no_other_host(make_site, austin_clinics, path):
    site = make_site()  # a fresh context: nothing cached
    site.goto(path, wait_until="load")
    site.page.wait_for_load_state("networkidle")
    assert site.foreign_requests() == []
    weight = transferred(site)
    assert 0 < weight < LIMIT_BYTES, f"{path} transferred {weight} bytes in {len(site.requests)} requests"
    # Only the page, its stylesheets and scripts and the favicon: no fonts, no beacons, no polling.
    unexpected = [(r.resource_type, r.url) for r in site.requests
                  if r.resource_type not in ("document", "stylesheet", "script", "image")
                  and not r.url.endswith("/static/img/favicon.svg")]
    assert unexpected == []


def test_security_headers_on_pages_and_static_files(client):
    for path in ("/", "/search?location=78701", "/static/css/site.css", "/nope", "/api/v1/taxonomy"):
        with client.get(path) as response:
            headers = response.headers
        csp = headers["Content-Security-Policy"]
        directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";")}
        assert directives["default-src"] == "default-src 'self'"
        assert directives["img-src"] == "img-src 'self' data:"
        assert directives["object-src"] == "object-src 'none'"
        assert directives["base-uri"] == "base-uri 'none'"
        assert directives["frame-ancestors"] == "frame-ancestors 'none'"
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in headers  # plain HTTP: no HSTS


def test_hsts_only_over_https(client):
    response = client.get("/", base_url="https://kapfinder.test")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_pages_carry_no_inline_script_or_style(client, make_clinic):
    make_clinic(slug="inline-check")
    for path in ("/", "/search?location=78701", "/clinics/inline-check"):
        html = client.get(path).get_data(as_text=True)
        assert "style=" not in html
        assert "<style" not in html
        assert "<script>" not in html and "javascript:" not in html
        assert html.count("<script") == html.count('<script src="/static/js/')


class TestWithTiles:
    @pytest.fixture
    def app_config(self, app_config):
        app_config.TILE_URL = TILE_URL
        app_config.TILE_ATTRIBUTION = "Example Tiles contributors"
        return app_config

    def test_tile_origin_is_allowed_for_images_only(self, client):
        csp = client.get("/").headers["Content-Security-Policy"]
        assert "img-src 'self' data: https://tiles.example.org;" in csp
        assert csp.count("tiles.example.org") == 1

    def test_tiles_load_from_the_configured_server_only(self, make_site, austin_clinics):
        site = make_site()
        asked = []

        def fulfil(route):
            asked.append(route.request.url)
            route.fulfill(status=200, content_type="image/png", body=PNG)

        site.context.route("https://tiles.example.org/**", fulfil)
        site.goto("/search?location=78701", wait_until="load")
        site.page.wait_for_load_state("networkidle")
        tiles = site.page.locator("svg.map image.map-tile")
        assert tiles.count() > 0
        assert asked and all(url.startswith("https://tiles.example.org/") for url in asked)
        assert {r.url.split("/")[2] for r in site.requests} == {site.base.split("/")[2], "tiles.example.org"}
        expect(site.page.locator(".map-attribution")).to_contain_text("Example Tiles contributors")


def test_the_suite_notices_a_csp_violation(make_site):
    """The guard every browser test relies on: an inline script is refused and reported."""
    site = make_site()
    site.goto("/")
    with site.page.expect_console_message(lambda message: message.text.startswith("CSP violation")):
        site.page.evaluate("""() => {
            const s = document.createElement("script");
            s.textContent = "window.ranInline = true";
            document.body.appendChild(s);
        }""")
    assert site.page.evaluate("window.ranInline === undefined")
    found = site.csp_violations()
    assert any("script-src" in text for text in found), site.console
    site.console.clear()  # handled: the fixture would otherwise fail this test at teardown
