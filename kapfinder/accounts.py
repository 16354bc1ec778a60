"""Accounts: sign-up, email confirmation, sign-in, password change and reset, deactivation,
and the single-use tokens behind every link kapfinder mails. No Flask here.

Every function takes a SQLAlchemy session; the ones that write run in ``write_transaction``.
Tokens are random, handed to the caller once, and stored only as a SHA-256 hash.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from confusable_homoglyphs import confusables
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .characters import has_line_control
from .db import write_transaction
from .errors import InvalidParameter, KapfinderError
from .models import AccountToken, User, utcnow
from .models.user import ROLES

MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # scrypt over megabytes of "password" would be a cheap way to burn our CPU
MAX_EMAIL = 254
#: 30,000 common passwords from zxcvbn (MIT) and a few more: see data/passwords/README.md.
COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "passwords" / "common-passwords.txt"
#: The words an attacker would try first on this site, refused alone, together, or with digits and
#: symbols around them (``ketamine123``, ``Kapfinder!``, ``k3tamin3``, ``ketamine therapy``).
SITE_WORDS = ("kapfinder", "kap", "ketamine", "esketamine", "arketamine", "ketalar", "ketaset", "spravato",
              "ketamineclinic", "psychotherapy", "psychedelic", "psychedelics", "therapy", "therapist",
              "clinic", "clinics", "treatment", "infusion", "depression")
_SITE_WORDS = re.compile("(?:" + "|".join(sorted(SITE_WORDS, key=len, reverse=True)) + ")+")
_LEET = str.maketrans("013457@$!", "oieastasi")
_SYMBOLS = "!@#$%^&*()_+-=.,?~ "
_EDGES = "0123456789" + _SYMBOLS

# How long each kind of link works (DESIGN.md → Accounts and sessions).
TOKEN_TTL = {
    "confirm": timedelta(days=7),
    "reset": timedelta(hours=1),
    "claim": timedelta(days=7),
}
# Purposes where a newer link voids the older ones.
ONE_LIVE_TOKEN = {"reset", "confirm"}


class InvalidToken(KapfinderError):
    """A link that is unknown, used, expired, or meant for something else."""

    code = "invalid_token"
    status = 400

    def __init__(self, reason: str = "invalid_token"):
        super().__init__("token", reason)


class WrongPassword(InvalidParameter):
    def __init__(self, field: str = "current_password"):
        super().__init__(field, "wrong_password")


# ---------------------------------------------------------------- passwords and addresses

def normalise_email(email: str) -> str:
    """The comparison key of an address, also what is stored: Unicode NFKC (so a full-width
    ``ｏｗｎｅｒ@example.com`` is ``owner@example.com``), trimmed, case-folded."""
    return unicodedata.normalize("NFKC", email or "").strip().casefold()


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def password_problem(password: str, email: str | None = None) -> str | None:
    """The reason a new password is refused, or None. Length and a list of common ones: no composition rules."""
    if len(password) < MIN_PASSWORD:
        return "password_too_short"
    if len(password) > MAX_PASSWORD:
        return "password_too_long"
    lowered = password.strip().lower()
    if lowered in common_passwords() or _is_site_word(lowered):
        return "password_common"
    if email and lowered == normalise_email(email):
        return "password_is_email"
    return None


def _is_site_word(lowered: str) -> bool:
    """Whether a password is the site's own words with at most digits, symbols and look-alike
    digits around them, or a common password with digits and symbols added at its ends."""
    squeezed = "".join(lowered.split())
    for core in (squeezed.strip(_EDGES), squeezed.strip(_SYMBOLS).translate(_LEET).strip(_EDGES)):
        if core and (_SITE_WORDS.fullmatch(core) or (len(core) >= 4 and core in common_passwords())):
            return True
    return False


def check_new_password(password: str, email: str | None = None, field: str = "password") -> None:
    reason = password_problem(password, email)
    if reason:
        raise InvalidParameter(field, reason, min=MIN_PASSWORD, max=MAX_PASSWORD)


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # werkzeug's default: scrypt


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def verify_password(user: User | None, password: str) -> bool:
    """Check a password; with no account, check it against a dummy hash so both paths cost the same."""
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(user.password_hash, password)


def find_user(session: Session, email: str) -> User | None:
    email = normalise_email(email)
    if not email or len(email) > MAX_EMAIL:
        return None
    return session.execute(select(User).where(User.email == email)).scalar_one_or_none()


# ---------------------------------------------------------------- tokens

def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, purpose: str, user_id: int, listing_id: str | None = None,
                ttl: timedelta | None = None, email: str | None = None, now: datetime | None = None) -> str:
    """Store a new single-use token and return it (the only time it exists in clear).

    Call inside a transaction (``write_transaction``); the caller commits. For ``reset`` and
    ``confirm`` a new token voids the account's older unused ones of that purpose.
    """
    now = now or utcnow()
    ttl = ttl or TOKEN_TTL.get(purpose)
    if ttl is None:
        raise ValueError(f"no lifetime known for token purpose {purpose!r}: pass ttl")
    if purpose in ONE_LIVE_TOKEN:
        void_tokens(session, user_id, purpose)
    token = secrets.token_urlsafe(32)
    session.add(AccountToken(token_hash=_digest(token), purpose=purpose, user_id=user_id,
                             listing_id=listing_id, email=email, created_at=now, expires_at=now + ttl))
    session.flush()
    return token


def void_tokens(session: Session, user_id: int, purpose: str | None = None) -> None:
    stmt = delete(AccountToken).where(AccountToken.user_id == user_id, AccountToken.used_at.is_(None))
    if purpose is not None:
        stmt = stmt.where(AccountToken.purpose == purpose)
    session.execute(stmt)


def _live(token: str, purpose: str, listing_id: str | None, now: datetime):
    conditions = [AccountToken.token_hash == _digest(token or ""), AccountToken.purpose == purpose,
                  AccountToken.used_at.is_(None), AccountToken.expires_at > now]
    if listing_id is not None:
        conditions.append(AccountToken.listing_id == listing_id)
    return conditions


def check_token(session: Session, token: str, purpose: str, listing_id: str | None = None,
                now: datetime | None = None) -> AccountToken:
    """The live token, without using it up (for a landing page's GET). Raises InvalidToken."""
    now = now or utcnow()
    if not token or len(token) > 200:
        raise InvalidToken()
    row = session.execute(select(AccountToken).where(*_live(token, purpose, listing_id, now))).scalar_one_or_none()
    if row is None:
        raise InvalidToken()
    return row


def consume_token(session: Session, token: str, purpose: str, listing_id: str | None = None,
                  now: datetime | None = None) -> AccountToken:
    """Use a token up and return its row. Raises InvalidToken if it is unknown, used, expired, or
    for another purpose or listing. Call inside ``write_transaction``: of two requests racing with
    the same token, exactly one gets it."""
    now = now or utcnow()
    if not token or len(token) > 200:
        raise InvalidToken()
    result = session.execute(update(AccountToken).where(*_live(token, purpose, listing_id, now))
                             .values(used_at=now).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise InvalidToken()
    return session.execute(select(AccountToken).where(AccountToken.token_hash == _digest(token))).scalar_one()


# ---------------------------------------------------------------- accounts

def create_user(session: Session, email: str, password: str, role: str = "owner", confirmed: bool = False,
                now: datetime | None = None) -> User:
    """An account made by an operator (``flask users create``) or by sign-up. Raises InvalidParameter."""
    now = now or utcnow()
    email = normalise_email(email)
    _check_email(email)
    if role not in ROLES:
        raise InvalidParameter("role", "unknown_value", value=role)
    check_new_password(password, email)
    with write_transaction(session):
        if find_user(session, email) is not None:
            raise InvalidParameter("email", "email_taken")
        user = User(email=email, password_hash=hash_password(password), role=role, active=True,
                    email_confirmed_at=now if confirmed else None, created_at=now)
        session.add(user)
    return user


def _check_email(email: str) -> None:
    """Refuses what no address should hold: control, bidi and zero-width characters, and a part
    that mixes scripts with look-alike letters (``оwner`` with a Cyrillic ``о``), which could only
    serve to pass for another account. Single-script addresses in any script (``josé``, ``用户``) pass."""
    if not email:
        raise InvalidParameter("email", "required")
    if len(email) > MAX_EMAIL or "@" not in email.strip("@") or any(c.isspace() for c in email):
        raise InvalidParameter("email", "invalid_email")
    if has_line_control(email):
        raise InvalidParameter("email", "control_character")
    local, _, domain = email.rpartition("@")
    if any(confusables.is_dangerous(part) for part in (local, *domain.split("."))):
        raise InvalidParameter("email", "confusable_email")


@dataclass(frozen=True)
class SignUp:
    """What sign-up did. The page the person sees is the same either way; only the mail differs."""

    user: User
    created: bool
    confirm_token: str | None  # a confirmation link to mail, or None when the account is already confirmed


def register(session: Session, email: str, password: str, now: datetime | None = None) -> SignUp:
    """Web sign-up (owners only). An address that already has an account is not an error the
    visitor sees: the owner of the address gets a mail instead."""
    now = now or utcnow()
    email = normalise_email(email)
    _check_email(email)
    check_new_password(password, email)
    password_hash = hash_password(password)  # hashed on both paths, so both take as long
    with write_transaction(session):
        user = find_user(session, email)
        if user is not None:
            token = None if user.is_confirmed or not user.active else issue_token(session, "confirm", user.id, now=now)
            return SignUp(user, False, token)
        user = User(email=email, password_hash=password_hash, role="owner", active=True, created_at=now)
        session.add(user)
        try:
            session.flush()
        except IntegrityError:  # the same address signed up a moment ago in another request
            session.rollback()
            return SignUp(find_user(session, email), False, None)
        token = issue_token(session, "confirm", user.id, now=now)
    return SignUp(user, True, token)


def resend_confirmation(session: Session, user: User, now: datetime | None = None) -> str | None:
    with write_transaction(session):
        if user.is_confirmed or not user.active:
            return None
        return issue_token(session, "confirm", user.id, now=now)


def confirm_email(session: Session, token: str, now: datetime | None = None) -> User:
    now = now or utcnow()
    with write_transaction(session):
        row = consume_token(session, token, "confirm", now=now)
        user = session.get(User, row.user_id)
        if user is None or not user.active:
            raise InvalidToken()
        if user.email_confirmed_at is None:
            user.email_confirmed_at = now
    return user


@dataclass(frozen=True)
class SignIn:
    user: User | None
    outcome: str  # success | bad_credentials | unconfirmed

    @property
    def ok(self) -> bool:
        return self.outcome == "success"


def authenticate(session: Session, email: str, password: str, now: datetime | None = None) -> SignIn:
    """Check an email and password. Unknown address, wrong password and a deactivated account all
    come back as ``bad_credentials``, after the same scrypt work."""
    user = find_user(session, email)
    if not verify_password(user, password or ""):
        return SignIn(user, "bad_credentials")
    if not user.active:
        return SignIn(user, "bad_credentials")
    if not user.is_confirmed:
        return SignIn(user, "unconfirmed")
    with write_transaction(session):
        user.last_sign_in_at = now or utcnow()
    return SignIn(user, "success")


def sign_out(session: Session, user_id: int) -> None:
    """Void every session and remember cookie of the account, copies included."""
    with write_transaction(session):
        user = session.get(User, user_id)
        if user is not None:
            user.rotate_nonce()


def _set_password(session: Session, user: User, new_password: str, now: datetime) -> None:
    user.password_hash = hash_password(new_password)
    user.password_changed_at = now
    user.rotate_nonce()
    void_tokens(session, user.id, "reset")


def change_password(session: Session, user_id: int, current_password: str, new_password: str,
                    now: datetime | None = None) -> User:
    now = now or utcnow()
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise InvalidParameter("current_password", "wrong_password")
    if not verify_password(user, current_password or ""):
        raise WrongPassword()
    check_new_password(new_password, user.email, field="new_password")
    with write_transaction(session):
        user = session.get(User, user_id)
        _set_password(session, user, new_password, now)
    return user


def request_reset(session: Session, email: str, now: datetime | None = None) -> tuple[User | None, str | None]:
    """A reset link for the account with this address, if there is an active one.
    The caller answers the same whichever way this goes."""
    user = find_user(session, email)
    verify_password(None, email or "")  # the same hashing cost on both paths
    if user is None or not user.active:
        return None, None
    with write_transaction(session):
        token = issue_token(session, "reset", user.id, email=user.email, now=now)
    return user, token


def reset_password(session: Session, token: str, new_password: str, now: datetime | None = None) -> User:
    """Set a new password from a reset link. The link is used up; every session of the account ends."""
    now = now or utcnow()
    row = check_token(session, token, "reset", now=now)
    user = session.get(User, row.user_id)
    check_new_password(new_password, user.email if user else None)
    with write_transaction(session):
        row = consume_token(session, token, "reset", now=now)
        user = session.get(User, row.user_id)
        if user is None or not user.active:
            raise InvalidToken()
        _set_password(session, user, new_password, now)
        if user.email_confirmed_at is None:  # the link proved the address
            user.email_confirmed_at = now
    return user


def deactivate(session: Session, user_id: int) -> User:
    with write_transaction(session):
        user = session.get(User, user_id)
        if user is None:
            raise InvalidParameter("email", "unknown_account")
        user.active = False
        user.rotate_nonce()
        void_tokens(session, user.id)
    return user


def load_session_user(session: Session, session_id: str) -> User | None:
    """The account behind a session's ``id:nonce``, or None when the nonce was rotated or the
    account deactivated."""
    user_id, _, nonce = (session_id or "").partition(":")
    if not user_id.isdigit() or not nonce:
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.active:
        return None
    if not secrets.compare_digest(user.session_nonce.encode(), nonce.encode()):
        return None
    return user
