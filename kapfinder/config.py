"""Configuration, read from ``KAPFINDER_*`` environment variables (DESIGN.md → Configuration)."""
from __future__ import annotations

import math
import os
import string
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _int(name: str, default: int) -> int:
    value = _env(name)
    return int(value) if value is not None else default


class ConfigError(RuntimeError):
    """The environment asks for something kapfinder refuses to run with."""


DEVELOPMENT_KEY = "development-only-not-secret"
TEST_KEY = "test-secret"
#: Keys printed in this repository: anyone can read them, so production refuses them.
REPOSITORY_KEYS = frozenset({DEVELOPMENT_KEY, TEST_KEY})
MIN_KEY_BITS = 256  # 32 bytes
MIN_KEY_DISTINCT_CHARACTERS = 10
MAKE_KEY = 'python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
_KEY_ALPHABETS = (  # smallest first: a key is counted in the smallest one that holds all of it
    frozenset(string.digits),
    frozenset(string.digits + "abcdef"),
    frozenset(string.digits + "ABCDEF"),
    frozenset(string.ascii_letters + string.digits + "+/-_="),  # base64, either flavour
    frozenset(string.printable.strip() + " "),
)


def key_strength_bits(key: str) -> float:
    """The most randomness ``key`` can carry: its length times the bits of the smallest usual
    alphabet (digits, hex, base64, printable ASCII) holding all of it; 0 for a key with fewer than
    10 distinct characters or made of one piece repeated. A string's true entropy cannot be
    measured: this refuses keys that cannot have 32 bytes of it, whatever made them."""
    if len(set(key)) < MIN_KEY_DISTINCT_CHARACTERS or (key + key).find(key, 1) < len(key):
        return 0.0
    size = next((len(a) for a in _KEY_ALPHABETS if set(key) <= a), 256)
    if size == len(_KEY_ALPHABETS[3]):
        size = 64  # "=" is padding, not a 65th symbol
    return len(key) * math.log2(size)


class Config:
    ENV_NAME = "production"
    DEBUG = False
    TESTING = False

    def __init__(self) -> None:
        instance = Path(_env("KAPFINDER_INSTANCE_PATH", str(INSTANCE)))
        self.INSTANCE_PATH = str(instance)
        self.SQLALCHEMY_DATABASE_URI = _env("KAPFINDER_DATABASE_URL", f"sqlite:///{instance / 'kapfinder.sqlite3'}")
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.SECRET_KEY = _env("KAPFINDER_SECRET_KEY")
        self.REDIS_URL = _env("KAPFINDER_REDIS_URL")
        self.SMTP_URL = _env("KAPFINDER_SMTP_URL")
        self.MAIL_FROM = _env("KAPFINDER_MAIL_FROM", "kapfinder <no-reply@kapfinder.invalid>")
        self.GEOCODER = _env("KAPFINDER_GEOCODER", "offline")
        self.NOMINATIM_USER_AGENT = _env("KAPFINDER_NOMINATIM_USER_AGENT", "kapfinder")
        self.TILE_URL = _env("KAPFINDER_TILE_URL")
        self.TILE_ATTRIBUTION = _env("KAPFINDER_TILE_ATTRIBUTION")
        self.BASE_URL = (_env("KAPFINDER_BASE_URL", "http://localhost:5000") or "").rstrip("/")
        self.PROXY_HOPS = _int("KAPFINDER_PROXY_HOPS", 0)
        hosts = _env("KAPFINDER_TRUSTED_HOSTS")
        self.TRUSTED_HOSTS = [h.strip() for h in hosts.split(",") if h.strip()] if hosts else None
        self.MAX_CONTENT_LENGTH = _int("KAPFINDER_MAX_CONTENT_LENGTH", 1024 * 1024)
        self.READ_RATE_LIMIT = _env("KAPFINDER_READ_RATE_LIMIT")
        # "memory" (default): distance searches read an in-process index (search/index.py); "off": SQL only.
        self.SEARCH_INDEX = (_env("KAPFINDER_SEARCH_INDEX", "memory") or "memory").lower() != "off"
        self.DATA_LICENSE = _env("KAPFINDER_DATA_LICENSE", "CC-BY-4.0")
        self.DATA_ATTRIBUTION = _env("KAPFINDER_DATA_ATTRIBUTION", "kapfinder contributors")
        self.RATELIMIT_STORAGE_URI = self.REDIS_URL or "memory://"
        self.RATELIMIT_HEADERS_ENABLED = True
        self.RATELIMIT_ENABLED = True
        # A Redis outage degrades limits to this process instead of failing every limited request.
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=24)
        # "Remember me": 14 days unless KAPFINDER_REMEMBER_DAYS says otherwise, never more than 30.
        self.REMEMBER_COOKIE_DURATION = timedelta(days=_int("KAPFINDER_REMEMBER_DAYS", 14))
        self.WTF_CSRF_TIME_LIMIT = None
        self.BABEL_DEFAULT_LOCALE = "en"
        self.SESSION_COOKIE_NAME = "__Host-session"
        self.SESSION_COOKIE_SECURE = True
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_NAME = "__Host-remember"
        self.REMEMBER_COOKIE_SECURE = True
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.PREFERRED_URL_SCHEME = "https"

    def check(self) -> None:
        if not self.SECRET_KEY:
            raise ConfigError("KAPFINDER_SECRET_KEY must be set when KAPFINDER_ENV is production.")
        if self.SECRET_KEY in REPOSITORY_KEYS:
            raise ConfigError("KAPFINDER_SECRET_KEY is a development or test key published in kapfinder's "
                              f"repository: make a new one with {MAKE_KEY}")
        if key_strength_bits(self.SECRET_KEY) < MIN_KEY_BITS:
            raise ConfigError("KAPFINDER_SECRET_KEY is too weak: it needs at least 32 bytes of randomness "
                              f"(e.g. 64 random hex digits). Make one with {MAKE_KEY}")
        if self.DEBUG or _env("FLASK_DEBUG", "0") not in ("0", "false", "False"):
            raise ConfigError("Refusing to run in production with debug on.")
        if not timedelta(days=1) <= self.REMEMBER_COOKIE_DURATION <= timedelta(days=30):
            raise ConfigError("KAPFINDER_REMEMBER_DAYS must be between 1 and 30.")


class ProductionConfig(Config):
    pass


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    DEBUG = True

    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = self.SECRET_KEY or DEVELOPMENT_KEY
        # Plain HTTP on localhost: __Host- cookies need Secure, so development uses ordinary names.
        self.SESSION_COOKIE_NAME = "session"
        self.SESSION_COOKIE_SECURE = False
        self.REMEMBER_COOKIE_NAME = "remember_token"
        self.REMEMBER_COOKIE_SECURE = False
        self.PREFERRED_URL_SCHEME = "http"

    def check(self) -> None:
        pass


class TestConfig(DevelopmentConfig):
    ENV_NAME = "test"
    DEBUG = False
    TESTING = True

    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = TEST_KEY
        self.RATELIMIT_STORAGE_URI = "memory://"
        self.BASE_URL = "http://kapfinder.test"


CONFIGS: dict[str, type[Config]] = {
    "production": ProductionConfig,
    "development": DevelopmentConfig,
    "test": TestConfig,
}


def config_for_env() -> Config:
    name = _env("KAPFINDER_ENV", "production") or "production"
    if name not in CONFIGS:
        raise ConfigError(f"KAPFINDER_ENV must be one of {', '.join(CONFIGS)}, not {name!r}.")
    return CONFIGS[name]()
