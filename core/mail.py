"""Sending e-mail through the SMTP server named in the settings (none: messages wait)."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from core.settings import Settings


@dataclass(frozen=True)
class MailServer:
    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    starttls: bool = False


def mail_server(settings: Settings) -> MailServer | None:
    if not settings.smtp_host:
        return None
    return MailServer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
    )


def _send(server: MailServer, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = server.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)  # required by RFC 5322
    message["Message-ID"] = make_msgid(domain=server.sender.rpartition("@")[2] or None)
    message.set_content(body)
    with smtplib.SMTP(server.host, server.port, timeout=20) as smtp:
        if server.starttls:
            # Without a context smtplib does not verify the server's certificate, and the
            # login below would hand the password to whoever answers.
            smtp.starttls(context=ssl.create_default_context())
        if server.username:
            smtp.login(server.username, server.password)
        smtp.send_message(message)


async def send_mail(server: MailServer, to: str, subject: str, body: str) -> None:
    await asyncio.to_thread(_send, server, to, subject, body)
