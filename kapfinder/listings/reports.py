"""Anyone reports a problem on a published listing, anonymously; a moderator resolves or dismisses
it. No Flask here."""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import vocab
from ..characters import has_control
from ..db import write_transaction
from ..errors import InvalidParameter, NotFound
from ..models import ProblemReport, ReportStatus, utcnow
from .common import NOTE_LIMIT, audit, deciding, note_text, published_clinic


def _load_reasons() -> vocab.Vocabulary:
    """data/vocab/report_reason.json: why a listing is reported (not a search vocabulary)."""
    raw = json.loads((vocab.VOCAB_DIR / "report_reason.json").read_text(encoding="utf-8"))
    return vocab.Vocabulary(raw["parameter"], raw["title"], (vocab.Term(**item) for item in raw["items"]))


REPORT_REASONS = _load_reasons()


def report_problem(session: Session, slug: str, reason: str, note: str = "", *,
                   now: datetime | None = None) -> ProblemReport:
    """An anonymous report on a published listing; nothing about the reporter is kept."""
    now = now or utcnow()
    if reason not in REPORT_REASONS:
        raise InvalidParameter("reason", "required" if not reason else "unknown_value", value=reason or "")
    note = note_text(note, "note")
    if has_control(note):
        raise InvalidParameter("note", "control_character")
    with write_transaction(session):
        clinic = published_clinic(session, slug)
        if clinic is None:
            raise NotFound("listing", "not_found")
        report = ProblemReport(clinic_id=clinic.id, reason=reason, note=note, created_at=now)
        session.add(report)
        session.flush()
    return report


def resolve_report(session: Session, report_id: int, moderator_id: int, *, dismiss: bool = False,
                   resolution: str = "", now: datetime | None = None) -> ProblemReport:
    """Close an open report: resolved (a note is optional, cut to ``NOTE_LIMIT``) or dismissed (a
    reason is required)."""
    now = now or utcnow()
    resolution = note_text(resolution, "reason", required=True) if dismiss else (resolution or "").strip()[:NOTE_LIMIT]
    with deciding(session, ProblemReport, report_id, status=ReportStatus.OPEN) as report:
        report.decide(ReportStatus.DISMISSED if dismiss else ReportStatus.RESOLVED, moderator_id, now)
        report.resolution = resolution
        audit(session, report.clinic, moderator_id, "report_" + report.status,
              {"report": {"old": report.reason, "new": report.status}}, now)
    return report


def open_reports(session: Session, clinic_id: str) -> list[ProblemReport]:
    return list(session.scalars(select(ProblemReport).where(
        ProblemReport.clinic_id == clinic_id, ProblemReport.status == ReportStatus.OPEN)
        .order_by(ProblemReport.created_at)))
