"""Outgoing mail: invitations, password-reset links, email verification.

`Mailer.send` renders a message (Jinja2 text and HTML templates from `mail_templates/`,
each overridable by a file of the same name in `smtp.templatesDir`) and queues it; one
background thread delivers the queue over SMTP (stdlib `smtplib`: STARTTLS per RFC 3207,
implicit TLS per RFC 8314 §3.3, or plain for a loopback relay). No request waits on the
SMTP server. A failure is logged (never with the link: it is a credential) and recorded as
an audit event (`mail.failed`) so the admin sees it; the person gets the same page either
way. Without `smtp.host` there is no mailer (`mailer_for` returns None).
"""

from __future__ import annotations

import queue
import smtplib
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import structlog
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from authbridge.audit.events import Actor, AuditEvent, AuditSink, NullAudit, Target
from authbridge.config.model import SmtpSettings

__all__ = ["Mail", "Mailer", "mailer_for"]

log = structlog.get_logger("authbridge.mail")
TEMPLATES = Path(__file__).parent / "mail_templates"
QUEUE_SIZE = 1000  # past it, a message is dropped (and reported) rather than held in memory


@dataclass(frozen=True)
class Mail:
    """One message to send: `template` names `<template>.txt`, `.html` and `.subject`."""

    to: str
    template: str
    context: Mapping[str, Any]


class Mailer:
    def __init__(
        self, settings: SmtpSettings, *, product: str = "authbridge", audit: AuditSink | None = None
    ) -> None:
        self.settings = settings
        self.product = product
        self.audit: AuditSink = audit or NullAudit()
        loaders = [FileSystemLoader(str(TEMPLATES))]
        if settings.templates_dir:
            # The operator's files first: a file of the same name replaces the built-in one.
            loaders.insert(0, FileSystemLoader(settings.templates_dir))
        self._env = Environment(
            loader=ChoiceLoader(loaders),
            autoescape=select_autoescape(["html"]),
            keep_trailing_newline=True,
        )
        self._queue: queue.Queue[EmailMessage | None] = queue.Queue(QUEUE_SIZE)
        self._idle = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None
        # Messages that could not be delivered (a CLI command reports them before exiting).
        self.failures = 0

    # -- rendering ------------------------------------------------------------------------

    def render(self, mail: Mail) -> EmailMessage:
        context = {"product": self.product, **mail.context}
        message = EmailMessage()
        subject = self._env.get_template(f"{mail.template}.subject").render(context)
        message["Subject"] = " ".join(subject.split())  # one line: no header injection
        message["From"] = Address(self.settings.from_name, addr_spec=self.settings.from_address)
        message["To"] = mail.to
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.settings.from_address.rpartition("@")[2])
        message.set_content(self._env.get_template(f"{mail.template}.txt").render(context))
        html = self._env.get_template(f"{mail.template}.html").render(context)
        message.add_alternative(html, subtype="html")
        return message

    # -- queueing -------------------------------------------------------------------------

    def send(self, mail: Mail) -> None:
        """Queue `mail` for delivery and return at once (rendering errors raise here)."""
        message = self.render(mail)
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self._done()
            self._failed(message, "queue full")
            return
        self._start()

    def submit(self, job: Any) -> None:
        """Run `job()` on the mail thread (work a request must not wait for, such as a
        password-reset lookup, whose timing would otherwise tell whether an account exists)."""
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(job)
        except queue.Full:  # never block a request: the job is dropped, and said so
            self._done()
            log.error("mail_job_dropped", reason="queue full")
            return
        self._start()

    def _start(self) -> None:
        with self._idle:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="authbridge-mail", daemon=True
                )
                self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is delivered (tests, and shutdown); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self.flush(5.0)
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(5.0)

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                if isinstance(item, EmailMessage):
                    self._deliver(item)
                else:
                    item()
            except Exception as exc:  # the thread must outlive any one job
                if isinstance(item, EmailMessage):
                    self._failed(item, type(exc).__name__, str(exc)[:200])
                else:
                    log.exception("mail_job_failed", error=type(exc).__name__)
            finally:
                self._done()

    # -- delivery -------------------------------------------------------------------------

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _deliver(self, message: EmailMessage) -> None:
        s = self.settings
        assert s.host is not None
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._tls())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        with smtp:
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            # A password only ever crosses TLS (smtplib would send it over plain text).
            if s.username and s.password and s.security != "none":
                smtp.login(s.username, s.password)
            smtp.send_message(message)
        log.info("mail_sent", to_domain=_domain(message))

    def _failed(self, message: EmailMessage, error: str, detail: str = "") -> None:
        self.failures += 1
        log.error("mail_failed", error=error, detail=detail, to_domain=_domain(message))
        self.audit.record(
            AuditEvent(
                type="mail.failed",
                actor=Actor.SYSTEM,
                target=Target("mail", str(message.get("Message-ID", ""))),
                outcome="failure",
                # The subject names the kind of mail; the body (a link) never leaves here.
                details={"error": error, "detail": detail, "subject": str(message["Subject"])},
            )
        )


def _domain(message: EmailMessage) -> str:
    return str(message.get("To", "")).rpartition("@")[2].rstrip(">")


def mailer_for(
    settings: SmtpSettings, *, product: str = "authbridge", audit: AuditSink | None = None
) -> Mailer | None:
    """The mailer when `smtp.host` is set, else None (links are then shown to the admin)."""
    return Mailer(settings, product=product, audit=audit) if settings.configured else None
