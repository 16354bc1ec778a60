"""A clinic's HSDS services, and the terms each carries (its insurance through the coverage rule)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .. import coverage, vocab
from ..models import Clinic
from .taxonomies import LISTING, SAFETY_FLAGS


@dataclass(frozen=True)
class ServiceSpec:
    """One HSDS service of a clinic: a covered service, split by method for racemic ketamine."""

    key: str  # esketamine | ketamine-<method> | psychotherapy | evaluation
    service: str  # the covered-service slug (insurance and prices are keyed by it)
    method: str | None

    @property
    def name(self) -> str:
        if self.service == "esketamine":
            return vocab.METHODS.label("esketamine-nasal")
        if self.method:
            label = vocab.METHODS.label(self.method)
            return label if "ketamine" in label.lower() else f"Ketamine: {label}"
        return vocab.SERVICES.label(self.service)

    @property
    def description(self) -> str:
        if self.method:
            return vocab.METHODS.term(self.method).description
        return vocab.SERVICES.term(self.service).description


def service_specs(methods: Iterable[str], therapy: str | None, offers_evaluation: bool) -> list[ServiceSpec]:
    methods = set(methods)
    specs = []
    if "esketamine-nasal" in methods:
        specs.append(ServiceSpec("esketamine", "esketamine", "esketamine-nasal"))
    for m in vocab.RACEMIC_METHODS:
        if m in methods:
            specs.append(ServiceSpec(f"ketamine-{m}", "ketamine", m))
    if therapy and therapy != "medication-only":
        specs.append(ServiceSpec("psychotherapy", "psychotherapy", None))
    if offers_evaluation:
        specs.append(ServiceSpec("evaluation", "evaluation", None))
    return specs


def clinic_specs(clinic: Clinic) -> list[ServiceSpec]:
    return service_specs(clinic.methods, clinic.therapy, clinic.offers_evaluation)


def service_terms(clinic: Clinic, spec: ServiceSpec) -> set[tuple[str, str]]:
    """(vocabulary, slug) of every term a service carries or that describes its insurance."""
    terms = {(vocab.SERVICES.name, spec.service)}
    if spec.method:
        terms.add((vocab.METHODS.name, spec.method))
    for v, slugs in ((vocab.SETTINGS, clinic.settings), (vocab.CONDITIONS, clinic.conditions),
                     (vocab.THERAPY_EXTRAS, clinic.therapy_extras), (vocab.PRESCRIBER_TYPES, clinic.prescriber_types),
                     (vocab.THERAPIST_LICENSES, clinic.therapist_licenses)):
        terms.update((v.name, s) for s in slugs)
    if clinic.therapy:
        terms.add((vocab.THERAPY.name, clinic.therapy))
    terms.update((vocab.PAYMENT_OPTIONS.name, s) for s, on in clinic.payment_options.items() if on)
    terms.update((LISTING.name, s) for s, col in SAFETY_FLAGS.items() if getattr(clinic, col))
    if clinic.sample:
        terms.add((LISTING.name, "sample"))
    if clinic.accepting_new_patients is not None:
        terms.add((LISTING.name, "accepting-new-patients"))
    # A service carries a carrier's terms when the insurance filter for it would keep the clinic.
    wanted = coverage.wanted_services(None, [spec.method]) if spec.method else coverage.wanted_services(spec.service)
    for row in coverage.covering_rows(clinic, wanted):
        terms.add((vocab.CARRIERS.name, row.carrier))
        terms.add((vocab.NETWORKS.name, row.network))
        terms.update((vocab.PLAN_TYPES.name, p) for p in (row.plan_types or vocab.PLAN_TYPES.slugs))
    return terms
