"""An owner claims a published listing nobody owns (imported or sample): by a single-use link mailed
to an address at the clinic website's domain, or by a moderator's approval. No Flask here."""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..accounts import InvalidToken, check_token, consume_token, issue_token
from ..db import write_transaction
from ..errors import Conflict, InvalidParameter, NotFound
from ..models import Claim, Clinic, Decision, utcnow
from .common import audit, deciding, note_text, published_clinic
from .rules import normalise_email


def website_host(website: str | None) -> str | None:
    """The website's host without a leading ``www.``."""
    if not website:
        return None
    host = (urlsplit(website).hostname or "").rstrip(".").lower()
    return host[4:] if host.startswith("www.") else host or None


def email_matches_website(email: str, website: str | None) -> bool:
    """The email's domain equals the website's host (without ``www.``) or is a parent of it."""
    host = website_host(website)
    domain = email.rsplit("@", 1)[-1].lower().rstrip(".")
    if not host or "." not in domain:
        return False
    return host == domain or host.endswith("." + domain)


def claimable(session: Session, slug: str) -> Clinic:
    """A published listing nobody owns (imported or sample)."""
    clinic = published_clinic(session, slug)
    if clinic is None:
        raise NotFound("listing", "not_found")
    if clinic.owner_id is not None:
        raise Conflict("listing", "already_claimed")
    return clinic


def start_claim(session: Session, slug: str, user_id: int, *, email: str | None = None, note: str = "",
                now: datetime | None = None) -> tuple[Claim, str | None]:
    """An email claim (returns the single-use token to mail to ``email``, an address at the clinic
    website's domain) or, without email, a request for a moderator's approval with ``note``."""
    now = now or utcnow()
    email = (email or "").strip()
    if email:
        email = normalise_email(email)
    else:
        note = note_text(note, "note", required=True)
    with write_transaction(session):
        clinic = claimable(session, slug)
        token = None
        if email:
            if not clinic.website:
                raise InvalidParameter("email", "claim_needs_moderator")
            if not email_matches_website(email, clinic.website):
                raise InvalidParameter("email", "claim_email_domain", domain=website_host(clinic.website) or "")
            claim = Claim(clinic_id=clinic.id, user_id=user_id, method="email", email=email, created_at=now)
            token = issue_token(session, "claim", user_id, listing_id=clinic.id, email=email, now=now)
        else:
            claim = Claim(clinic_id=clinic.id, user_id=user_id, method="moderator", note=note, created_at=now)
        session.add(claim)
        session.flush()
    return claim, token


def _give_to(session: Session, claim: Claim, actor_id: int, decided_by_id: int | None, now: datetime) -> None:
    clinic = session.get(Clinic, claim.clinic_id, populate_existing=True)
    if clinic is None or clinic.owner_id is not None:
        raise Conflict("listing", "already_claimed")
    clinic.owner_id = claim.user_id  # a sample listing stays sample
    clinic.updated_at = now
    claim.decide(Decision.APPROVED, decided_by_id, now)
    audit(session, clinic, actor_id, "claimed", {"owner_id": {"old": None, "new": claim.user_id}}, now)


def confirm_claim(session: Session, slug: str, token: str, user_id: int, *, now: datetime | None = None) -> Claim:
    """Follow a claim link: single use, only by the account that asked, for that listing, within 7 days."""
    now = now or utcnow()
    with write_transaction(session):
        clinic = session.scalars(select(Clinic).where(Clinic.slug == slug)).first()
        if clinic is None:
            raise InvalidToken()
        # Check before using it up: someone else following the link must not burn it.
        if check_token(session, token, "claim", listing_id=clinic.id, now=now).user_id != user_id:
            raise InvalidToken()
        row = consume_token(session, token, "claim", listing_id=clinic.id, now=now)
        claim = session.scalars(select(Claim).where(
            Claim.clinic_id == clinic.id, Claim.user_id == user_id, Claim.method == "email",
            Claim.email == row.email, Claim.status == Decision.PENDING).order_by(Claim.id.desc())).first()
        if claim is None:
            raise InvalidToken()
        _give_to(session, claim, user_id, None, now)
    return claim


def moderator_claims(session: Session, clinic_id: str) -> list[Claim]:
    """The listing's claims that wait for a moderator, oldest first (an email claim proves itself)."""
    return list(session.scalars(select(Claim).where(
        Claim.clinic_id == clinic_id, Claim.status == Decision.PENDING, Claim.method == "moderator")
        .order_by(Claim.created_at)))


def approve_claim(session: Session, claim_id: int, moderator_id: int, *, now: datetime | None = None) -> Claim:
    now = now or utcnow()
    with deciding(session, Claim, claim_id) as claim:
        _give_to(session, claim, moderator_id, moderator_id, now)
    return claim


def reject_claim(session: Session, claim_id: int, moderator_id: int, reason: str, *,
                 now: datetime | None = None) -> Claim:
    now = now or utcnow()
    reason = note_text(reason, "reason", required=True)
    with deciding(session, Claim, claim_id) as claim:
        claim.decide(Decision.REJECTED, moderator_id, now)
        claim.reason = reason
    return claim
