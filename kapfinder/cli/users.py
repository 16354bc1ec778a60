"""``flask users create EMAIL --role owner|moderator`` and ``flask users deactivate EMAIL``."""
from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from .. import accounts
from ..errors import InvalidParameter

users = AppGroup("users", help="Owner and moderator accounts.")

MESSAGES = {
    "password_too_short": f"The password is too short: use at least {accounts.MIN_PASSWORD} characters.",
    "password_too_long": f"The password is too long: use at most {accounts.MAX_PASSWORD} characters.",
    "password_common": "That password is one of the most common ones. Choose another.",
    "password_is_email": "Don't use the email address as the password.",
    "email_taken": "There is already an account with this email address.",
    "invalid_email": "That is not an email address.",
    "required": "An email address is required.",
    "unknown_account": "There is no account with this email address.",
}


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    # Piped in (e.g. from a secrets manager): the first line, without its line ending.
    return sys.stdin.readline().rstrip("\r\n")


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["owner", "moderator"]), default="owner", show_default=True)
def create(email: str, role: str) -> None:
    """Make an account (already confirmed). Asks for the password, or reads it from stdin."""
    from ..auth import external_url
    from ..extensions import db

    password = _read_password()
    try:
        user = accounts.create_user(db.session(), email, password, role=role, confirmed=True)
    except InvalidParameter as err:
        raise click.ClickException(MESSAGES.get(err.reason, f"{err.field}: {err.reason}")) from None
    click.echo(f"Created {role} account {user.id} for {user.email}.")
    click.echo(f"Sign in at {external_url('account.sign_in')}")


@users.command("deactivate")
@click.argument("email")
def deactivate(email: str) -> None:
    """Close an account: it can no longer sign in and every session of it ends."""
    from ..extensions import db

    user = accounts.find_user(db.session(), email)
    if user is None:
        raise click.ClickException(MESSAGES["unknown_account"])
    accounts.deactivate(db.session(), user.id)
    click.echo(f"Deactivated account {user.id}.")


def register(app: Flask) -> None:
    app.cli.add_command(users)
