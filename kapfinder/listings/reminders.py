"""Re-confirmation reminders: an owner is mailed once per confirmation cycle while a published
listing is 75 to 90 days past its last confirmation, before it turns stale. No Flask here."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import write_transaction
from ..models import STALE_AFTER, Clinic, ReminderSent, Status, User, utcnow

REMIND_FROM = timedelta(days=75)
#: The reminders stop where the listing turns stale.
REMIND_UNTIL = STALE_AFTER


def due_reminders(session: Session, now: datetime | None = None) -> list[tuple[Clinic, User]]:
    """Published, owned listings 75–90 days past ``confirmed_at`` not yet reminded in this cycle."""
    now = now or utcnow()
    already = select(ReminderSent.id).where(ReminderSent.clinic_id == Clinic.id,
                                            ReminderSent.confirmed_at == Clinic.confirmed_at)
    stmt = (select(Clinic, User).join(User, User.id == Clinic.owner_id)
            .where(Clinic.status == Status.PUBLISHED, User.active.is_(True),
                   Clinic.confirmed_at <= now - REMIND_FROM, Clinic.confirmed_at >= now - REMIND_UNTIL,
                   ~already.exists())
            .order_by(Clinic.confirmed_at, Clinic.id))
    return [(c, u) for c, u in session.execute(stmt).all()]


def remind(session: Session, send: Callable[[Clinic, User], None], now: datetime | None = None) -> int:
    """Mail each due owner once per confirmation cycle (``send(clinic, owner)``) and record it."""
    now = now or utcnow()
    sent = 0
    for clinic, owner in due_reminders(session, now):
        clinic_id, confirmed_at, email = clinic.id, clinic.confirmed_at, owner.email
        with write_transaction(session):
            exists = session.scalars(select(ReminderSent).where(
                ReminderSent.clinic_id == clinic_id, ReminderSent.confirmed_at == confirmed_at)).first()
            if exists is not None:  # another run got here first
                continue
            session.add(ReminderSent(clinic_id=clinic_id, confirmed_at=confirmed_at, email=email, sent_at=now))
            send(clinic, owner)  # a failure rolls the record back, so the next run retries
        sent += 1
    return sent
