"""Submitting, editing, claiming, moderating and re-confirming listings. No Flask here.

The services take a SQLAlchemy session and plain values, raise ``kapfinder.errors`` and return
model objects; views, the CLI and tests call them alike (as ``listings.<name>``: this module
re-exports every public name of the package). Every change to a listing writes one audit row per
field (old, new, who, when). DESIGN.md → Owners and moderation has the rules; the modules:

* ``rules``: the rules a listing meets, wherever it comes from (the form and every import format);
* ``snapshots``: a listing's editable content as plain values keyed by ``FIELDS``: checked, read,
  compared and written back;
* ``placement``: where an address is on the map;
* ``editing``: an owner submits, edits and re-confirms; an import proposes changes (one pending
  revision per listing, versioned edits);
* ``moderation``: approving and rejecting listings and revisions, the queue, the audit trail;
* ``claims``: taking over an unowned listing; ``reports``: anonymous problem reports;
* ``reminders``: re-confirmation mails; ``dashboard``: the owner's overview;
* ``common``: what they share (the published listing at a slug, the audit log, notes, decisions);
* ``drafts``: the owner's step-by-step form (imported as ``listings.drafts``).
"""
from __future__ import annotations

from .claims import (approve_claim, claimable, confirm_claim, email_matches_website, moderator_claims, reject_claim,
                     start_claim, website_host)
from .common import NOTE_LIMIT, published_clinic
from .dashboard import OwnerListing, owner_listings
from .editing import (EditResult, create_listing, edit_listing, form_values, owned_listing, pending_revision,
                      propose_revision, reconfirm)
from .moderation import (QueueItem, approve_listing, approve_revision, audit_trail, moderation_queue, reject_listing,
                         reject_revision, slug_for)
from .placement import Placement, place_address
from .reminders import REMIND_FROM, REMIND_UNTIL, due_reminders, remind
from .reports import REPORT_REASONS, open_reports, report_problem, resolve_report
from .rules import (BOOL_FIELDS, DAYS, LIST_FIELDS, InvalidListing, normalise_email, normalise_phone,
                    normalise_website, validate_npi)
from .snapshots import FIELDS, IMMEDIATE_FIELDS, MODERATED_FIELDS, clean_listing, snapshot

__all__ = [
    "approve_claim", "claimable", "confirm_claim", "email_matches_website", "moderator_claims", "reject_claim",
    "start_claim", "website_host",
    "NOTE_LIMIT", "published_clinic",
    "OwnerListing", "owner_listings",
    "EditResult", "create_listing", "edit_listing", "form_values", "owned_listing", "pending_revision",
    "propose_revision", "reconfirm",
    "QueueItem", "approve_listing", "approve_revision", "audit_trail", "moderation_queue", "reject_listing",
    "reject_revision", "slug_for",
    "Placement", "place_address",
    "REMIND_FROM", "REMIND_UNTIL", "due_reminders", "remind",
    "REPORT_REASONS", "open_reports", "report_problem", "resolve_report",
    "BOOL_FIELDS", "DAYS", "LIST_FIELDS", "InvalidListing", "normalise_email", "normalise_phone",
    "normalise_website", "validate_npi",
    "FIELDS", "IMMEDIATE_FIELDS", "MODERATED_FIELDS", "clean_listing", "snapshot",
]
