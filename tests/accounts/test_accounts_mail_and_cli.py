"""Mail through a real SMTP server (aiosmtpd on loopback) or into instance/outbox/, and
``flask users``."""
import socket
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from fixtures.accounts import DEFAULT_PASSWORD, outbox_messages, post_form, sign_in
from kapfinder.mail import MailError, notify, send_mail


class Inbox:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self):
        return [message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback; with ``login:secret`` it requires AUTH."""
    servers = []

    def start(credentials=None):
        inbox = Inbox()
        kwargs = {}
        if credentials:
            user, password = credentials

            def authenticator(server, session, envelope, mechanism, data):
                ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == password.encode()
                return AuthResult(success=ok)

            kwargs = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
        controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), **kwargs)
        controller.start()
        servers.append(controller)
        return inbox, controller.port

    yield start
    for controller in servers:
        controller.stop()


def test_send_mail_through_smtp(smtp_server, tmp_path):
    inbox, port = smtp_server()
    config = {"SMTP_URL": f"smtp://127.0.0.1:{port}", "MAIL_FROM": "kapfinder <no-reply@kapfinder.example>",
              "INSTANCE_PATH": str(tmp_path)}
    send_mail(config, "owner@clinic.example", "Hello", "Plain text, ünïcode too.")
    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == ["owner@clinic.example"]
    (message,) = inbox.messages()
    assert message["Subject"] == "Hello"
    assert message["From"] == "kapfinder <no-reply@kapfinder.example>"
    assert message.get_content().strip() == "Plain text, ünïcode too."
    assert not (tmp_path / "outbox").exists()


# Loopback only: the test server takes AUTH without TLS, which aiosmtpd rightly warns about.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_send_mail_logs_in_with_the_credentials_in_the_url(smtp_server, tmp_path):
    inbox, port = smtp_server(credentials=("mailer", "p@ss word"))
    config = {"SMTP_URL": f"smtp://mailer:p%40ss%20word@127.0.0.1:{port}", "INSTANCE_PATH": str(tmp_path)}
    send_mail(config, "owner@clinic.example", "Hello", "Text")
    assert len(inbox.envelopes) == 1
    with pytest.raises(MailError):
        send_mail({"SMTP_URL": f"smtp://mailer:wrong@127.0.0.1:{port}"}, "owner@clinic.example", "Hello", "Text")
    assert len(inbox.envelopes) == 1


def test_an_unreachable_smtp_server_is_a_mail_error():
    with pytest.raises(MailError):
        send_mail({"SMTP_URL": f"smtp://127.0.0.1:{_free_port()}"}, "owner@clinic.example", "Hello", "Text")


def test_notify_logs_a_failure_instead_of_raising(caplog, tmp_path):
    config = {"SMTP_URL": f"smtp://127.0.0.1:{_free_port()}"}
    with caplog.at_level("ERROR", logger="kapfinder.mail"):
        assert notify(config, "owner@clinic.example", "Hello", "Text", label="mail/reset.txt") is False
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["mail not sent (mail/reset.txt)"]
    assert notify({"INSTANCE_PATH": str(tmp_path)}, "owner@clinic.example", "Hello", "Text", label="x") is True
    assert len(list(tmp_path.glob("outbox/*.eml"))) == 1


def test_without_smtp_mail_goes_to_the_outbox(tmp_path):
    config = {"SMTP_URL": None, "INSTANCE_PATH": str(tmp_path), "MAIL_FROM": "kapfinder <no-reply@kapfinder.example>"}
    send_mail(config, "owner@clinic.example", "Hello", "Text of the message")
    (path,) = (tmp_path / "outbox").glob("*.eml")
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert (message["To"], message["Subject"]) == ("owner@clinic.example", "Hello")
    assert message.get_content().strip() == "Text of the message"
    assert message["Message-ID"] and message["Date"]


def test_header_injection_is_refused(tmp_path):
    with pytest.raises(MailError):
        send_mail({"INSTANCE_PATH": str(tmp_path)}, "owner@clinic.example\r\nBcc: x@evil.example", "Hi", "Text")
    assert not list(tmp_path.glob("outbox/*.eml"))


@pytest.fixture
def smtp_app_config(app_config, smtp_server):
    inbox, port = smtp_server()
    app_config.SMTP_URL = f"smtp://127.0.0.1:{port}"
    app_config.inbox = inbox
    return app_config


def test_sign_up_mail_goes_through_smtp_when_configured(smtp_app_config, other_app):
    app = other_app(smtp_app_config)
    client = app.test_client()
    post_form(client, "/account/sign-up", {"email": "new@clinic.example", "password": "a fine new passphrase",
                                           "confirm": "a fine new passphrase"})
    (message,) = smtp_app_config.inbox.messages()
    assert message["To"] == "new@clinic.example"
    assert "http://kapfinder.test/account/confirm?token=" in message.get_content()
    assert outbox_messages(app) == []


def test_users_create_reads_the_password_from_stdin(runner, client):
    result = runner.invoke(args=["users", "create", "Mod@Kapfinder.Example", "--role", "moderator"],
                           input="a moderator's passphrase\n")
    assert result.exit_code == 0, result.output
    assert "Created moderator account" in result.output
    assert "http://kapfinder.test/account/sign-in" in result.output
    assert sign_in(client, "mod@kapfinder.example", "a moderator's passphrase").status_code == 302
    assert "Moderator" in client.get("/account/").get_data(as_text=True)


def test_users_create_refuses_weak_passwords_and_taken_addresses(runner, make_user, db_session):
    from sqlalchemy import func, select

    from kapfinder.models import User

    weak = runner.invoke(args=["users", "create", "a@clinic.example"], input="password1\n")
    assert weak.exit_code == 1 and "most common" in weak.output
    short = runner.invoke(args=["users", "create", "a@clinic.example"], input="short\n")
    assert short.exit_code == 1 and "too short" in short.output
    make_user(email="taken@clinic.example")
    taken = runner.invoke(args=["users", "create", "taken@clinic.example"], input="a fine passphrase\n")
    assert taken.exit_code == 1 and "already an account" in taken.output
    bad_role = runner.invoke(args=["users", "create", "b@clinic.example", "--role", "admin"], input="a fine passphrase\n")
    assert bad_role.exit_code == 2
    assert db_session.execute(select(func.count()).select_from(User)).scalar_one() == 1


def test_users_create_defaults_to_an_owner(runner, client):
    result = runner.invoke(args=["users", "create", "owner@clinic.example"], input="an owner's passphrase\n")
    assert result.exit_code == 0 and "Created owner account" in result.output
    assert sign_in(client, "owner@clinic.example", "an owner's passphrase").status_code == 302


def test_users_deactivate_ends_the_account(runner, client, make_user, login):
    make_user(email="owner@clinic.example")
    login(client, "owner@clinic.example")
    result = runner.invoke(args=["users", "deactivate", "owner@clinic.example"])
    assert result.exit_code == 0, result.output
    assert client.get("/account/").status_code == 302
    assert sign_in(client, "owner@clinic.example", DEFAULT_PASSWORD).status_code == 400
    assert runner.invoke(args=["users", "deactivate", "nobody@clinic.example"]).exit_code == 1


def test_a_line_break_in_a_subject_is_flattened_not_a_lost_mail(tmp_path):
    # A subject quotes data (a listing's name): a stray CR must neither split the header nor drop the mail.
    message = send_mail({"INSTANCE_PATH": str(tmp_path)}, "owner@clinic.example",
                        "A problem was reported on your listing Calm\rHarbor\r\nBcc: x@evil.example", "Text")
    assert message["Subject"] == "A problem was reported on your listing Calm Harbor Bcc: x@evil.example"
    assert message["Bcc"] is None
    [written] = tmp_path.glob("outbox/*.eml")
    assert "\nBcc:" not in written.read_text()
