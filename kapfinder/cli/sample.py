"""``flask sample load``: fictional sample clinics at real ZIP centroids."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from .. import sample

sample_cli = AppGroup("sample", help="Fictional sample listings.")


@sample_cli.command("load")
@click.option("--clinics", "count", type=click.IntRange(min=0), default=sample.DEFAULT_CLINICS, show_default=True,
              help="How many sample clinics to make.")
@click.option("--seed", type=int, default=sample.DEFAULT_SEED, show_default=True,
              help="The same seed makes the same clinics (ids, names, slugs, facts).")
def load_command(count: int, seed: int) -> None:
    """Replace every sample listing with COUNT new fictional clinics, in one transaction."""
    from ..extensions import db

    result = sample.load(db.session(), count, seed)
    click.echo(f"Removed {result.deleted} earlier sample listing(s); loaded {result.inserted} fictional "
               f"sample clinic(s) with seed {seed} in {result.seconds:.1f} s.")


def register(app: Flask) -> None:
    app.cli.add_command(sample_cli)
