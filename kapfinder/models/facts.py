"""What the pages, the API and the coverage rule read of a clinic, whatever holds it.

Two things hold a clinic: the ORM ``Clinic`` (the clinic page, editing, exports) and the search
result's read-only ``ClinicCard`` (``kapfinder.search.cards``). Both satisfy ``ClinicFacts``; the
properties derived from the stored columns (slugs from bit masks, at-home states, payment options,
staleness) are written once here, in ``ClinicDerived``, which both inherit.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol, Sequence, runtime_checkable

from .. import vocab
from .base import utcnow

#: A confirmation (or a dated fact: coverage row, price) older than this may be out of date.
STALE_AFTER = timedelta(days=90)


def mask_property(column: str, vocabulary: vocab.Vocabulary) -> property:
    """The slugs a bit-mask column holds, in vocabulary order (setting them sets the mask)."""
    def getter(self) -> list[str]:
        return vocabulary.unmask(getattr(self, column) or 0)

    def setter(self, slugs) -> None:
        setattr(self, column, vocabulary.mask(slugs))

    return property(getter, setter, doc=f"Slugs of {vocabulary.name}, in vocabulary order.")


class InsuranceDerived:
    """What an insurance row derives from its columns (``ClinicInsurance`` and a card's row)."""

    __slots__ = ()
    plan_types = mask_property("plan_types_mask", vocab.PLAN_TYPES)


class ClinicDerived:
    """What a clinic derives from its columns and rows (``Clinic`` and ``ClinicCard``)."""

    __slots__ = ()
    methods = mask_property("methods_mask", vocab.METHODS)
    settings = mask_property("settings_mask", vocab.SETTINGS)
    conditions = mask_property("conditions_mask", vocab.CONDITIONS)
    services = mask_property("services_mask", vocab.SERVICES)
    therapy_extras = mask_property("therapy_extras_mask", vocab.THERAPY_EXTRAS)
    prescriber_types = mask_property("prescriber_types_mask", vocab.PRESCRIBER_TYPES)
    therapist_licenses = mask_property("therapist_licenses_mask", vocab.THERAPIST_LICENSES)
    languages = mask_property("languages_mask", vocab.LANGUAGES)
    interpreter_languages = mask_property("interpreter_languages_mask", vocab.LANGUAGES)

    @property
    def at_home_states(self) -> list[str]:
        return vocab.STATES.ordered(r.state for r in self.at_home_state_rows)

    @property
    def payment_options(self) -> dict[str, bool]:
        return {slug: bool(getattr(self, slug)) for slug in vocab.PAYMENT_OPTIONS.slugs}

    def is_stale(self, now: datetime | None = None) -> bool:
        if self.confirmed_at is None:
            return True
        return self.confirmed_at < (now or utcnow()) - STALE_AFTER


@runtime_checkable
class InsuranceFacts(Protocol):
    carrier: str
    service: str
    network: str
    plan_types_mask: int
    as_of: date | None

    @property
    def plan_types(self) -> list[str]: ...


@runtime_checkable
class PriceFacts(Protocol):
    service: str
    min_usd: int | None
    max_usd: int | None
    as_of: date | None


@runtime_checkable
class ClinicFacts(Protocol):
    """A published clinic as result cards, the map, the API summary and ``coverage_for`` read it.

    The long text columns (description, hours) are not here: only the clinic page shows them, from
    the ORM ``Clinic``."""

    id: str
    slug: str | None
    name: str
    status: str
    sample: bool
    street: str
    city: str
    state: str
    zip: str
    lat: float | None
    lon: float | None
    timezone: str | None
    phone: str | None
    website: str | None
    email: str | None
    methods_mask: int
    settings_mask: int
    conditions_mask: int
    services_mask: int
    therapy: str | None
    offers_evaluation: bool
    sliding_scale: bool
    financing: bool
    superbill: bool
    hsa_fsa: bool
    accepting_new_patients: bool | None
    accepting_as_of: date | None
    languages_mask: int
    interpreter_services: bool
    interpreter_languages_mask: int
    languages_as_of: date | None
    rems_certified: bool
    verified_at: datetime | None
    confirmed_at: datetime | None
    # Slugs of the bit masks (``ClinicDerived``).
    methods: list[str]
    settings: list[str]
    conditions: list[str]
    services: list[str]
    languages: list[str]
    interpreter_languages: list[str]

    @property
    def insurance(self) -> Sequence[InsuranceFacts]: ...

    @property
    def prices(self) -> Sequence[PriceFacts]: ...

    @property
    def at_home_states(self) -> list[str]: ...

    @property
    def payment_options(self) -> dict[str, bool]: ...

    def is_stale(self, now: datetime | None = None) -> bool: ...
