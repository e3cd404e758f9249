"""Sending email: one port, four backends, templates.

Services build an :class:`EmailMessage` (usually with :class:`EmailRenderer`)
and hand it to an :class:`EmailSender`. Which sender is used is configuration
(``EMAIL_BACKEND``): the console and file backends are for development and
tests, SMTP and SendGrid for production. A sender raises
:class:`EmailDeliveryError` when the message could not be handed over; the
outbox retries it later.
"""

from __future__ import annotations

import asyncio
import email.message
import email.policy
import email.utils
import hashlib
import os
import re
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, Self

import aiosmtplib
import httpx
import jinja2
import structlog
from pydantic import SecretStr, model_validator

from shop.kit.config import ServiceSettings
from shop.kit.http import create_http_client

DEFAULT_FROM = "no-reply@localhost"
DEFAULT_SENDGRID_API_URL = "https://api.sendgrid.com"

log = structlog.get_logger("shop.email")

# Looked up once: ``make_msgid()`` without a domain asks DNS for the FQDN every time.
_MSGID_DOMAIN = socket.gethostname() or "localhost"


def new_message_id() -> str:
    """A fresh, globally unique ``<...@host>`` Message-ID."""
    return email.utils.make_msgid(domain=_MSGID_DOMAIN)


class EmailDeliveryError(Exception):
    """The message could not be handed to the mail system. The text names no secret."""


class ConsoleEmailOutsideDevelopmentError(Exception):
    """``EMAIL_BACKEND=console`` outside development: it would log every live link."""

    def __init__(self) -> None:
        super().__init__(
            "EMAIL_BACKEND=console writes every email, password reset and verification"
            " links included, to the log: it is allowed only with SHOP_ENV=development."
            " Set EMAIL_BACKEND=smtp or sendgrid (or SHOP_ENV=development on a developer's"
            " machine)."
        )


@dataclass(frozen=True)
class EmailMessage:
    """One message to one recipient. ``message_id`` identifies it across retries."""

    to: str
    subject: str
    text: str
    html: str | None = None
    message_id: str = field(default_factory=new_message_id)

    def __post_init__(self) -> None:
        for name in ("to", "subject", "message_id"):
            if any(char in getattr(self, name) for char in "\r\n"):
                raise ValueError(f"{name} must be a single line")

    def to_payload(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "message_id": self.message_id,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Self:
        return cls(
            to=payload["to"],
            subject=payload["subject"],
            text=payload["text"],
            html=payload.get("html"),
            message_id=payload["message_id"],
        )


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def to_mime(message: EmailMessage, from_address: str) -> email.message.EmailMessage:
    """The RFC 5322 message: text/plain, or multipart/alternative with an html part."""
    mime = email.message.EmailMessage(policy=email.policy.SMTP)
    mime["From"] = from_address
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    mime["Message-ID"] = message.message_id
    mime.set_content(message.text)
    if message.html is not None:
        mime.add_alternative(message.html, subtype="html")
    return mime


class ConsoleEmailSender:
    """Writes the message to the log, for development."""

    def __init__(self, from_address: str = DEFAULT_FROM) -> None:
        self.from_address = from_address

    async def send(self, message: EmailMessage) -> None:
        log.info(
            "email",
            from_address=self.from_address,
            to=message.to,
            subject=message.subject,
            message_id=message.message_id,
            text=message.text,
        )


def eml_file_name(message_id: str) -> str:
    """A safe file name for a message ID; different IDs never share one."""
    safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", message_id.strip("<>")).lstrip(".")[:100]
    if f"<{safe}>" != message_id:  # something was changed: keep the name unique
        safe += "-" + hashlib.sha256(message_id.encode()).hexdigest()[:12]
    return safe + ".eml"


class FileEmailSender:
    """One ``.eml`` file a message in ``directory``; sending a message again overwrites it."""

    def __init__(self, directory: Path | str, from_address: str = DEFAULT_FROM) -> None:
        self.directory = Path(directory)
        self.from_address = from_address

    def path_for(self, message: EmailMessage) -> Path:
        return self.directory / eml_file_name(message.message_id)

    async def send(self, message: EmailMessage) -> None:
        data = to_mime(message, self.from_address).as_bytes()
        try:
            await asyncio.to_thread(self._write, self.path_for(message), data)
        except OSError as exc:
            raise EmailDeliveryError(f"could not write to {self.directory}: {exc}") from exc

    def _write(self, target: Path, data: bytes) -> None:
        # Small local writes: readers see a whole file or none, never a partial one.
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            Path(temp).replace(target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


class SmtpEmailSender:
    """Hands the message to an SMTP server (port 465 means implicit TLS)."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        from_address: str = DEFAULT_FROM,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.from_address = from_address
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        implicit_tls = self.port == 465
        try:
            await aiosmtplib.send(
                to_mime(message, self.from_address),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=implicit_tls,
                start_tls=self.starttls and not implicit_tls,
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            # aiosmtplib's messages carry server replies, never the credentials.
            reason = str(exc)[:200] or type(exc).__name__
            raise EmailDeliveryError(
                f"SMTP {self.host}:{self.port} refused the message: {reason}"
            ) from exc


class SendGridEmailSender:
    """SendGrid's v3 Mail Send API. Pass ``client`` to reuse a pool you close yourself."""

    def __init__(
        self,
        api_key: str,
        *,
        from_address: str = DEFAULT_FROM,
        api_url: str = DEFAULT_SENDGRID_API_URL,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._api_key = api_key
        self.from_address = from_address
        self.endpoint = api_url.rstrip("/") + "/v3/mail/send"
        self._client = client

    def body(self, message: EmailMessage) -> dict[str, Any]:
        name, address = email.utils.parseaddr(self.from_address)
        sender = {"email": address, "name": name} if name else {"email": address}
        content = [{"type": "text/plain", "value": message.text}]
        if message.html is not None:
            content.append({"type": "text/html", "value": message.html})
        return {
            "personalizations": [{"to": [{"email": message.to}]}],
            "from": sender,
            "subject": message.subject,
            "content": content,
            "headers": {"Message-ID": message.message_id},
        }

    async def send(self, message: EmailMessage) -> None:
        headers = {"Authorization": f"Bearer {self._api_key}"}
        try:
            if self._client is not None:
                response = await self._client.post(
                    self.endpoint, json=self.body(message), headers=headers
                )
            else:
                async with create_http_client() as client:
                    response = await client.post(
                        self.endpoint, json=self.body(message), headers=headers
                    )
        except httpx.HTTPError as exc:
            raise EmailDeliveryError(f"SendGrid unreachable: {type(exc).__name__}") from exc
        if not response.is_success:
            raise EmailDeliveryError(
                f"SendGrid answered {response.status_code}: {response.text[:200]}"
            )


class EmailSettings(ServiceSettings):
    """Mix into a service's settings to let it send email (``EMAIL_BACKEND`` ...)."""

    email_backend: Literal["console", "file", "smtp", "sendgrid"] = "console"
    email_file_dir: Path | None = None  # None: $SHOP_DATA_DIR/mail
    email_from: str = DEFAULT_FROM
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_timeout: float = 10
    sendgrid_api_key: SecretStr | None = None
    sendgrid_api_url: str = DEFAULT_SENDGRID_API_URL

    @model_validator(mode="after")
    def _backend_is_configured(self) -> Self:
        if self.email_backend == "smtp" and not self.smtp_host:
            raise ValueError("EMAIL_BACKEND=smtp needs SMTP_HOST")
        if self.email_backend == "sendgrid" and (
            self.sendgrid_api_key is None or not self.sendgrid_api_key.get_secret_value()
        ):
            raise ValueError("EMAIL_BACKEND=sendgrid needs SENDGRID_API_KEY")
        return self

    @property
    def email_directory(self) -> Path:
        return self.email_file_dir or self.data_dir / "mail"


def create_email_sender(settings: EmailSettings) -> EmailSender:
    """The configured sender. Raises :class:`ConsoleEmailOutsideDevelopmentError` for the
    console backend unless ``SHOP_ENV=development``, so a service so configured refuses
    to start."""
    match settings.email_backend:
        case "console":
            if settings.environment != "development":
                raise ConsoleEmailOutsideDevelopmentError
            return ConsoleEmailSender(settings.email_from)
        case "file":
            return FileEmailSender(settings.email_directory, settings.email_from)
        case "smtp":
            assert settings.smtp_host is not None
            password = settings.smtp_password
            return SmtpEmailSender(
                settings.smtp_host,
                settings.smtp_port,
                from_address=settings.email_from,
                username=settings.smtp_username,
                password=password.get_secret_value() if password else None,
                starttls=settings.smtp_starttls,
                timeout=settings.smtp_timeout,
            )
        case "sendgrid":
            assert settings.sendgrid_api_key is not None
            return SendGridEmailSender(
                settings.sendgrid_api_key.get_secret_value(),
                from_address=settings.email_from,
                api_url=settings.sendgrid_api_url,
            )


class EmailRenderer:
    """Messages from Jinja templates in a package: ``{name}.subject.txt``, ``{name}.txt``
    and, optionally, ``{name}.html`` (the only one that is HTML-escaped). Templates see
    ``to`` and the keyword arguments; ``name`` is the template's, not a variable."""

    def __init__(self, package: str, folder: str = "templates/email") -> None:
        self.environment = jinja2.Environment(
            loader=jinja2.PackageLoader(package, folder),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",), default_for_string=False, default=False
            ),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )

    def render(self, name: str, to: str, **context: Any) -> EmailMessage:
        context = {**context, "to": to}
        subject = self.environment.get_template(f"{name}.subject.txt").render(context)
        text = self.environment.get_template(f"{name}.txt").render(context)
        try:
            html_template = self.environment.get_template(f"{name}.html")
        except jinja2.TemplateNotFound:
            html = None
        else:
            html = html_template.render(context)
        return EmailMessage(to=to, subject=" ".join(subject.split()), text=text, html=html)
