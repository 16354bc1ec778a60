"""Outgoing mail. No Flask here: ``config`` is ``app.config`` or any object or mapping with the keys.

With ``SMTP_URL`` set (``smtp://[user:pass@]host[:port]`` or ``smtps://...``) mail goes through that
server (``smtp://`` upgrades with STARTTLS when the server offers it); otherwise each message is
written to ``<INSTANCE_PATH>/outbox/`` as an ``.eml`` file, so a machine with no mail set up still
shows what would have been sent.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
import unicodedata
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit

SMTP_TIMEOUT = 20
log = logging.getLogger("kapfinder.mail")


class MailError(RuntimeError):
    """Mail could not be handed over."""


def _get(config: Any, key: str, default: Any = None) -> Any:
    if isinstance(config, Mapping):
        return config.get(key, default)
    return getattr(config, key, default)


def build_message(config: Any, to: str, subject: str, text: str) -> EmailMessage:
    sender = _get(config, "MAIL_FROM") or "kapfinder <no-reply@kapfinder.invalid>"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    domain = sender.rpartition("@")[2].rstrip(">") or "kapfinder.invalid"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return message


def send_mail(config: Any, to: str, subject: str, text: str) -> EmailMessage:
    """Send one plain-text message, or write it to the outbox. Returns the message. Raises MailError."""
    if any(c in to for c in "\r\n"):
        raise MailError("header injection refused")
    # A subject is built from data (a listing's name): a line break in it must neither split the
    # header nor lose the mail, so control characters become spaces.
    subject = " ".join("".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
                               for c in subject).split())
    message = build_message(config, to, subject, text)
    smtp_url = _get(config, "SMTP_URL")
    if smtp_url:
        _send_smtp(smtp_url, message)
    else:
        _write_outbox(outbox_path(config), message)
    return message


def notify(config: Any, to: str, subject: str, text: str, *, label: str) -> bool:
    """Send a message nobody waits for (a link, a decision): a failure is logged, never raised, so
    what the person did still stands and the page they see does not depend on it. ``label`` names
    the message in the log line (a template name: never data). Returns whether it was handed over."""
    try:
        send_mail(config, to, subject, text)
    except MailError as exc:
        log.error("mail not sent (%s): %s", label, exc)
        return False
    return True


def outbox_path(config: Any) -> Path:
    instance = _get(config, "INSTANCE_PATH") or "instance"
    return Path(instance) / "outbox"


def _write_outbox(outbox: Path, message: EmailMessage) -> Path:
    outbox.mkdir(parents=True, exist_ok=True)
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = outbox / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(message.as_bytes())
    tmp.replace(path)  # a reader never sees half a message
    return path


def _send_smtp(smtp_url: str, message: EmailMessage) -> None:
    parts = urlsplit(smtp_url)
    if parts.scheme not in ("smtp", "smtps"):
        raise MailError(f"SMTP_URL must start with smtp:// or smtps://, not {parts.scheme}://")
    host = parts.hostname or "localhost"
    port = parts.port or (465 if parts.scheme == "smtps" else 25)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    try:
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT,
                                                   context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT)
        with client:
            client.ehlo()
            if parts.scheme == "smtp" and client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if user:
                client.login(user, password or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"could not send mail through {host}:{port}: {exc.__class__.__name__}") from exc
