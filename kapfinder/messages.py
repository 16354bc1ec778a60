"""Translated, patient-facing messages for the codes the core raises (kapfinder.errors)."""
from __future__ import annotations

from flask_babel import gettext as _

from .errors import KapfinderError


def error_message(err: KapfinderError) -> str:
    p = err.params
    reason = err.reason
    if reason == "unknown_location":
        return _("We couldn't find ‘%(location)s’. Try a 5-digit ZIP code or ‘City, ST’.", location=p.get("location", ""))
    if reason == "unknown_zip":
        return _("We couldn't find the ZIP code %(zip)s. Check it, or leave it out.", zip=p.get("zip", ""))
    if reason == "zip_not_in_state":
        return _("The ZIP code %(zip)s is in %(zip_state)s, not in %(state)s.", zip=p.get("zip", ""),
                 zip_state=p.get("zip_state", ""), state=p.get("state", ""))
    if reason == "location_needed":
        return _("Where should we look? Enter a ZIP code, a city and state, a street address or a state.")
    if reason == "ambiguous_location":
        return _("There is more than one ‘%(location)s’. Which state do you mean?", location=p.get("location", ""))
    if reason == "coordinates_out_of_range":
        return _("Latitude must be between -90 and 90 and longitude between -180 and 180.")
    if reason == "required":
        return _("This field is required.")
    if reason == "not_a_number":
        return _("Enter a whole number.")
    if reason == "out_of_range":
        return _("Enter a whole number from %(min)s to %(max)s.", min=p.get("min"), max=p.get("max"))
    if reason == "unknown_value":
        return _("‘%(value)s’ is not one of the choices.", value=p.get("value", ""))
    if reason == "too_long":
        return _("This value is too long (at most %(max)s characters).", max=p.get("max", 200))
    if reason == "control_character":
        return _("This value contains characters that are not allowed.")
    if reason == "repeated":
        return _("Give this parameter only once.")
    if reason == "requires_insurance":
        return _("Choose an insurance carrier first.")
    if reason == "location_and_coordinates":
        return _("Give either a location or lat and lon, not both.")
    if reason == "lat_and_lon":
        return _("Give both lat and lon.")
    if reason == "requires_postcode":
        return _("Give a postcode with proximity.")
    if reason == "not_a_boolean":
        return _("Use true or false.")
    if reason == "not_a_datetime":
        return _("Use an RFC 3339 date-time, for example 2026-01-31T00:00:00Z.")
    if reason == "not_found":
        return _("We couldn't find that clinic or page.")
    if reason == "conflict":
        return _("This listing changed since you opened it.")
    # Listing rules (kapfinder.listing_rules) the listing form has no message of its own for.
    if reason == "at_home_states_without_setting":
        return _("You ticked states for an at-home programme: tick the at-home setting too, or untick the states.")
    if reason == "interpreter_languages_without_service":
        return _("You ticked interpreter languages: tick ‘We offer interpreter services’ too, or untick the languages.")
    if reason == "hours_overlap":
        return _("Two opening times on the same day overlap.")
    if reason == "insurance_conflict":
        return _("The same carrier, service and plan types are listed both in and out of network.")
    if reason == "service_not_offered":
        return _("This is for a service the listing does not offer: add the method, care model or evaluation, "
                 "or remove it.")
    if reason == "duplicate_price":
        return _("Give one price range per service.")
    return _("This value is not valid.")
