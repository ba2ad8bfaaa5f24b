"""Messages when a build ends with failed reports (and, if asked, when figures changed), via Apprise.

A receiver is an Apprise URL (``mailto://user:pass@smtp.example.org?to=team@example.org``,
``json://host/path``, Slack, Matrix, ...). URLs carry credentials, so:

* they come from the command line, from ``$ROUNDUP_NOTIFY`` (read only by the CLI, through
  :func:`urls_from_env`) or from a file outside the repository, one URL per line
  (:func:`read_url_file`); :func:`collect_urls` merges the three;
* every log line and every returned value names a receiver by :func:`redact` only, and the
  ``apprise`` / ``urllib3`` loggers are scrubbed of the URLs' secrets while a message goes out;
* :meth:`Notifier.send` never raises: a receiver that cannot be reached is logged (logger
  ``analysis.reports.notify``, a warning) and reported as undelivered, and the build's outcome
  stays what it was.

The plan's ``[notify]`` table (receiver URLs, ``on_change``) is read by :func:`notify_settings`.

Typical use at the edge (the CLI)::

    urls = collect_urls(options, files, os.environ, repo_root=paths.PROJECT_ROOT)
    news = news_from_summary(summary.to_dict(), site_url=..., diff=package_diff)
    Notifier(urls).notify(news, on_change=True)   # -> list[DeliveryResult]
"""

from __future__ import annotations

import contextlib
import logging
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from analysis.errors import RoundupError

if TYPE_CHECKING:
    from analysis.reports.changes import PackageDiff

__all__ = [
    "URL_ENV",
    "BuildNews",
    "DeliveryResult",
    "FailedReport",
    "Notifier",
    "NotifyError",
    "NotifySettings",
    "build_message",
    "collect_urls",
    "news_from_summary",
    "notify_settings",
    "read_url_file",
    "redact",
    "urls_from_env",
]

#: Environment variable holding receiver URLs, separated by whitespace (read by the CLI only).
URL_ENV = "ROUNDUP_NOTIFY"
#: Figure changes listed in one message; the rest are counted.
MAX_CHANGE_LINES = 20

log = logging.getLogger(__name__)

#: Loggers of the libraries that carry the message; scrubbed of secrets while sending.
_LIBRARY_LOGGERS = ("apprise", "urllib3.connectionpool")
_SECRET_KEYS = re.compile(r"pass|pwd|token|secret|key|auth|sig", re.IGNORECASE)


class NotifyError(RoundupError):
    """Receiver URLs cannot be used: an unreadable file, one inside the repository, a bad URL."""


# --------------------------------------------------------------------------- URLs and secrets


def _secrets(url: str) -> set[str]:
    """Parts of ``url`` that must never be logged: its password, secret-looking query values
    and, when it cannot be parsed, the whole text."""
    try:
        parts = urlsplit(url.strip())
        found = {parts.password or ""}
        found |= {v for k, v in parse_qsl(parts.query) if _SECRET_KEYS.search(k)}
    except ValueError:
        return {url}
    if not parts.scheme or not parts.netloc:
        found.add(url.strip())
    found |= {unquote(s) for s in found}
    return {s for s in found if len(s) >= 3}


def _scheme(url: str) -> str:
    match = re.match(r"\s*([A-Za-z][A-Za-z0-9+.-]{0,30})://", url)
    return match.group(1).lower() if match else ""


def redact(url: str) -> str:
    """``url`` with its credentials masked, for logs and messages.

    Apprise's own privacy form, without the query, where Apprise knows the service
    (``mailto://roundup:****@127.0.0.1:2525/team%40example.org``, ``tgram://1...Z/12345``);
    else ``scheme://***``. Never returns the password of ``url``, a query value whose name says
    it is secret (``pass``, ``token``, ``key``, ...), nor what Apprise counts as a service's
    token. A secret hidden in the path of a generic URL (``json://host/TOKEN``) is not known as
    one: put it in the user-info part (``json://user:TOKEN@host/path``) instead.
    """
    secrets = _secrets(url)
    with _scrubbed(secrets):
        plugin = _instantiate(url)
    text = plugin.url(privacy=True).split("?", 1)[0] if plugin is not None else ""
    if not text or any(s in text for s in secrets):
        text = f"{_scheme(url) or 'url'}://***"
    return text


def _instantiate(url: str) -> Any:
    """The Apprise plugin for ``url`` (state kept in memory, never on disk), or ``None`` if
    Apprise cannot load it."""
    import apprise  # loads its plugins on first use (~1 s): only when notifying

    try:
        return apprise.Apprise.instantiate(url, asset=apprise.AppriseAsset(storage_mode="memory"))
    except Exception:  # a plugin that fails to load is a bad URL, not a crash
        return None


class _Scrub(logging.Filter):
    """Replace each secret in a record's message with ``***`` (the record then goes on)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def filter_text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(s in message for s in self.secrets):
            record.msg, record.args = self.filter_text(message), None
        return True


@contextlib.contextmanager
def _scrubbed(secrets: Iterable[str]) -> Iterator[None]:
    """While inside, the library loggers drop ``secrets`` from every line they emit."""
    scrub = _Scrub(secrets)
    loggers = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    for logger in loggers:
        logger.addFilter(scrub)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(scrub)


def _split(text: str) -> list[str]:
    """URLs of a text: one per whitespace-separated word; lines starting with ``#`` skipped."""
    return [
        word
        for line in text.splitlines()
        if not line.lstrip().startswith("#")
        for word in line.split()
    ]


def urls_from_env(environ: Mapping[str, str]) -> list[str]:
    """Receiver URLs in ``environ[URL_ENV]`` (whitespace-separated); ``[]`` if unset.

    The CLI passes ``os.environ``; nothing else in the project reads it.
    """
    return _split(environ.get(URL_ENV, ""))


def read_url_file(path: Path | str, *, repo_root: Path | str | None = None) -> list[str]:
    """Receiver URLs in ``path``: one per line, blank lines and ``#`` comments skipped.

    Raises :class:`NotifyError` if the file cannot be read or lies inside ``repo_root`` (a file of
    credentials must never be committed). Warns when others than the owner may read it.
    """
    path = Path(path).expanduser()
    resolved = path.resolve()
    if repo_root is not None and resolved.is_relative_to(Path(repo_root).resolve()):
        raise NotifyError(
            f"{path} is inside the repository {repo_root}; keep receiver URLs (credentials) "
            "in a file outside it, e.g. ~/.config/roundup/notify"
        )
    try:
        text = resolved.read_text(encoding="utf-8")
        mode = resolved.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise NotifyError(f"cannot read receiver URLs from {path}: {exc}") from None
    if mode & 0o077:
        log.warning(
            "%s may be read by others than its owner (chmod 600 it): it holds credentials", path
        )
    return _split(text)


def collect_urls(
    options: Iterable[str] = (),
    files: Iterable[Path | str] = (),
    environ: Mapping[str, str] | None = None,
    *,
    repo_root: Path | str | None = None,
) -> list[str]:
    """All receiver URLs: command-line ``options`` (each may hold several, whitespace-separated),
    then each file of ``files`` (:func:`read_url_file`), then ``environ[URL_ENV]``; duplicates
    dropped, order kept. Raises :class:`NotifyError` as :func:`read_url_file` does."""
    urls = [u for option in options for u in _split(option)]
    for file in files:
        urls += read_url_file(file, repo_root=repo_root)
    urls += urls_from_env(environ or {})
    return list(dict.fromkeys(urls))


# --------------------------------------------------------------------------- what to tell


@dataclass(frozen=True)
class FailedReport:
    """A report that failed: its name, the error in one line, and where to read more."""

    name: str
    error: str
    link: str | None = None


@dataclass(frozen=True)
class BuildNews:
    """What a notification tells about one build.

    ``counts``: ``{"ok": n, "failed": n, "skipped": n}``; ``changes``: one line per figure change
    (:meth:`analysis.reports.changes.Change.describe`); ``site_url``: the published site, if any.
    """

    build_id: str
    counts: Mapping[str, int]
    failed: tuple[FailedReport, ...] = ()
    changes: tuple[str, ...] = ()
    site_url: str | None = None

    def worth_telling(self, *, on_change: bool = False) -> bool:
        """True when a report failed, or (with ``on_change``) when figures changed."""
        return bool(self.failed) or (on_change and bool(self.changes))


def _error_line(error: Any) -> str:
    """``{"type": "ValueError", "message": "..."}`` (a run record's error) -> one line."""
    if isinstance(error, Mapping):
        kind, message = error.get("type"), str(error.get("message") or "").strip()
        first = message.splitlines()[0] if message else ""
        return f"{kind}: {first}" if kind else first or "unknown error"
    return str(error or "unknown error").strip().splitlines()[0]


def _link(href: str | None, site_url: str | None) -> str | None:
    if not href or not site_url or re.match(r"[a-z]+://", href):
        return href
    return site_url.rstrip("/") + "/" + href.lstrip("/")


def news_from_summary(
    summary: Mapping[str, Any], *, site_url: str | None = None, diff: PackageDiff | None = None
) -> BuildNews:
    """:class:`BuildNews` from a build summary dict (``BuildSummary.to_dict()``: ``{"build_id",
    "counts", "reports": [{"name", "status", "href", "error": {"type", "message"}}]}``) and,
    optionally, the figure changes of the build's data. Links are ``site_url`` + ``href``."""
    failed = tuple(
        FailedReport(
            str(r.get("name")), _error_line(r.get("error")), _link(r.get("href"), site_url)
        )
        for r in summary.get("reports", [])
        if r.get("status") == "failed"
    )
    changes = tuple(c.describe() for c in diff.changes) if diff is not None else ()
    return BuildNews(
        build_id=str(summary.get("build_id", "")),
        counts=dict(summary.get("counts", {})),
        failed=failed,
        changes=changes,
        site_url=site_url,
    )


def build_message(news: BuildNews) -> tuple[str, str]:
    """``(title, body)`` of the message: plain text, failures first, then figure changes.

    Title: ``roundup build <id>: 2 of 7 reports failed (a, b)`` (up to three names) and/or
    ``figures changed (3)``. Body: the counts, each failed report with its error and link, up
    to :data:`MAX_CHANGE_LINES` figure changes, the site's address.
    """
    total = sum(news.counts.values())
    parts = []
    if news.failed:
        names = ", ".join(r.name for r in news.failed[:3]) + (
            ", ..." if len(news.failed) > 3 else ""
        )
        parts.append(f"{len(news.failed)} of {total} reports failed ({names})")
    if news.changes:
        parts.append(f"figures changed ({len(news.changes)})")
    title = f"roundup build {news.build_id}: " + ("; ".join(parts) or "all reports ok")
    counts = ", ".join(f"{n} {status}" for status, n in news.counts.items())
    lines = [f"Build {news.build_id}: {counts}."]
    if news.failed:
        lines += ["", "Failed reports:"]
        for report in news.failed:
            lines.append(f"- {report.name}: {report.error}")
            if report.link:
                lines.append(f"  {report.link}")
    if news.changes:
        lines += ["", "Figures changed:"]
        lines += [f"- {line}" for line in news.changes[:MAX_CHANGE_LINES]]
        if len(news.changes) > MAX_CHANGE_LINES:
            lines.append(f"- ... and {len(news.changes) - MAX_CHANGE_LINES} more")
    if news.site_url:
        lines += ["", f"Site: {news.site_url}"]
    return title, "\n".join(lines)


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class DeliveryResult:
    """One receiver's outcome: ``receiver`` is the :func:`redact`-ed URL, ``reason`` why a
    message was not delivered ("" when it was), free of credentials."""

    receiver: str
    delivered: bool
    reason: str = ""


class _Reasons(logging.Handler):
    """Collects the warnings a library logs while one receiver is tried."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class Notifier:
    """Sends one message to each receiver URL; never raises while sending.

    ``urls``: Apprise URLs (credentials included; never shown: ``repr`` and logs redact them).
    ``timeout``: seconds to connect and to wait for each receiver's answer.
    Raises :class:`NotifyError` at construction for a URL Apprise cannot use, naming it redacted,
    so that a mistyped receiver is told before the build rather than lost after it.
    """

    def __init__(self, urls: Iterable[str], *, timeout: float = 10.0) -> None:
        self._urls = tuple(dict.fromkeys(u.strip() for u in urls if u.strip()))
        self._receivers = tuple(redact(u) for u in self._urls)
        self._secrets = {s for u in self._urls for s in _secrets(u)}
        self.timeout = timeout
        bad = [
            r for u, r in zip(self._urls, self._receivers, strict=True) if self._plugin(u) is None
        ]
        if bad:
            raise NotifyError(f"Apprise cannot use the receiver URL(s): {', '.join(bad)}")

    def __repr__(self) -> str:
        return f"Notifier({list(self._receivers)!r}, timeout={self.timeout!r})"

    @property
    def receivers(self) -> tuple[str, ...]:
        """The receivers, redacted (safe to print)."""
        return self._receivers

    def _plugin(self, url: str) -> Any:
        with _scrubbed(self._secrets):
            plugin = _instantiate(url)
        if plugin is not None:
            plugin.socket_connect_timeout = self.timeout
            plugin.socket_read_timeout = self.timeout
        return plugin

    def send(self, title: str, body: str, *, failure: bool = True) -> list[DeliveryResult]:
        """Send ``title`` and ``body`` (plain text) to every receiver, one after the other.

        ``failure`` marks the message as a failure (else as information) where the service shows
        it. Returns one :class:`DeliveryResult` per receiver, in order. Never raises (except
        ``KeyboardInterrupt``/``SystemExit``): an unreachable receiver is logged and undelivered.
        """
        return [
            self._send_one(u, r, title, body, failure)
            for u, r in zip(self._urls, self._receivers, strict=True)
        ]

    def _send_one(
        self, url: str, receiver: str, title: str, body: str, failure: bool
    ) -> DeliveryResult:
        reasons = _Reasons()
        library = logging.getLogger("apprise")
        library.addHandler(reasons)
        try:
            import apprise

            with _scrubbed(self._secrets):
                plugin = self._plugin(url)
                ok = plugin is not None and plugin.notify(
                    body=body,
                    title=title,
                    notify_type=apprise.NotifyType.FAILURE if failure else apprise.NotifyType.INFO,
                    body_format=apprise.NotifyFormat.TEXT,
                )
        except Exception as exc:  # a receiver's trouble is never the build's
            ok, reasons.lines = False, [*reasons.lines, f"{type(exc).__name__}: {exc}"]
        finally:
            library.removeHandler(reasons)
        if ok:
            log.info("notified %s", receiver)
            return DeliveryResult(receiver, True)
        reason = _Scrub(self._secrets).filter_text(
            reasons.lines[-1] if reasons.lines else "not accepted"
        )
        log.warning("could not notify %s: %s", receiver, reason)
        return DeliveryResult(receiver, False, reason)

    def notify(self, news: BuildNews, *, on_change: bool = False) -> list[DeliveryResult]:
        """Tell every receiver about ``news`` if it is worth telling (a failure, or with
        ``on_change`` a figure change); ``[]`` otherwise. Never raises, as :meth:`send`."""
        if not self._urls or not news.worth_telling(on_change=on_change):
            return []
        title, body = build_message(news)
        return self.send(title, body, failure=bool(news.failed))


@dataclass(frozen=True)
class NotifySettings:
    """The plan's ``[notify]`` table: receiver ``urls`` and ``on_change`` (tell figure changes)."""

    urls: tuple[str, ...] = ()
    on_change: bool = False


def notify_settings(path: Path | None = None) -> NotifySettings:
    """The ``[notify]`` table of the plan at ``path`` (default ``reports/plan.toml``); empty
    settings when the table (or the file) is absent. Raises :class:`PlanError` for unknown keys,
    ``urls`` that are not a list of strings, or an ``on_change`` that is not a boolean."""
    from analysis import paths
    from analysis.reports.plan import PlanError

    path = Path(path) if path else paths.plan_file()
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("notify", {})
    except FileNotFoundError:
        return NotifySettings()
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path}: not valid TOML: {exc}") from None
    if not isinstance(table, dict) or set(table) - {"urls", "on_change"}:
        raise PlanError(f"{path}: [notify] takes only 'urls' (a list) and 'on_change' (true/false)")
    urls, on_change = table.get("urls", []), table.get("on_change", False)
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise PlanError(f"{path}: [notify] urls must be a list of receiver URLs (strings)")
    if not isinstance(on_change, bool):
        raise PlanError(f"{path}: [notify] on_change must be true or false")
    return NotifySettings(tuple(urls), on_change)
