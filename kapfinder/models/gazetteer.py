"""The offline US gazetteer, built from the ``zipcodes`` package at ``flask db upgrade``."""
from __future__ import annotations

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class GazetteerZip(Base):
    """One active ZIP code of the 50 states, DC or PR, with its centroid."""

    __tablename__ = "gazetteer_zip"

    zip: Mapped[str] = mapped_column(String(5), primary_key=True)
    zip_type: Mapped[str] = mapped_column(String(16))  # STANDARD, PO BOX, UNIQUE
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(2), index=True)
    county: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str | None] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_gazetteer_zip_lat_lon", "lat", "lon"),)


class GazetteerPlace(Base):
    """A city name (or an accepted alias of one) in a state, at the mean of its STANDARD ZIP centroids."""

    __tablename__ = "gazetteer_place"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name_key: Mapped[str] = mapped_column(String(100))  # normalised: "saint louis", "fort worth"
    state: Mapped[str] = mapped_column(String(2))
    name: Mapped[str] = mapped_column(String(100))  # the city's own spelling, for labels
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    zip_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_gazetteer_place_key_state", "name_key", "state", unique=True),)
