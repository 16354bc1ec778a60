"""Typed SQLAlchemy 2.0 models, free of Flask so the core and the CLI can use them directly."""
from .base import Base, UTCDateTime, utcnow
from .clinic import (Clinic, Status, ClinicAtHomeState, ClinicInsurance, ClinicPrice, derived_columns,
                     new_id, unit_vector)
from .facts import STALE_AFTER, ClinicFacts, InsuranceFacts, PriceFacts
from .gazetteer import GazetteerPlace, GazetteerZip
from .user import AccountToken, User
from .moderation import AuditLog, Claim, ListingRevision, ProblemReport, ReminderSent  # noqa: F401
from .moderation import Decision, ReportStatus  # noqa: F401
from .draft import ListingDraft  # noqa: F401

__all__ = [
    "Base", "UTCDateTime", "utcnow", "STALE_AFTER", "ClinicFacts", "InsuranceFacts", "PriceFacts", "Status",
    "Clinic", "ClinicAtHomeState", "ClinicInsurance", "ClinicPrice", "derived_columns", "new_id", "unit_vector", "GazetteerPlace", "GazetteerZip", "User",
    "AccountToken",
]
from .ratelimit import RateLimitWindow  # noqa: F401
