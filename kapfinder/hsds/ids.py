"""Deterministic HSDS ids: the same clinic gets the same ids in every export and installation.

The organization id is the clinic id; every other id is a uuid5 of one fixed kapfinder namespace
and a path such as ``<clinic id>/service/ketamine-iv``; taxonomy and term ids are uuid5 of
``taxonomy/<vocabulary>`` and ``term/<vocabulary>/<slug>``.
"""
from __future__ import annotations

import hashlib
import re
import uuid
from functools import lru_cache

#: The fixed namespace of every kapfinder HSDS id. Never change it: ids are public.
NAMESPACE = uuid.UUID("edecf748-76c3-4c52-b886-2f278191a032")
ID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

_NAMESPACE_BYTES = NAMESPACE.bytes


def hsds_id(path: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, path))``, computed directly: an export makes millions of ids."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + path.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@lru_cache(maxsize=None)
def taxonomy_id(vocab_name: str) -> str:
    return hsds_id(f"taxonomy/{vocab_name}")


@lru_cache(maxsize=None)
def term_id(vocab_name: str, slug: str) -> str:
    return hsds_id(f"term/{vocab_name}/{slug}")


def location_id(clinic_id: str) -> str:
    return hsds_id(f"{clinic_id}/location")


def service_id(clinic_id: str, key: str) -> str:
    return hsds_id(f"{clinic_id}/service/{key}")


def sal_id(clinic_id: str, key: str) -> str:
    return hsds_id(f"{clinic_id}/service_at_location/{key}")
