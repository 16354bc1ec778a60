"""A clinic listing and its per-service insurance and self-pay prices.

Multi-valued vocabulary fields (methods, settings, conditions, ...) are stored as bit masks in
vocabulary order, so one indexed row answers "any of these methods" on SQLite and PostgreSQL
alike; the list-valued properties (``facts.ClinicDerived``) are what the rest of the code reads
and writes.
"""
from __future__ import annotations

import enum
import math
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text,
                        event, func)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .. import vocab
from .base import Base, UTCDateTime, utcnow
from .facts import ClinicDerived, InsuranceDerived


class Status(enum.StrEnum):
    """Where a listing stands (data/vocab/status.json). A ``StrEnum``: stored, compared and
    serialised as its plain value, so ``Status.PUBLISHED == "published"``."""

    DRAFT = "draft"
    PENDING = "pending"
    PUBLISHED = "published"
    REJECTED = "rejected"
    ARCHIVED = "archived"


def new_id() -> str:
    return str(uuid.uuid4())


def unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    """The point on the unit sphere; a dot product of two of them is the cosine of their angle."""
    phi, lam = math.radians(lat), math.radians(lon)
    return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))


def derived_columns(values: dict[str, Any]) -> dict[str, Any]:
    """Columns computed from others; used by the ORM hook below and by bulk loads alike."""
    out: dict[str, Any] = {}
    if values.get("lat") is not None and values.get("lon") is not None:
        out["ux"], out["uy"], out["uz"] = unit_vector(values["lat"], values["lon"])
        out["lat_cell"] = math.floor(values["lat"])
    else:
        out["ux"] = out["uy"] = out["uz"] = out["lat_cell"] = None
    methods = vocab.METHODS.unmask(values.get("methods_mask") or 0)
    out["services_mask"] = vocab.SERVICES.mask(
        vocab.services_offered(methods, values.get("therapy"), bool(values.get("offers_evaluation"))))
    return out


class Clinic(ClinicDerived, Base):
    """A listing. Its derived properties (slugs of the bit masks, at-home states, payment options,
    ``is_stale``) come from ``ClinicDerived``, shared with the search result cards."""

    __tablename__ = "clinic"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    slug: Mapped[str | None] = mapped_column(String(220), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")

    street: Mapped[str] = mapped_column(String(200), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(2), default="")
    zip: Mapped[str] = mapped_column(String(5), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    # Unit vector of (lat, lon): radius checks become a dot product, no trigonometry in SQL.
    ux: Mapped[float | None] = mapped_column(Float)
    uy: Mapped[float | None] = mapped_column(Float)
    uz: Mapped[float | None] = mapped_column(Float)
    # floor(lat): the index (status, lat_cell, lon, ...) turns a bounding box into one short
    # longitude range scan per one-degree band instead of a scan of the whole latitude band.
    lat_cell: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str | None] = mapped_column(String(64))

    phone: Mapped[str | None] = mapped_column(String(20))  # E.164, e.g. +15125550100
    website: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(254))
    hours: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    hours_note: Mapped[str] = mapped_column(Text, default="")

    methods_mask: Mapped[int] = mapped_column(Integer, default=0)
    settings_mask: Mapped[int] = mapped_column(Integer, default=0)
    conditions_mask: Mapped[int] = mapped_column(Integer, default=0)
    services_mask: Mapped[int] = mapped_column(Integer, default=0)
    therapy: Mapped[str | None] = mapped_column(String(32))
    therapy_extras_mask: Mapped[int] = mapped_column(Integer, default=0)
    offers_evaluation: Mapped[bool] = mapped_column(Boolean, default=False)

    sliding_scale: Mapped[bool] = mapped_column(Boolean, default=False)
    financing: Mapped[bool] = mapped_column(Boolean, default=False)
    superbill: Mapped[bool] = mapped_column(Boolean, default=False)
    hsa_fsa: Mapped[bool] = mapped_column(Boolean, default=False)

    # Languages of care (data/vocab/language.json), only as the owner states them: English is
    # never implied. Interpreter services (phone interpreters, ASL ...) are a separate yes/no with
    # the languages they cover; the as-of date dates all three.
    languages_mask: Mapped[int] = mapped_column(BigInteger, default=0)
    interpreter_services: Mapped[bool] = mapped_column(Boolean, default=False)
    interpreter_languages_mask: Mapped[int] = mapped_column(BigInteger, default=0)
    languages_as_of: Mapped[date | None] = mapped_column(Date)

    accepting_new_patients: Mapped[bool | None] = mapped_column(Boolean)
    accepting_as_of: Mapped[date | None] = mapped_column(Date)

    prescriber_types_mask: Mapped[int] = mapped_column(Integer, default=0)
    therapist_licenses_mask: Mapped[int] = mapped_column(Integer, default=0)
    rems_certified: Mapped[bool] = mapped_column(Boolean, default=False)
    vital_signs_monitoring: Mapped[bool] = mapped_column(Boolean, default=False)
    medical_screening: Mapped[bool] = mapped_column(Boolean, default=False)
    npi: Mapped[str | None] = mapped_column(String(10), index=True)

    status: Mapped[str] = mapped_column(String(16), default=Status.DRAFT)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sample: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    insurance: Mapped[list[ClinicInsurance]] = relationship(
        back_populates="clinic", cascade="all, delete-orphan", order_by="ClinicInsurance.id")
    prices: Mapped[list[ClinicPrice]] = relationship(
        back_populates="clinic", cascade="all, delete-orphan", order_by="ClinicPrice.id")
    at_home_state_rows: Mapped[list[ClinicAtHomeState]] = relationship(
        cascade="all, delete-orphan", order_by="ClinicAtHomeState.state")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # Covering: the radius test and the filters are answered from the index alone.
        Index("ix_clinic_cell", "status", "lat_cell", "lon", "lat", "ux", "uy", "uz", "settings_mask",
              "methods_mask", "conditions_mask", "services_mask", "accepting_new_patients", "id"),
        Index("ix_clinic_name", func.lower(name)),
        Index("ix_clinic_status_confirmed", "status", "confirmed_at"),
    )

    @ClinicDerived.at_home_states.setter
    def at_home_states(self, states) -> None:
        wanted = vocab.STATES.ordered(states)
        keep = [r for r in self.at_home_state_rows if r.state in wanted]
        have = {r.state for r in keep}
        self.at_home_state_rows = keep + [ClinicAtHomeState(state=s) for s in wanted if s not in have]

    def refresh_derived(self) -> None:
        for key, value in derived_columns({
            "lat": self.lat, "lon": self.lon, "methods_mask": self.methods_mask,
            "therapy": self.therapy, "offers_evaluation": self.offers_evaluation,
        }).items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return f"<Clinic {self.slug or self.id} {self.status}>"


@event.listens_for(Clinic, "before_insert")
@event.listens_for(Clinic, "before_update")
def _clinic_derived(_mapper, _connection, target: Clinic) -> None:
    target.refresh_derived()


class ClinicInsurance(InsuranceDerived, Base):
    """One carrier's coverage of one service at one clinic; no row for a carrier means self-pay."""

    __tablename__ = "clinic_insurance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"))
    carrier: Mapped[str] = mapped_column(String(32))
    service: Mapped[str] = mapped_column(String(32))
    network: Mapped[str] = mapped_column(String(16))  # in-network | out-of-network
    plan_types_mask: Mapped[int] = mapped_column(Integer, default=0)  # 0: every plan type
    as_of: Mapped[date | None] = mapped_column(Date)

    clinic: Mapped[Clinic] = relationship(back_populates="insurance")

    __table_args__ = (Index("ix_clinic_insurance_lookup", "carrier", "clinic_id", "service", "network",
                            "plan_types_mask"),
                      Index("ix_clinic_insurance_clinic", "clinic_id"))


class ClinicPrice(Base):
    """The self-pay price range, in whole US dollars per session, of one service at one clinic."""

    __tablename__ = "clinic_price"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"), index=True)
    service: Mapped[str] = mapped_column(String(32))
    min_usd: Mapped[int | None] = mapped_column(Integer)
    max_usd: Mapped[int | None] = mapped_column(Integer)
    as_of: Mapped[date | None] = mapped_column(Date)

    clinic: Mapped[Clinic] = relationship(back_populates="prices")


class ClinicAtHomeState(Base):
    """A US state an at-home programme serves."""

    __tablename__ = "clinic_at_home_state"

    clinic_id: Mapped[str] = mapped_column(ForeignKey("clinic.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(2), primary_key=True)

    __table_args__ = (Index("ix_clinic_at_home_state_state", "state"),)
