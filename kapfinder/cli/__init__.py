"""``flask`` commands: each group lives in its own module."""
from flask import Flask


def register(app: Flask) -> None:
    from . import clinics, dbtools, listings, sample, users

    for module in (sample, clinics, users, listings, dbtools):
        module.register(app)
