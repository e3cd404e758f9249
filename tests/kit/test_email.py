"""Email: each backend delivers for real (SMTP server, HTTP API, files, logs)."""

from __future__ import annotations

import email
import email.policy
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Any

import httpx
import jinja2
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from fastapi import FastAPI, Request, Response
from pydantic import ValidationError

from shop.cli.processes import free_port
from shop.kit.config import DatabaseSettings
from shop.kit.email import (
    ConsoleEmailSender,
    EmailDeliveryError,
    EmailMessage,
    EmailRenderer,
    EmailSettings,
    FileEmailSender,
    SendGridEmailSender,
    SmtpEmailSender,
    create_email_sender,
)
from shop.kit.http import create_http_client
from shop.kit.logging import configure_logging
from tests.support import served

FROM = "Shop <no-reply@shop.test>"


def welcome(html: bool = True) -> EmailMessage:
    return EmailMessage(
        to="ada@example.com",
        subject="Grüße, Ada",
        text="Hello Ada,\nconfirm: https://shop.test/verify?t=1&u=2\n",
        html="<p>Hello <b>Ada</b> — ünïcödé</p>" if html else None,
    )


def parse(raw: bytes) -> MimeMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, MimeMessage)
    return parsed


def assert_is(parsed: MimeMessage, message: EmailMessage) -> None:
    assert parsed["From"] == FROM
    assert parsed["To"] == message.to
    assert parsed["Subject"] == message.subject
    assert parsed["Message-ID"] == message.message_id
    assert parsed["Date"]
    plain = parsed.get_body(("plain",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n") == message.text
    if message.html is None:
        assert not parsed.is_multipart()
    else:
        assert parsed.get_content_type() == "multipart/alternative"
        html = parsed.get_body(("html",))
        assert html is not None
        assert html.get_content().rstrip() == message.html


# --- the message ----------------------------------------------------------------------


def test_message_round_trips_through_json() -> None:
    message = welcome()
    payload = json.loads(json.dumps(message.to_payload()))
    assert EmailMessage.from_payload(payload) == message
    plain = welcome(html=False)
    assert EmailMessage.from_payload(json.loads(json.dumps(plain.to_payload()))) == plain


def test_message_ids_are_fresh_and_well_formed() -> None:
    first, second = welcome(), welcome()
    assert first.message_id != second.message_id
    assert first.message_id.startswith("<")
    assert first.message_id.endswith(">")
    assert "@" in first.message_id


def test_headers_cannot_be_injected() -> None:
    with pytest.raises(ValueError, match="subject"):
        EmailMessage(to="a@example.com", subject="Hi\r\nBcc: all@example.com", text="x")
    with pytest.raises(ValueError, match="to"):
        EmailMessage(to="a@example.com\nBcc: all@example.com", subject="Hi", text="x")


# --- console --------------------------------------------------------------------------


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    configure_logging("email-test", "json")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)
    logging.getLogger().addHandler(handler)
    try:
        yield stream
    finally:
        logging.getLogger().removeHandler(handler)


async def test_console_backend_logs_the_message(json_logs: io.StringIO) -> None:
    message = welcome()
    await ConsoleEmailSender(FROM).send(message)
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    [line] = [line for line in lines if line["event"] == "email"]
    assert line["to"] == message.to
    assert line["subject"] == message.subject
    assert line["text"] == message.text
    assert line["message_id"] == message.message_id
    assert line["from_address"] == FROM


# --- file -----------------------------------------------------------------------------


async def test_file_backend_writes_one_parseable_eml_per_message(tmp_path: Path) -> None:
    sender = FileEmailSender(tmp_path / "mail", FROM)
    message, plain = welcome(), welcome(html=False)
    await sender.send(message)
    await sender.send(plain)
    await sender.send(message)  # a retry overwrites, it does not duplicate
    files = sorted((tmp_path / "mail").iterdir())
    assert len(files) == 2  # and no temporary file is left behind
    assert all(path.suffix == ".eml" for path in files)
    assert_is(parse(sender.path_for(message).read_bytes()), message)
    assert_is(parse(sender.path_for(plain).read_bytes()), plain)


async def test_file_names_stay_in_the_directory(tmp_path: Path) -> None:
    sender = FileEmailSender(tmp_path / "mail", FROM)
    hostile = EmailMessage(to="a@example.com", subject="x", text="x", message_id="<../../evil>")
    await sender.send(hostile)
    [written] = (tmp_path / "mail").iterdir()
    assert written.parent == tmp_path / "mail"
    assert not written.name.startswith(".")
    assert parse(written.read_bytes())["Message-ID"] == "<../../evil>"


async def test_file_backend_failure_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(EmailDeliveryError):
        await FileEmailSender(blocker, FROM).send(welcome())


# --- SMTP -----------------------------------------------------------------------------


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[tuple[bytes, bytes]] = field(default_factory=list)
    reject: bool = False

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.reject:
            return "554 5.7.1 Message rejected"
        self.envelopes.append(envelope)
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"right-password", handled=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_smtp_backend_delivers_text_and_html(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    message = welcome()
    await SmtpEmailSender("127.0.0.1", port, from_address=FROM, starttls=False).send(message)
    [envelope] = inbox.envelopes
    assert envelope.mail_from == "no-reply@shop.test"
    assert envelope.rcpt_tos == ["ada@example.com"]
    assert isinstance(envelope.original_content, bytes)
    assert_is(parse(envelope.original_content), message)


async def test_smtp_backend_logs_in(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    good = SmtpEmailSender(
        "127.0.0.1",
        port,
        from_address=FROM,
        username="shop",
        password="right-password",
        starttls=False,
    )
    await good.send(welcome(html=False))
    assert inbox.logins == [(b"shop", b"right-password")]
    assert len(inbox.envelopes) == 1

    bad = SmtpEmailSender(
        "127.0.0.1", port, from_address=FROM, username="shop", password="wrong", starttls=False
    )
    with pytest.raises(EmailDeliveryError, match="535") as caught:
        await bad.send(welcome())
    assert "wrong" not in str(caught.value)
    assert len(inbox.envelopes) == 1


async def test_smtp_failures_are_delivery_errors(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    # STARTTLS is required when asked for, never silently skipped.
    with pytest.raises(EmailDeliveryError, match="STARTTLS"):
        await SmtpEmailSender("127.0.0.1", port, from_address=FROM, starttls=True).send(welcome())
    inbox.reject = True
    with pytest.raises(EmailDeliveryError, match="554"):
        await SmtpEmailSender("127.0.0.1", port, from_address=FROM, starttls=False).send(welcome())
    nobody = SmtpEmailSender("127.0.0.1", free_port(), starttls=False, timeout=2)
    with pytest.raises(EmailDeliveryError):
        await nobody.send(welcome())
    assert inbox.envelopes == []


# --- SendGrid -------------------------------------------------------------------------


def fake_sendgrid(status: int, received: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/v3/mail/send")
    async def mail_send(request: Request) -> Response:
        received.append(
            {"authorization": request.headers.get("authorization"), "body": await request.json()}
        )
        return Response(status_code=status, content=b"" if status < 300 else b'{"errors":[]}')

    return app


async def test_sendgrid_backend_posts_the_v3_body() -> None:
    received: list[dict[str, Any]] = []
    message = welcome()
    with served(fake_sendgrid(202, received)) as url:
        await SendGridEmailSender("SG.key", from_address=FROM, api_url=url).send(message)
    [request] = received
    assert request["authorization"] == "Bearer SG.key"
    assert request["body"] == {
        "personalizations": [{"to": [{"email": "ada@example.com"}]}],
        "from": {"email": "no-reply@shop.test", "name": "Shop"},
        "subject": message.subject,
        "content": [
            {"type": "text/plain", "value": message.text},
            {"type": "text/html", "value": message.html},
        ],
        "headers": {"Message-ID": message.message_id},
    }


async def test_sendgrid_backend_reuses_a_given_client() -> None:
    received: list[dict[str, Any]] = []
    message = welcome(html=False)
    with served(fake_sendgrid(202, received)) as url:
        async with create_http_client() as client:
            sender = SendGridEmailSender(
                "SG.key", from_address="plain@shop.test", api_url=url + "/", client=client
            )
            await sender.send(message)
            await sender.send(message)
    assert len(received) == 2
    body = received[0]["body"]
    assert body["from"] == {"email": "plain@shop.test"}
    assert body["content"] == [{"type": "text/plain", "value": message.text}]


async def test_sendgrid_errors_are_delivery_errors_without_the_key() -> None:
    received: list[dict[str, Any]] = []
    with served(fake_sendgrid(500, received)) as url:
        sender = SendGridEmailSender("SG.secret-key", from_address=FROM, api_url=url)
        with pytest.raises(EmailDeliveryError, match="500") as caught:
            await sender.send(welcome())
    assert len(received) == 1
    assert "secret-key" not in str(caught.value)
    unreachable = SendGridEmailSender("SG.secret-key", api_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(EmailDeliveryError) as caught:
        await unreachable.send(welcome())
    assert "secret-key" not in str(caught.value)
    assert isinstance(caught.value.__cause__, httpx.HTTPError)


# --- settings -------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in EmailSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("SHOP_DATA_DIR", raising=False)
    monkeypatch.delenv("SHOP_ENV", raising=False)
    return monkeypatch


def test_settings_default_to_the_console(clean_env: pytest.MonkeyPatch) -> None:
    settings = EmailSettings(SHOP_ENV="development")
    assert settings.email_backend == "console"
    assert settings.email_from == "no-reply@localhost"
    assert isinstance(create_email_sender(settings), ConsoleEmailSender)


def test_settings_refuse_an_incomplete_backend(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="EMAIL_BACKEND=smtp needs SMTP_HOST"):
        EmailSettings(email_backend="smtp")
    with pytest.raises(ValidationError, match="EMAIL_BACKEND=sendgrid needs SENDGRID_API_KEY"):
        EmailSettings(email_backend="sendgrid")
    with pytest.raises(ValidationError, match="SENDGRID_API_KEY"):
        EmailSettings(email_backend="sendgrid", sendgrid_api_key="")
    with pytest.raises(ValidationError):
        EmailSettings(email_backend="pigeon")


def test_settings_come_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("EMAIL_BACKEND", "smtp")
    clean_env.setenv("EMAIL_FROM", FROM)
    clean_env.setenv("SMTP_HOST", "mail.example.com")
    clean_env.setenv("SMTP_PORT", "2525")
    clean_env.setenv("SMTP_USERNAME", "shop")
    clean_env.setenv("SMTP_PASSWORD", "hunter2")
    clean_env.setenv("SMTP_STARTTLS", "false")
    clean_env.setenv("SMTP_TIMEOUT", "3.5")
    settings = EmailSettings()
    assert "hunter2" not in repr(settings)
    sender = create_email_sender(settings)
    assert isinstance(sender, SmtpEmailSender)
    assert (sender.host, sender.port, sender.from_address) == ("mail.example.com", 2525, FROM)
    assert (sender.username, sender.password) == ("shop", "hunter2")
    assert (sender.starttls, sender.timeout) == (False, 3.5)

    clean_env.setenv("EMAIL_BACKEND", "sendgrid")
    clean_env.setenv("SENDGRID_API_KEY", "SG.abc")
    clean_env.setenv("SENDGRID_API_URL", "http://127.0.0.1:9/")
    sendgrid = create_email_sender(EmailSettings())
    assert isinstance(sendgrid, SendGridEmailSender)
    assert sendgrid.endpoint == "http://127.0.0.1:9/v3/mail/send"


def test_file_backend_defaults_to_the_data_dir(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("EMAIL_BACKEND", "file")
    clean_env.setenv("SHOP_DATA_DIR", str(tmp_path))
    sender = create_email_sender(EmailSettings())
    assert isinstance(sender, FileEmailSender)
    assert sender.directory == tmp_path / "mail"
    clean_env.setenv("EMAIL_FILE_DIR", str(tmp_path / "elsewhere"))
    sender = create_email_sender(EmailSettings())
    assert isinstance(sender, FileEmailSender)
    assert sender.directory == tmp_path / "elsewhere"


def test_settings_mix_into_a_service_settings(clean_env: pytest.MonkeyPatch) -> None:
    class ServiceWithEmail(DatabaseSettings, EmailSettings):
        pass

    settings = ServiceWithEmail(database_url="postgresql://u@h/db", email_backend="console")
    assert settings.database_url.startswith("postgresql+asyncpg://")
    with pytest.raises(ValidationError, match="SMTP_HOST"):
        ServiceWithEmail(database_url="postgresql://u@h/db", email_backend="smtp")


# --- templates ------------------------------------------------------------------------


@pytest.fixture
def renderer() -> EmailRenderer:
    return EmailRenderer(package="tests.kit", folder="templates/email")


def test_renderer_escapes_html_only(renderer: EmailRenderer) -> None:
    message = renderer.render(
        "welcome", to="ada@example.com", user="<Ada & Co>", link="https://x.test/?a=1&b=2"
    )
    assert message.to == "ada@example.com"
    assert message.subject == "Welcome, <Ada & Co>!"  # one line, not escaped
    assert message.text == "Hello <Ada & Co>,\n\nconfirm here: https://x.test/?a=1&b=2\n"
    assert message.html is not None
    assert "<p>Hello &lt;Ada &amp; Co&gt;,</p>" in message.html
    assert 'href="https://x.test/?a=1&amp;b=2"' in message.html
    assert "<p>Sent to ada@example.com.</p>" in message.html  # `to` is in the context
    assert message.message_id.startswith("<")


def test_renderer_html_is_optional(renderer: EmailRenderer) -> None:
    message = renderer.render("plain", to="ada@example.com", code="<123>")
    assert message.html is None
    assert message.subject == "Your code"
    assert message.text == "The code is <123>.\n"


def test_renderer_fails_on_a_missing_variable(renderer: EmailRenderer) -> None:
    with pytest.raises(jinja2.UndefinedError, match="link"):
        renderer.render("welcome", to="ada@example.com", user="Ada")
    with pytest.raises(jinja2.TemplateNotFound):
        renderer.render("no-such-template", to="ada@example.com")
