"""analysis.reports.notify against real receivers on 127.0.0.1: an SMTP server and an HTTP endpoint."""

from __future__ import annotations

import email
import json
import logging
import socket
import threading
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from analysis import paths
from analysis.errors import RoundupError
from analysis.reports import notify
from analysis.reports.notify import BuildNews, DeliveryResult, FailedReport, Notifier, NotifyError

SECRET = "Pl4nted-S3cret-pw"

pytestmark = [
    # The test server takes AUTH without TLS on purpose: it listens on 127.0.0.1 only.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
    pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning"),
]

SUMMARY = {
    "build_id": "20261202T101500000Z-abc123",
    "counts": {"ok": 5, "failed": 1, "skipped": 1},
    "reports": [
        {"name": "downloads", "status": "ok", "href": "downloads/index.html", "error": None},
        {
            "name": "funding-2021",
            "status": "failed",
            "href": "runs/20261202T101500000Z-abc123/funding-2021/index.html",
            "error": {"type": "KeyError", "message": "'amount_usd'\nmore lines"},
        },
        {"name": "stakes", "status": "skipped", "href": "stakes/index.html", "error": None},
    ],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- receivers


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = (auth_data.login.decode(), auth_data.password.decode())
        self.logins.append(login)
        return AuthResult(success=login == ("roundup", SECRET))


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    """An SMTP server on 127.0.0.1 that wants the planted password (AUTH without TLS)."""
    inbox, port = _Inbox(), _free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def http() -> Iterator[tuple[list[dict], int]]:
    """An HTTP endpoint on 127.0.0.1 that records each POST (headers and JSON body)."""
    posts: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posts.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
            )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield posts, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def mail_url(port: int) -> str:
    return (
        f"mailto://roundup:{SECRET}@127.0.0.1:{port}?to=team@example.org&from=roundup@example.org"
    )


def json_url(port: int) -> str:
    return f"json://hook:{SECRET}@127.0.0.1:{port}/roundup/notify"


def _text(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    return "\n".join(
        p.get_payload(decode=True).decode() for p in parts if p.get_content_type() == "text/plain"
    )


# --------------------------------------------------------------------------- delivery


def test_a_failing_build_reaches_each_receiver_once(smtp, http) -> None:
    (inbox, smtp_port), (posts, http_port) = smtp, http
    news = notify.news_from_summary(SUMMARY, site_url="https://reports.example.org/roundup/")
    notifier = Notifier([mail_url(smtp_port), json_url(http_port)], timeout=5)
    results = notifier.notify(news)

    assert [r.delivered for r in results] == [True, True], results
    assert len(inbox.messages) == 1 and inbox.logins == [("roundup", SECRET)]
    mail = inbox.messages[0]
    assert "funding-2021" in mail["Subject"] and "1 of 7 reports failed" in mail["Subject"]
    body = _text(mail)
    assert "- funding-2021: KeyError: 'amount_usd'" in body
    assert (
        "https://reports.example.org/roundup/runs/20261202T101500000Z-abc123/funding-2021/index.html"
        in body
    )
    assert len(posts) == 1 and posts[0]["path"] == "/roundup/notify"
    payload = posts[0]["json"]
    assert payload["type"] == "failure"
    assert "funding-2021: KeyError: 'amount_usd'" in payload["message"]
    assert payload["title"] == mail["Subject"]


def test_a_dead_receiver_is_undelivered_and_raises_nothing(http, caplog) -> None:
    posts, http_port = http
    dead = _free_port()  # nothing listens there any more
    notifier = Notifier([mail_url(dead), json_url(dead), json_url(http_port)], timeout=2)
    with caplog.at_level(logging.WARNING, logger="analysis.reports.notify"):
        results = notifier.send("roundup build x: 1 of 1 reports failed", "- a: ValueError: b")
    assert [r.delivered for r in results] == [False, False, True]
    assert all(r.reason for r in results[:2]) and results[2].reason == ""
    assert results[0].receiver.startswith(f"mailto://roundup:****@127.0.0.1:{dead}")
    assert len(posts) == 1  # the live receiver still got its message
    warned = [r.getMessage() for r in caplog.records if r.name == "analysis.reports.notify"]
    assert sum("could not notify" in w for w in warned) == 2


def test_the_secret_never_shows(smtp, http, tmp_path, caplog, capfd) -> None:
    (inbox, smtp_port), (posts, http_port) = smtp, http
    dead = _free_port()
    urls = [mail_url(smtp_port), json_url(http_port), mail_url(dead), json_url(dead)]
    returned: list[object] = []
    with caplog.at_level(logging.DEBUG):
        notifier = Notifier(urls, timeout=2)
        returned += [notifier, notifier.receivers, [notify.redact(u) for u in urls]]
        returned += notifier.notify(notify.news_from_summary(SUMMARY))
        returned.append(notify.redact(f"bogus://user:{SECRET}@host"))
        returned.append(notify.redact(f"not a url {SECRET}"))
        returned.append(
            notify.redact(f"mailto://127.0.0.1:25?user=roundup&pass={SECRET}&to=a@b.org")
        )
        with pytest.raises(NotifyError) as refused:
            Notifier([f"bogus://user:{SECRET}@host"])
        returned.append(str(refused.value))
    out, err = capfd.readouterr()
    assert len(inbox.messages) == 1 and len(posts) == 1
    assert posts[0]["headers"].get("Authorization")  # the secret did travel, to the receiver only
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "nothing was logged, so this test proves nothing"
    for where, text in {
        "logs": logged,
        "stdout": out,
        "stderr": err,
        "returned": repr(returned),
    }.items():
        assert SECRET not in text, f"the secret appeared in {where}"


# --------------------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (mail_url(2525), "mailto://roundup:****@127.0.0.1:2525/team%40example.org"),
        (f"mailto://roundup:{SECRET}@127.0.0.1:2525?to=t@example.org", "mailto://***"),
        (f"json://hook:{SECRET}@127.0.0.1:8080/path", "json://hook:****@127.0.0.1:8080/path"),
        (f"bogus://user:{SECRET}@host", "bogus://***"),
        (f"no url at all {SECRET}", "url://***"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    text = notify.redact(url)
    assert text.startswith(shown) and SECRET not in text


def test_a_bad_url_is_refused_up_front() -> None:
    with pytest.raises(RoundupError, match=r"cannot use the receiver URL\(s\): bogus://\*\*\*"):
        Notifier(["bogus://x"])


def test_no_news_sends_nothing(http) -> None:
    posts, port = http
    quiet = BuildNews("b1", {"ok": 3, "failed": 0, "skipped": 0}, changes=("x",))
    assert Notifier([json_url(port)], timeout=2).notify(quiet) == []
    assert Notifier([], timeout=2).notify(notify.news_from_summary(SUMMARY)) == []
    assert posts == []
    (sent,) = Notifier([json_url(port)], timeout=2).notify(quiet, on_change=True)
    assert sent == DeliveryResult(sent.receiver, True) and posts[0]["json"]["type"] == "info"


# --------------------------------------------------------------------------- URL sources


def test_urls_from_options_file_and_environment(tmp_path: Path, caplog) -> None:
    file = tmp_path / "notify"
    file.write_text("# receivers\njson://127.0.0.1:9/a\n\n  mailto://u:p@127.0.0.1:25?to=a@b.org\n")
    file.chmod(0o600)
    environ = {notify.URL_ENV: "json://127.0.0.1:9/env json://127.0.0.1:9/a"}
    with caplog.at_level(logging.WARNING):
        urls = notify.collect_urls(
            ["json://127.0.0.1:9/cli"], [file], environ, repo_root=paths.PROJECT_ROOT
        )
    assert urls == [
        "json://127.0.0.1:9/cli",
        "json://127.0.0.1:9/a",
        "mailto://u:p@127.0.0.1:25?to=a@b.org",
        "json://127.0.0.1:9/env",
    ]
    assert caplog.records == []
    assert notify.urls_from_env({}) == []
    file.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        notify.read_url_file(file)
    assert "may be read by others" in caplog.text and "p@" not in caplog.text


def test_a_url_file_inside_the_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotifyError, match="inside the repository"):
        notify.read_url_file(paths.PROJECT_ROOT / "README.md", repo_root=paths.PROJECT_ROOT)
    with pytest.raises(NotifyError, match="cannot read receiver URLs"):
        notify.read_url_file(tmp_path / "missing")


# --------------------------------------------------------------------------- the message


def test_message_names_each_failed_report_its_error_and_link() -> None:
    news = notify.news_from_summary(SUMMARY, site_url="https://r.example.org")
    assert news.failed == (
        FailedReport(
            "funding-2021",
            "KeyError: 'amount_usd'",
            "https://r.example.org/runs/20261202T101500000Z-abc123/funding-2021/index.html",
        ),
    )
    title, body = notify.build_message(news)
    assert title == "roundup build 20261202T101500000Z-abc123: 1 of 7 reports failed (funding-2021)"
    assert body.splitlines()[:5] == [
        "Build 20261202T101500000Z-abc123: 5 ok, 1 failed, 1 skipped.",
        "",
        "Failed reports:",
        "- funding-2021: KeyError: 'amount_usd'",
        "  https://r.example.org/runs/20261202T101500000Z-abc123/funding-2021/index.html",
    ]


def test_message_lists_figure_changes(tmp_path: Path) -> None:
    news = BuildNews("b2", {"ok": 2}, changes=tuple(f"ds k{i} f: 1 -> 2" for i in range(25)))
    title, body = notify.build_message(news)
    assert title == "roundup build b2: figures changed (25)"
    assert "- ds k0 f: 1 -> 2" in body and "- ... and 5 more" in body and "k24" not in body
    assert news.worth_telling(on_change=True) and not news.worth_telling()
