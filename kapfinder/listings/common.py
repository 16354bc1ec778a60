"""What the listing services share: the published listing at a slug, the audit log, free-text notes,
and how a moderator's decision runs. No Flask here."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Iterator, Mapping, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from ..db import write_transaction
from ..errors import Conflict, InvalidParameter, NotFound
from ..models import AuditLog, Clinic, Decision, Status

#: The longest note, reason or resolution a person may type.
NOTE_LIMIT = 2000

Item = TypeVar("Item")


def published_clinic(session: Session, slug: str | None = None, *, clinic_id: str | None = None,
                     details: bool = False) -> Clinic | None:
    """The published listing at ``slug`` (or with the id ``clinic_id``), or None.

    ``details`` loads its insurance, prices and at-home states with it, for a page that shows them all.
    """
    key = Clinic.id == clinic_id if clinic_id is not None else Clinic.slug == slug
    stmt = select(Clinic).where(key, Clinic.status == Status.PUBLISHED)
    if details:
        stmt = stmt.options(selectinload(Clinic.insurance), selectinload(Clinic.prices),
                            selectinload(Clinic.at_home_state_rows))
    return session.scalars(stmt).first()


def audit(session: Session, clinic: Clinic, user_id: int | None, action: str,
          changes: Mapping[str, Mapping[str, Any]], now: datetime) -> None:
    """One audit row per changed field: ``changes`` maps a field to ``{"old": ..., "new": ...}``."""
    for key, change in changes.items():
        session.add(AuditLog(clinic_id=clinic.id, user_id=user_id, action=action, field=key,
                             old=jsonable(change.get("old")), new=jsonable(change.get("new")), created_at=now))


def jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def note_text(value: str | None, field: str, *, required: bool = False) -> str:
    """A note, reason or resolution as stored: stripped, at most ``NOTE_LIMIT`` characters
    (``InvalidParameter`` on ``field`` otherwise, or when ``required`` and empty)."""
    value = (value or "").strip()
    if required and not value:
        raise InvalidParameter(field, "required")
    if len(value) > NOTE_LIMIT:
        raise InvalidParameter(field, "too_long", max=NOTE_LIMIT)
    return value


def waiting(session: Session, model: type[Item], object_id: Any, *, status: str = Decision.PENDING,
            expected_version: int | None = None) -> Item:
    """The item a moderator decides on, still waiting (``status``) and, given ``expected_version``,
    still the version their page showed (else ``Conflict``)."""
    obj: Any = session.get(model, object_id, populate_existing=True)
    if obj is None:
        raise NotFound("item", "not_found")
    if obj.status == Decision.WITHDRAWN:
        raise Conflict("status", "withdrawn")
    if obj.status != status:
        raise Conflict("status", "already_decided")
    if expected_version is not None and obj.version != expected_version:
        raise Conflict("version", "changed_since_seen", version=obj.version)
    return obj


@contextmanager
def deciding(session: Session, model: type[Item], object_id: Any, *, status: str = Decision.PENDING,
             expected_version: int | None = None) -> Iterator[Item]:
    """A moderator's decision on one waiting item (see :func:`waiting`), in one write transaction.

    A concurrent change of the item (its version moved on between our read and our
    ``UPDATE ... WHERE version = :read``) is the same conflict as a stale page.
    """
    try:
        with write_transaction(session):
            yield waiting(session, model, object_id, status=status, expected_version=expected_version)
    except StaleDataError:
        raise Conflict("version", "changed_since_seen") from None
