"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, plain or with
STARTTLS (a certificate made here with `cryptography`), optionally requiring AUTH."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.certificates import self_signed

USER, SECRET = "mailer", "s3cret-smtp-password"


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        return "250 OK"

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.messages) >= count, timeout), (
                f"{len(self.messages)} of {count} messages arrived"
            )
            return list(self.messages)

    def link(self, index: int = -1) -> str:
        """The first http(s) URL of a message's text part."""
        body = self.wait(index + 1 if index >= 0 else 1)[index].get_body(("plain",))
        assert body is not None
        found = re.search(r"https?://\S+", body.get_content())
        assert found is not None
        return found.group(0)


@dataclass
class MailServer:
    host: str
    port: int
    inbox: Inbox
    ca_file: Path | None = None

    def env(self, security: str = "none", **extra: str) -> dict[str, str]:
        env = {
            "SMTP__HOST": self.host,
            "SMTP__PORT": str(self.port),
            "SMTP__SECURITY": security,
            "SMTP__FROM_ADDRESS": "auth@example.com",
            "SMTP__FROM_NAME": "Example Auth",
            "SMTP__TIMEOUT": "5",
        }
        if self.ca_file is not None:
            env["SMTP__CA_FILE"] = str(self.ca_file)
        return {**env, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def mail_server(tls_dir: Path | None = None, *, require_auth: bool = False) -> Iterator[MailServer]:
    """Plain SMTP, or (with `tls_dir`) STARTTLS required before anything else."""
    inbox = Inbox()
    kwargs: dict[str, Any] = {}
    ca_file = None
    if tls_dir is not None:
        cert, key = self_signed(tls_dir, "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        kwargs.update(tls_context=context, require_starttls=True)
        ca_file = cert
    if require_auth:

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                USER.encode(),
                SECRET.encode(),
            )
            if ok:
                inbox.logins.append(USER)
            return AuthResult(success=ok)

        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
    host = "localhost" if tls_dir is not None else "127.0.0.1"
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), **kwargs)
    controller.start()
    try:
        yield MailServer(host, controller.port, inbox, ca_file)
    finally:
        controller.stop()
        time.sleep(0)
