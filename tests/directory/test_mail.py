"""The mailer against a real SMTP server on loopback: plain, STARTTLS with a certificate
made here, login only over TLS; delivery off the caller's thread; failures reported."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from authbridge.audit.events import AuditEvent
from authbridge.config.model import SmtpSettings
from authbridge.directory.mail import Mail, Mailer, mailer_for
from tests.mailserver import SECRET, USER, mail_server


class Recorded:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


def settings(server_env: dict[str, str]) -> SmtpSettings:
    keys = {k.removeprefix("SMTP__").lower(): v for k, v in server_env.items()}
    return SmtpSettings(**keys)  # type: ignore[arg-type]


MAIL = Mail("ada@example.com", "invitation", {"email": "ada@example.com", "link": "https://x/i/t"})


def test_no_host_no_mailer() -> None:
    assert mailer_for(SmtpSettings()) is None


def test_plain_delivery_renders_text_and_html() -> None:
    with mail_server() as server:
        mailer = Mailer(settings(server.env()))
        mailer.send(MAIL)
        assert mailer.flush()
        (message,) = server.inbox.wait()
        mailer.close()
    assert message["To"] == "ada@example.com"
    assert message["From"] == "Example Auth <auth@example.com>"
    assert "invited you" in message["Subject"]
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and "https://x/i/t" in plain.get_content()
    assert html is not None and 'href="https://x/i/t"' in html.get_content()


def test_starttls_with_login(tmp_path: Path) -> None:
    with mail_server(tmp_path, require_auth=True) as server:
        env = server.env("starttls", SMTP__USERNAME=USER, SMTP__PASSWORD=SECRET)
        mailer = Mailer(settings(env))
        mailer.send(MAIL)
        assert mailer.flush()
        server.inbox.wait()
        mailer.close()
    assert server.inbox.logins == [USER]


def test_an_untrusted_certificate_fails_and_is_reported(tmp_path: Path) -> None:
    audit = Recorded()
    with mail_server(tmp_path) as server:
        env = server.env("starttls")
        del env["SMTP__CA_FILE"]  # the system's CAs do not know the test certificate
        mailer = Mailer(settings(env), audit=audit)
        mailer.send(MAIL)
        assert mailer.flush()
        mailer.close()
    assert server.inbox.messages == []
    (event,) = audit.events
    assert event.type == "mail.failed" and event.outcome == "failure"
    assert "SSL" in event.details["error"] or "Certificate" in event.details["error"]
    assert "https://x/i/t" not in repr(event)  # the link is a credential: never reported


def test_no_password_over_plain_text() -> None:
    with mail_server() as server:
        env = server.env("none", SMTP__USERNAME=USER, SMTP__PASSWORD=SECRET)
        mailer = Mailer(settings(env))
        mailer.send(MAIL)
        assert mailer.flush()
        server.inbox.wait()
        mailer.close()
    assert server.inbox.logins == []


def test_send_never_waits_on_the_server() -> None:
    """A server that accepts the connection but never answers: send() returns at once."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        audit = Recorded()
        mailer = Mailer(
            SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=1), audit=audit
        )
        done = threading.Event()

        def send() -> None:
            mailer.send(MAIL)
            done.set()

        threading.Thread(target=send).start()
        assert done.wait(0.5)
        assert mailer.flush(5)
    assert [e.type for e in audit.events] == ["mail.failed"]


def test_templates_dir_overrides_one_template(tmp_path: Path) -> None:
    (tmp_path / "invitation.subject").write_text("Welcome aboard, {{ email }}\n")
    with mail_server() as server:
        mailer = Mailer(settings(server.env(SMTP__TEMPLATES_DIR=str(tmp_path))))
        mailer.send(MAIL)
        assert mailer.flush()
        (message,) = server.inbox.wait()
        mailer.close()
    assert message["Subject"] == "Welcome aboard, ada@example.com"
    assert message.get_body(("plain",)) is not None  # the others stay built in


@pytest.mark.parametrize("subject", ["x\r\nBcc: evil@example.com"])
def test_subject_is_one_line(tmp_path: Path, subject: str) -> None:
    (tmp_path / "invitation.subject").write_text("{{ inviter }}\n")
    mailer = Mailer(SmtpSettings(host="127.0.0.1", templates_dir=str(tmp_path)))
    rendered = mailer.render(Mail("a@example.com", "invitation", {"inviter": subject}))
    assert "Bcc" not in rendered


def test_a_full_queue_drops_and_reports_instead_of_blocking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from authbridge.directory import mail

    monkeypatch.setattr(mail, "QUEUE_SIZE", 1)
    audit = Recorded()
    mailer = Mailer(SmtpSettings(host="127.0.0.1", port=1, security="none", timeout=1), audit=audit)
    gate = threading.Event()
    running = threading.Event()
    mailer.submit(lambda: (running.set(), gate.wait(5)))
    assert running.wait(5)  # the thread is busy; the queue (size 1) is empty
    mailer.submit(lambda: None)  # fills it
    mailer.send(MAIL)  # dropped at once, reported
    mailer.submit(lambda: None)  # dropped at once
    assert [e.details["error"] for e in audit.events] == ["queue full"]
    gate.set()
    assert mailer.flush(5)
