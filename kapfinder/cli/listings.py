"""``flask listings remind``: mail owners whose listing is 75–90 days past its last confirmation."""
from __future__ import annotations

import click
from flask import Flask, current_app, render_template
from flask_babel import gettext as _

from .. import listings
from ..formats import iso_date


def register(app: Flask) -> None:
    @app.cli.group("listings")
    def group() -> None:
        """Keep listings fresh."""

    @group.command("remind")
    def remind() -> None:
        """Mail each owner once per confirmation cycle when a listing is 75–90 days past confirmation (for cron)."""
        from ..auth import external_url
        from ..extensions import db
        from ..mail import send_mail

        def send(clinic, owner) -> None:
            text = render_template("owner/mail/remind.txt", clinic=clinic,
                                   confirmed=iso_date(clinic.confirmed_at),
                                   link=external_url("owner.listing", clinic_id=clinic.id))
            send_mail(current_app.config, owner.email, _("Is your listing still correct?"), text)

        sent = listings.remind(db.session(), send)
        click.echo(f"Sent {sent} reminder(s).")
