"""Where a listing's address is on the map. No Flask here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy.orm import Session

from .. import geo
from ..errors import InvalidParameter


@dataclass(frozen=True)
class Placement:
    lat: float
    lon: float
    source: str  # owner | zip | nominatim


def place_address(session: Session, values: Mapping[str, Any], *, geocoder: str = "offline",
                  user_agent: str | None = None) -> Placement:
    """Where the address is: Nominatim only when configured (falling back to the ZIP), else the ZIP centroid."""
    if geocoder == "nominatim":
        try:
            from geopy.geocoders import Nominatim

            query = f"{values['street']}, {values['city']}, {values['state']} {values['zip']}, USA"
            found = Nominatim(user_agent=user_agent or "kapfinder", timeout=5).geocode(query, country_codes="us")
            if found is not None:
                return Placement(round(found.latitude, 6), round(found.longitude, 6), "nominatim")
        except Exception:  # the network or the service failed: the ZIP centroid still places it
            pass
    row = geo.lookup_zip(session, values["zip"])
    if row is None:
        raise InvalidParameter("zip", "unknown_zip", zip=values["zip"])
    return Placement(round(row.lat, 6), round(row.lon, 6), "zip")


def place(session: Session, values: dict[str, Any], current: Mapping[str, Any] | None,
          geocoder: str, user_agent: str | None) -> None:
    """Fill lat/lon: the owner's own coordinates win; a moved address without new coordinates is re-placed."""
    address = ("street", "city", "state", "zip")
    owner_moved_point = current is not None and (values["lat"], values["lon"]) != (current["lat"], current["lon"])
    if values["lat"] is not None and (current is None or owner_moved_point):
        return
    if current is not None and values["lat"] is not None and all(values[k] == current[k] for k in address):
        return
    point = place_address(session, values, geocoder=geocoder, user_agent=user_agent)
    values["lat"], values["lon"] = point.lat, point.lon
