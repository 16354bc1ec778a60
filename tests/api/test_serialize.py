"""kapfinder.serialize and kapfinder.openapi without a request, and the formats of DESIGN.md (that the core
imports no Flask is tests/infra/test_architecture.py's)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from kapfinder.formats import iso_date, iso_seconds
from kapfinder.serialize import clinic_detail, clinic_summary, distances

from fixtures.clinics import build_clinic


def test_datetimes_are_utc_with_z_and_dates_are_plain():
    eastern = timezone(timedelta(hours=-5))
    assert iso_seconds(datetime(2025, 1, 31, 9, 5, 7, 123456, tzinfo=eastern)) == "2025-01-31T14:05:07Z"
    assert iso_seconds(datetime(2025, 1, 31, 9, 5, 7)) == "2025-01-31T09:05:07Z"
    assert iso_seconds(None) is None
    assert iso_date(date(2025, 3, 4)) == "2025-03-04"


def test_distances_round_from_the_unrounded_miles():
    assert distances(None) == (None, None)
    assert distances(12.34) == (12.3, 19.9)  # 12.34 mi = 19.859 km
    assert distances(0.05) == (0.1, 0.1)


def test_summary_and_detail_without_a_database():
    now = datetime(2025, 6, 1, tzinfo=timezone.utc)
    clinic = build_clinic(now=now - timedelta(days=100), id="3F2504E0-4F89-41D3-9A0C-0305E82C3301",
                          methods=["ketamine-nasal", "im"], at_home_states=["WA", "CA"],
                          prices=[{"service": "psychotherapy", "min_usd": 100, "max_usd": 100},
                                  {"service": "esketamine", "min_usd": None, "max_usd": None}])
    clinic.updated_at = now
    summary = clinic_summary(clinic, url="https://x.example/clinics/a", distance_mi=3.04, match="distance",
                             coverage=[], now=now)
    assert summary["id"] == "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
    assert summary["methods"] == ["im", "ketamine-nasal"]
    assert summary["stale"] is True
    assert summary["coverage"] == []
    assert [p["service"] for p in summary["self_pay"]] == ["esketamine", "psychotherapy"]
    detail = clinic_detail(clinic, url="https://x.example/clinics/a", now=now)
    assert "coverage" not in detail
    assert detail["at_home_states"] == ["CA", "WA"]
    assert detail["updated_at"] == "2025-06-01T00:00:00Z"
