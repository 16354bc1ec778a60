"""Account forms. Password rules live in ``kapfinder.accounts`` (shared with ``flask users create``);
these forms check presence and shape, the service the rest."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import ngettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from ..accounts import MAX_EMAIL, MAX_PASSWORD, MIN_PASSWORD
from ..errors import KapfinderError

EMAIL_VALIDATORS = [DataRequired(message=_l("Enter your email address.")),
                    Length(max=MAX_EMAIL, message=_l("That email address is too long.")),
                    Email(message=_l("Enter an email address like name@example.com."))]


def _new_password(label, **kwargs):
    return PasswordField(label, validators=[DataRequired(message=_l("Enter a password."))],
                         description=_l("At least %(min)s characters. A few unrelated words make a strong one.",
                                        min=MIN_PASSWORD),
                         render_kw={"autocomplete": "new-password", "minlength": MIN_PASSWORD,
                                    "maxlength": MAX_PASSWORD}, **kwargs)


def _again(label, of: str):
    """The new password typed a second time; it must equal the field named ``of``."""
    return PasswordField(label, validators=[DataRequired(message=_l("Enter the password again.")),
                                            EqualTo(of, message=_l("The two passwords are not the same."))],
                         render_kw={"autocomplete": "new-password"})


class SignUpForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=EMAIL_VALIDATORS, render_kw={"autocomplete": "email"})
    password = _new_password(_l("Password"))
    confirm = _again(_l("Password again"), of="password")


class SignInForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=EMAIL_VALIDATORS, render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), validators=[DataRequired(message=_l("Enter your password."))],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField(_l("Keep me signed in on this device"))
    next = HiddenField()

    def __init__(self, *args, remember_days: int = 14, **kwargs):
        super().__init__(*args, **kwargs)
        # The label names the period this site is configured with (KAPFINDER_REMEMBER_DAYS).
        self.remember.label.text = ngettext("Keep me signed in on this device for %(num)d day",
                                            "Keep me signed in on this device for %(num)d days", remember_days)


class ResetRequestForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=EMAIL_VALIDATORS, render_kw={"autocomplete": "email"})


class ResetPasswordForm(FlaskForm):
    token = HiddenField()
    password = _new_password(_l("New password"))
    confirm = _again(_l("New password again"), of="password")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[
        DataRequired(message=_l("Enter your current password."))], render_kw={"autocomplete": "current-password"})
    new_password = _new_password(_l("New password"))
    confirm = _again(_l("New password again"), of="new_password")


class ConfirmEmailForm(FlaskForm):
    """The button on the page a confirmation link opens: the token travels in a POST."""

    token = HiddenField()


class SignOutForm(FlaskForm):
    """Only the CSRF token: signing out is a POST so no other site can sign you out."""


def account_message(err: KapfinderError) -> str:
    """The text for a reason the accounts service gives."""
    p = err.params
    return {
        "password_too_short": _("Use at least %(min)s characters.", min=p.get("min", MIN_PASSWORD)),
        "password_too_long": _("Use at most %(max)s characters.", max=p.get("max", MAX_PASSWORD)),
        "password_common": _("That password is one of the most common ones, so it is easy to guess. "
                             "Choose another."),
        "password_is_email": _("Don't use your email address as your password."),
        "wrong_password": _("That is not your current password."),
        "invalid_email": _("Enter an email address like name@example.com."),
        "control_character": _("This address holds invisible or control characters. Type it again."),
        "confusable_email": _("This address mixes letters of different alphabets that look alike "
                              "(such as a Cyrillic ‘о’ among Latin letters). Type it again."),
        "required": _("This field is required."),
        "email_taken": _("There is already an account with this email address."),
        "invalid_token": _("This link has expired or was already used. Ask for a new one."),
    }.get(err.reason, _("This value is not valid."))


def add_error(form: FlaskForm, err: KapfinderError, default_field: str) -> None:
    field = getattr(form, err.field or default_field, None) or getattr(form, default_field)
    field.errors = list(field.errors) + [account_message(err)]
