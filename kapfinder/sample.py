"""Fictional sample clinics at real ZIP centroids, deterministic for a seed. No Flask.

``generate`` streams :class:`bulk.ClinicRows` one clinic at a time, so a million clinics never sit
in memory; ``load`` replaces earlier sample listings with new ones in one write transaction.
Everything random comes from one ``random.Random(seed)``: ids, slugs and every fact are the same
for the same seed and count; dates are offsets from the load time.
"""
from __future__ import annotations

import random
import re
import time
import unicodedata
import uuid
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Iterable, Iterator

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from . import bulk, vocab
from .bulk import ClinicRows
from .listings.rules import luhn_check_digit, npi_is_valid  # noqa: F401  (one NPI check for everything)
from .db import write_transaction
from .models import STALE_AFTER, Clinic, GazetteerZip, Status, utcnow

DEFAULT_CLINICS = 300
DEFAULT_SEED = 1
STALE_SHARE = 0.15
AT_HOME_SHARE = 0.10
OLDEST_CONFIRMATION_DAYS = 150
SAMPLE_ID_EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the timestamp part of sample ids

# Obviously fictional names: a whimsical word pair and a kind of practice.
_NAME_FIRST = (
    "Sunrise", "Bluebird", "Quiet", "Lantern", "Juniper", "Harbor", "Meadow", "Cedar", "Willow", "Aurora",
    "Tidewater", "Moonlit", "Amber", "Silver", "Clearwater", "Evergreen", "Hummingbird", "Kestrel", "Lighthouse",
    "Maple", "Northstar", "Orchard", "Pebble", "Riverstone", "Sagebrush", "Tamarack", "Velvet", "Wren", "Zephyr",
    "Copper", "Driftwood", "Firefly", "Granite", "Heron", "Indigo", "Larkspur", "Marigold", "Otter", "Prairie",
    "Saffron",
)
_NAME_SECOND = (
    "Path", "Grove", "Mind", "Horizon", "Harbor", "Bridge", "Valley", "Lotus", "Compass", "Meadow", "Summit",
    "Canyon", "Hollow", "Trail", "Garden", "Tide", "Ember", "Spring", "Current", "Ridge",
)
_NAME_KIND = (
    "Ketamine Wellness", "Ketamine Clinic", "Infusion Center", "Mind Clinic", "Psychiatric Care",
    "Integrative Psychiatry", "KAP Collective", "Mental Health Studio", "Ketamine Therapy", "Wellness Institute",
    "Infusion & Therapy", "Psychedelic Care",
)
_STREETS = (
    "Maple", "Oak", "Cedar", "Pine", "Elm", "Willow", "Birch", "Aspen", "Lakeview", "Hillcrest", "Sunset",
    "Park", "Main", "Church", "Mill", "River", "Meadow", "Forest", "Spring", "Highland", "Orchard", "Harbor",
)
_STREET_TYPES = ("St", "Ave", "Blvd", "Rd", "Dr", "Ln", "Way", "Pkwy", "Ct", "Pl")

# One or two real area codes per state; the numbers are in the fictional 555-0100..0199 range.
AREA_CODES = {
    "AL": ("205", "251"), "AK": ("907",), "AZ": ("602", "520"), "AR": ("501", "479"),
    "CA": ("213", "415", "619", "916"), "CO": ("303", "719"), "CT": ("203", "860"), "DE": ("302",),
    "DC": ("202",), "FL": ("305", "407", "813", "904"), "GA": ("404", "912"), "HI": ("808",), "ID": ("208",),
    "IL": ("312", "217"), "IN": ("317", "219"), "IA": ("515", "319"), "KS": ("316", "785"),
    "KY": ("502", "859"), "LA": ("504", "225"), "ME": ("207",), "MD": ("410", "301"), "MA": ("617", "413"),
    "MI": ("313", "616"), "MN": ("612", "218"), "MS": ("601", "228"), "MO": ("314", "816"), "MT": ("406",),
    "NE": ("402", "308"), "NV": ("702", "775"), "NH": ("603",), "NJ": ("201", "609"), "NM": ("505", "575"),
    "NY": ("212", "518", "716"), "NC": ("704", "919"), "ND": ("701",), "OH": ("614", "216"),
    "OK": ("405", "918"), "OR": ("503", "541"), "PA": ("215", "412"), "PR": ("787", "939"), "RI": ("401",),
    "SC": ("803", "843"), "SD": ("605",), "TN": ("615", "901"), "TX": ("512", "713", "214", "210"),
    "UT": ("801", "435"), "VT": ("802",), "VA": ("804", "703"), "WA": ("206", "509"), "WV": ("304",),
    "WI": ("414", "608"), "WY": ("307",),
}

# Carriers a clinic is likelier to take come first: weights for picking them.
_CARRIER_WEIGHTS = {
    "aetna": 10, "anthem": 7, "bcbs": 10, "cigna": 8, "humana": 4, "kaiser": 2, "uhc": 10, "ambetter": 3,
    "oscar": 2, "medicare": 6, "medicaid": 4, "tricare": 3, "va-ccn": 2,
}
_PRICE_RANGES = {  # (low, high) bounds of a per-session self-pay price, whole dollars
    "esketamine": (600, 1000), "psychotherapy": (150, 250), "evaluation": (250, 500),
    "iv": (400, 800), "im": (250, 500), "ketamine-nasal": (150, 350), "oral": (100, 300),
}
_HOURS_TEMPLATES = (
    (("mo", "tu", "we", "th", "fr"), "09:00", "17:00"),
    (("mo", "tu", "we", "th", "fr"), "08:00", "18:00"),
    (("mo", "tu", "we", "th"), "08:30", "17:30"),
    (("tu", "we", "th", "fr", "sa"), "10:00", "18:00"),
    (("mo", "we", "fr"), "09:00", "16:00"),
)


@dataclass(frozen=True)
class ZipPoint:
    zip: str
    city: str
    state: str
    lat: float
    lon: float
    timezone: str | None
    weight: int


def standard_zips(bind: Session | Connection) -> list[ZipPoint]:
    """Every STANDARD ZIP of the gazetteer, weighted by how many STANDARD ZIPs its city has,
    so cities get more clinics than villages (in ZIP order, for determinism)."""
    rows = bind.execute(
        select(GazetteerZip.zip, GazetteerZip.city, GazetteerZip.state, GazetteerZip.lat, GazetteerZip.lon,
               GazetteerZip.timezone)
        .where(GazetteerZip.zip_type == "STANDARD").order_by(GazetteerZip.zip)).all()
    per_city = Counter((r.city, r.state) for r in rows)
    return [ZipPoint(r.zip, r.city, r.state, r.lat, r.lon, r.timezone, per_city[(r.city, r.state)]) for r in rows]


# --- small checked facts ------------------------------------------------------------------------

def make_npi(rng: random.Random) -> str:
    first9 = f"{rng.randrange(100_000_000, 300_000_000):09d}"
    return first9 + luhn_check_digit("80840" + first9)


def slugify(text: str) -> str:
    """ASCII-folded, lower-case, hyphen-separated."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")


class _Slugs:
    """Unique slugs: the base, then base-2, base-3... on collision."""

    def __init__(self, taken: Iterable[str] = ()):
        self.used = set(taken)
        self.next_suffix: dict[str, int] = {}

    def claim(self, base: str) -> str:
        if base not in self.used:
            self.used.add(base)
            return base
        n = self.next_suffix.get(base, 2)
        while f"{base}-{n}" in self.used:
            n += 1
        self.next_suffix[base] = n + 1
        slug = f"{base}-{n}"
        self.used.add(slug)
        return slug


# --- the generator -------------------------------------------------------------------------------

def _pick_some(rng: random.Random, probabilities: dict[str, float]) -> list[str]:
    return [slug for slug, p in probabilities.items() if rng.random() < p]


_CARRIER_POOL = tuple(c for c, w in _CARRIER_WEIGHTS.items() for _ in range(w))


def _carriers(rng: random.Random, k: int) -> list[str]:
    """k distinct carriers, commoner ones likelier."""
    chosen: set[str] = set()
    k = min(k, len(_CARRIER_WEIGHTS))
    while len(chosen) < k:
        chosen.add(_CARRIER_POOL[int(rng.random() * len(_CARRIER_POOL))])
    return vocab.CARRIERS.ordered(chosen)


def _plan_types(rng: random.Random, carrier: str) -> list[str]:
    """Empty (every plan type) most of the time; otherwise a plausible few."""
    if rng.random() < 0.6:
        return []
    if carrier == "medicare":
        return ["medicare-advantage"]
    if carrier in ("medicaid", "tricare", "va-ccn"):
        return ["other"] if rng.random() < 0.5 else []
    return vocab.PLAN_TYPES.ordered(rng.sample(("hmo", "ppo", "epo", "pos", "hdhp"), rng.randint(1, 3)))


def _price(rng: random.Random, low: int, high: int) -> tuple[int, int]:
    lo = rng.randrange(low, high + 1, 25)
    if rng.random() < 0.35:
        return lo, lo
    return lo, min(high, lo + rng.randrange(25, 301, 25))


def _coverage(rng: random.Random, service: str, as_of) -> list[dict]:
    """Insurance rows of one service: Spravato often in network, racemic ketamine mostly self-pay
    (sometimes out of network with a superbill), therapy and evaluation sometimes in network."""
    roll = rng.random()
    if service == "esketamine":
        network, k = (("in-network", rng.randint(2, 8)) if roll < 0.75 else
                      ("out-of-network", rng.randint(1, 4)) if roll < 0.85 else (None, 0))
    elif service == "ketamine":
        network, k = (("out-of-network", rng.randint(1, 4)) if roll < 0.25 else
                      ("in-network", rng.randint(1, 2)) if roll < 0.32 else (None, 0))
    elif service == "psychotherapy":
        network, k = (("in-network", rng.randint(1, 6)) if roll < 0.40 else
                      ("out-of-network", rng.randint(1, 4)) if roll < 0.60 else (None, 0))
    else:  # evaluation
        network, k = (("in-network", rng.randint(1, 6)) if roll < 0.50 else
                      ("out-of-network", rng.randint(1, 3)) if roll < 0.65 else (None, 0))
    if not network:
        return []
    return [{"carrier": c, "service": service, "network": network, "plan_types": _plan_types(rng, c), "as_of": as_of}
            for c in _carriers(rng, k)]


def _hours(rng: random.Random) -> list[dict[str, str]]:
    days, opens, closes = rng.choice(_HOURS_TEMPLATES)
    hours = [{"day": d, "opens": opens, "closes": closes} for d in days]
    if "sa" not in days and rng.random() < 0.2:
        hours.append({"day": "sa", "opens": "10:00", "closes": "14:00"})
    return hours


def _ago(now: datetime, days: float) -> datetime:
    return (now - timedelta(days=days)).replace(microsecond=0)


def sample_id(rng: random.Random, n: int) -> str:
    """A time-ordered UUID (version 7 layout) for the n-th sample clinic: a fixed timestamp plus n
    in milliseconds, then 74 bits from the seeded RNG. Ids ascend in load order, so the indexes on
    ``clinic.id`` and on every child table's ``clinic_id`` grow at the end instead of at random
    places, which keeps a million-clinic load fast; the random bits keep ids unique across seeds."""
    value = ((SAMPLE_ID_EPOCH_MS + n) << 80) | rng.getrandbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


# Cumulative weights computed once (what random.choices would compute on every call: same draws).
_THERAPIES, _THERAPY_CUM = ("integrated", "prep-integration", "medication-only"), (30, 75, 100)
_ACCEPTING, _ACCEPTING_CUM = (True, False, None), (80, 95, 100)


#: Where more of the staff speak Spanish (about half the clinics there, a quarter elsewhere: a third
#: over the weighted country).
_SPANISH_STATES = frozenset({"TX", "CA", "FL", "NM", "AZ", "NV", "NY", "NJ", "IL", "CO", "PR"})
#: Other staff languages, roughly as common as they are spoken at home in the US.
_OTHER_LANGUAGES = {"zh": 0.06, "vi": 0.04, "tl": 0.04, "ko": 0.03, "ru": 0.03, "ar": 0.03, "fr": 0.03,
                    "ht": 0.015, "pt": 0.025, "de": 0.02, "hi": 0.03, "pl": 0.015, "ja": 0.015, "fa": 0.02,
                    "ur": 0.015, "gu": 0.01, "bn": 0.01, "it": 0.015, "pa": 0.01, "hy": 0.01, "te": 0.01,
                    "ta": 0.01, "he": 0.01, "el": 0.01, "so": 0.008, "am": 0.008, "uk": 0.015, "nv": 0.004,
                    "ase": 0.02}
_INTERPRETED = {"es": 0.5, "ase": 0.5, "zh": 0.2, "vi": 0.2, "ar": 0.15, "so": 0.1, "ru": 0.1, "ht": 0.1}


def _languages(clinic_id: str, state: str, as_of) -> dict:
    """Staff languages, interpreter services and their date, from a generator of their own (seeded by
    the clinic id), so adding them left every other sample fact as it was."""
    rng = random.Random(f"{clinic_id}/languages")
    if rng.random() < 0.05:  # the listing does not say
        return {"languages": [], "interpreter_services": False, "interpreter_languages": [], "languages_as_of": None}
    spoken = ["en"] if rng.random() < 0.97 else []
    if rng.random() < (0.5 if state in _SPANISH_STATES else 0.25):
        spoken.append("es")
    spoken += _pick_some(rng, _OTHER_LANGUAGES)
    spoken = spoken or ["es"]
    interpreters = rng.random() < 0.25
    covered = [c for c in _pick_some(rng, _INTERPRETED) if c not in spoken] if interpreters else []
    return {"languages": vocab.LANGUAGES.ordered(spoken), "interpreter_services": interpreters,
            "interpreter_languages": vocab.LANGUAGES.ordered(covered), "languages_as_of": as_of}


def _clinic(rng: random.Random, n: int, z: ZipPoint, now: datetime, slugs: _Slugs) -> ClinicRows:
    clinic_id = sample_id(rng, n)
    name = f"{rng.choice(_NAME_FIRST)} {rng.choice(_NAME_SECOND)} {rng.choice(_NAME_KIND)}"
    city = z.city
    slug = slugs.claim(slugify(f"{name} {city}"))

    at_home = rng.random() < AT_HOME_SHARE
    if at_home:
        settings = ["at-home"] if rng.random() < 0.4 else ["in-clinic", "at-home"]
        methods = ["oral"] + _pick_some(rng, {"ketamine-nasal": 0.3, "im": 0.2})
        others = [s for s in vocab.STATES.slugs if s != z.state]
        at_home_states = [z.state] + rng.sample(others, rng.randint(0, 5))
    else:
        settings = ["in-clinic"]
        methods = _pick_some(rng, {"iv": 0.6, "im": 0.3, "oral": 0.2, "esketamine-nasal": 0.4,
                                   "ketamine-nasal": 0.08})
        methods = methods or [rng.choice(("iv", "esketamine-nasal"))]
        at_home_states = []
    methods = vocab.METHODS.ordered(methods)
    rems = "esketamine-nasal" in methods or rng.random() < 0.05

    therapy = rng.choices(_THERAPIES, cum_weights=_THERAPY_CUM)[0]
    extras = [] if therapy == "medication-only" else _pick_some(
        rng, {"group-integration": 0.3, "mindfulness": 0.35, "somatic": 0.2})
    offers_evaluation = rng.random() < 0.7
    conditions = _pick_some(rng, {"depression": 0.9, "treatment-resistant-depression": 0.7, "ptsd": 0.5,
                                  "anxiety": 0.6, "substance-use": 0.2, "ocd": 0.2, "bipolar-depression": 0.15,
                                  "chronic-pain": 0.25}) or ["depression"]

    # About 15 % were last confirmed more than 90 days ago, the rest within the last 88.
    stale_days = STALE_AFTER.days
    if rng.random() < STALE_SHARE:
        confirmed_days = rng.uniform(stale_days + 2, OLDEST_CONFIRMATION_DAYS)
    else:
        confirmed_days = rng.uniform(0.1, stale_days - 2)
    verified_days = confirmed_days if rng.random() < 0.6 else confirmed_days + rng.uniform(1, 60)
    confirmed_at = _ago(now, confirmed_days)
    verified_at = _ago(now, verified_days)
    created_at = _ago(now, verified_days + rng.uniform(1, 400))
    as_of = confirmed_at.date()

    services = vocab.services_offered(methods, therapy, offers_evaluation)
    insurance = [row for service in services for row in _coverage(rng, service, as_of)]
    out_of_network = any(r["network"] == "out-of-network" for r in insurance)
    prices = []
    for service in services:
        if rng.random() < 0.08:
            continue  # price not published
        key = service
        if service == "ketamine":
            key = next(m for m in ("iv", "im", "ketamine-nasal", "oral") if m in methods)
        lo, hi = _price(rng, *_PRICE_RANGES[key])
        prices.append({"service": service, "min_usd": lo, "max_usd": hi, "as_of": as_of})

    prescribers = _pick_some(rng, {"md": 0.6, "do": 0.15, "np": 0.35, "pa": 0.1}) or ["md"]
    licenses = [] if therapy == "medication-only" else (
        _pick_some(rng, {"lcsw": 0.4, "lmft": 0.3, "lpc": 0.3, "psyd": 0.2, "phd": 0.2, "md": 0.1}) or ["lcsw"])
    accepting = rng.choices(_ACCEPTING, cum_weights=_ACCEPTING_CUM)[0]
    host = f"{slug[:63].rstrip('-')}.example"  # a DNS label holds at most 63 characters
    street = f"{rng.randint(10, 9899)} {rng.choice(_STREETS)} {rng.choice(_STREET_TYPES)}"
    if rng.random() < 0.4:
        street += f", Suite {rng.randint(1, 4)}{rng.randint(0, 2)}{rng.randint(0, 9)}"

    values = {
        "id": clinic_id, "slug": slug, "name": name,
        "description": (f"{name} is a fictional sample listing in {city}, {z.state}, made up to show how "
                        "kapfinder works. It is not a real clinic."),
        "street": street, "city": city, "state": z.state, "zip": z.zip, "lat": z.lat, "lon": z.lon,
        "timezone": z.timezone,
        "phone": f"+1{rng.choice(AREA_CODES.get(z.state, ('555',)))}55501{rng.randint(0, 99):02d}",
        "website": f"https://{host}", "email": f"care@{host}",
        "hours": _hours(rng), "hours_note": "By appointment." if rng.random() < 0.3 else "",
        "methods": methods, "settings": settings, "conditions": conditions, "therapy": therapy,
        "therapy_extras": extras, "offers_evaluation": offers_evaluation,
        "sliding_scale": rng.random() < 0.2, "financing": rng.random() < 0.35,
        "superbill": out_of_network or rng.random() < 0.5, "hsa_fsa": rng.random() < 0.7,
        "accepting_new_patients": accepting, "accepting_as_of": as_of if accepting is not None else None,
        "prescriber_types": prescribers, "therapist_licenses": licenses, "rems_certified": rems,
        "vital_signs_monitoring": bool({"iv", "im"} & set(methods)) or rng.random() < 0.8,
        "medical_screening": rng.random() < 0.95, "npi": make_npi(rng),
        "status": Status.PUBLISHED, "verified_at": verified_at, "confirmed_at": confirmed_at, "sample": True,
        "owner_id": None, "version": 1, "created_at": created_at, "updated_at": confirmed_at,
        **_languages(clinic_id, z.state, as_of),
    }
    return ClinicRows(values, insurance, prices, at_home_states)


def generate(zips: list[ZipPoint], count: int = DEFAULT_CLINICS, seed: int = DEFAULT_SEED,
             now: datetime | None = None, taken_slugs: Iterable[str] = ()) -> Iterator[ClinicRows]:
    """``count`` fictional clinics at the given ZIP centroids, one at a time."""
    if not zips:
        raise ValueError("the gazetteer has no STANDARD ZIP codes; run `flask db upgrade` first")
    now = now or utcnow()
    rng = random.Random(seed)
    cumulative = list(accumulate(z.weight for z in zips))
    total = cumulative[-1]
    slugs = _Slugs(taken_slugs)
    for n in range(count):
        z = zips[bisect_right(cumulative, rng.random() * total)]
        yield _clinic(rng, n, z, now, slugs)


@dataclass(frozen=True)
class LoadResult:
    deleted: int
    inserted: int
    seconds: float


def load(session: Session, count: int = DEFAULT_CLINICS, seed: int = DEFAULT_SEED, *,
         now: datetime | None = None, batch_size: int = bulk.BATCH_SIZE) -> LoadResult:
    """Replace the unclaimed sample listings with ``count`` new ones, in one write transaction.

    A sample listing an owner has claimed is theirs now: it is kept, and the generated clinic that
    would reuse its id is left out.
    """
    started = time.perf_counter()
    now = now or utcnow()
    with write_transaction(session):
        conn = session.connection()
        existing = session.scalar(select(func.count()).select_from(Clinic)) or 0
        with bulk.loading_cache(conn, bulk.cache_kib_for(existing + count)):
            table = Clinic.__table__.c
            deleted = bulk.delete_clinics(conn, table.sample.is_(True) & table.owner_id.is_(None))
            taken = conn.scalars(select(Clinic.slug).where(Clinic.slug.is_not(None))).all()
            kept = set(conn.scalars(select(Clinic.id).where(Clinic.sample.is_(True))).all())
            zips = standard_zips(conn)
            rows = generate(zips, count, seed, now, taken)
            if kept:
                rows = (row for row in rows if row.clinic["id"] not in kept)
            fresh = existing == 0 and count >= bulk.REINDEX_FROM  # a new directory: nobody reads it yet
            with bulk.indexes_after(conn, enabled=fresh):
                inserted = bulk.insert_clinics(conn, rows, batch_size=batch_size, now=now)
    with write_transaction(session):
        bulk.analyze(session)
    return LoadResult(deleted, inserted, time.perf_counter() - started)
