"""The directory as Open Referral HSDS 3.0 documents, and the queries behind the ``/hsds`` API.

No Flask here: the API, the exports and the imports all build on this package, so every document
kapfinder publishes has one shape. The mapping is written down in ``docs/HSDS.md``.

    ids          deterministic ids (uuid5 of one kapfinder namespace): the same in every installation
    taxonomies   the vocabularies as HSDS taxonomies and terms
    services     a clinic's services (one per covered service, racemic ketamine split by method)
                 and the terms each carries, its insurance through the coverage rule
    documents    clinic → organization, location, service and service_at_location documents
    params       the API's list parameters, checked
    queries      the API's lists (a page, or every item for NDJSON) and look-ups by id
    openapi      the patched official OpenAPI document
"""
from __future__ import annotations

from .documents import organization_doc
from .ids import NAMESPACE, hsds_id, location_id, sal_id, service_id, taxonomy_id, term_id
from .params import ListQuery, parse_flag, parse_list_query
from .queries import (LISTS, Page, api_root, iter_organizations, iter_sals, iter_services, iter_taxonomies,
                      iter_terms, organization_by_id, organizations_page, sal_by_id, sals_page, service_by_id,
                      services_page, taxonomies_page, taxonomy_by_id, term_by_id, terms_page)
from .services import ServiceSpec, service_specs, service_terms
from .taxonomies import all_taxonomies, all_terms

__all__ = [
    "NAMESPACE", "hsds_id", "location_id", "sal_id", "service_id", "taxonomy_id", "term_id",
    "all_taxonomies", "all_terms", "ServiceSpec", "service_specs", "service_terms", "organization_doc",
    "ListQuery", "parse_flag", "parse_list_query",
    "LISTS", "Page", "api_root", "organizations_page", "iter_organizations", "services_page", "iter_services",
    "sals_page", "iter_sals", "taxonomies_page", "iter_taxonomies", "terms_page", "iter_terms",
    "organization_by_id", "service_by_id", "sal_by_id", "taxonomy_by_id", "term_by_id",
]
