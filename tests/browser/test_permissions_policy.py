"""Permissions-Policy in a real browser: Chromium knows every feature the header names (an unknown
one is a console error on every page), "use my location" and "copy link" stay allowed for the site,
and the rest is off."""
from __future__ import annotations


def test_the_browser_accepts_the_policy_and_keeps_only_what_the_site_uses(site):
    site.goto("/")
    problems = [text for _kind, text in site.console if "Permissions-Policy" in text or "Permissions Policy" in text]
    assert problems == []
    allowed = site.page.evaluate("""() => {
        const policy = document.permissionsPolicy || document.featurePolicy;
        return Object.fromEntries(["geolocation", "clipboard-write", "camera", "microphone", "payment", "usb"]
            .map(name => [name, policy.allowsFeature(name)]));
    }""")
    assert allowed == {"geolocation": True, "clipboard-write": True, "camera": False, "microphone": False,
                       "payment": False, "usb": False}
