"""Reports as PDF: the report's self-contained HTML page printed by Chromium (via Playwright).

Chromium lays the nbconvert page out as a reader's browser does, so the PDF holds the same
charts, tables, source notes and citation as the page. Each PDF is A4 with margins, background
graphics, a footer "<title> ... page N of M", and a little print CSS (:data:`PRINT_CSS`) that keeps
headers, banners, charts and table rows whole. Rendering is offline: every request that is not
``file:`` or ``data:`` is refused and listed in :attr:`PdfResult.blocked`.

Typical use (a build makes many PDFs; one browser serves them all)::

    executable = find_chromium(os.environ)           # at the edge: the CLI
    ok, line = pdf_available(executable)              # once per build: make PDFs, or say why not
    with PdfRenderer(executable) as renderer:         # Chromium starts at the first render
        renderer.render(html, pdf, title="Roundup")   # -> PdfResult; raises PdfError

In a worker process of a ``ProcessPoolExecutor`` use :func:`process_renderer`, the renderer of
that process: started at its first render, closed when the process ends. :func:`render_pdf` makes
one PDF with a browser of its own.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import html
import importlib.util
import multiprocessing.util
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Coroutine, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from analysis.errors import RoundupError

__all__ = [
    "CHROMIUM_ENV",
    "DEFAULT_CHROMIUM",
    "HOW_TO",
    "PdfError",
    "PdfRenderer",
    "PdfResult",
    "PdfUnavailable",
    "find_chromium",
    "pdf_available",
    "process_renderer",
    "render_pdf",
]

#: Environment variable naming another Chromium (read by :func:`find_chromium` only).
CHROMIUM_ENV = "ROUNDUP_CHROMIUM"
#: Debian's Chromium (``apt-get install chromium``), used when no executable is given.
DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
#: What to do when no PDF can be made (one line, for a log or an error message).
HOW_TO = (
    "install Debian's chromium (apt-get install chromium) to make PDFs; "
    f"set {CHROMIUM_ENV}=/path to use another Chromium"
)

#: Flags for a quiet, offline, container-friendly headless Chromium.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
)

#: A4 margins; the bottom one holds the footer.
MARGINS = {"top": "14mm", "bottom": "16mm", "left": "12mm", "right": "12mm"}

#: Print rules added to the page before printing: no code inputs or empty cells, headers and
#: banners kept whole with their colours, charts and table rows never split across pages.
PRINT_CSS = """
@media print {
  html, body { background: #fff !important; }
  body.jp-Notebook, main { padding: 0 !important; margin: 0 !important; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .jp-Cell { padding: 2px 0 !important; }
  .jp-InputPrompt, .jp-OutputPrompt, .jp-Collapser, .anchor-link,
  .jp-CodeCell .jp-Cell-inputWrapper, .jp-mod-noOutputs.jp-mod-noInput { display: none !important; }
  .roundup-pdf-link { display: none !important; }
  .roundup-header, .roundup-error-banner { break-inside: avoid; }
  .roundup-header { border-bottom: 1px solid #999 !important; padding: 0 0 6px 0 !important; }
  h1, h2, h3, h4 { break-after: avoid; }
  img { max-width: 100% !important; height: auto !important; break-inside: avoid; }
  .jp-RenderedImage { break-inside: avoid; }
  table { max-width: 100%; }
  thead { display: table-header-group; }
  tr, caption, .source-note { break-inside: avoid; }
  pre, code { white-space: pre-wrap !important; word-break: break-word; }
}
"""

_FOOTER = (
    '<div style="font-family: sans-serif; font-size: 9px; color: #555; width: 100%; '
    'margin: 0 12mm; display: flex; justify-content: space-between; gap: 8mm;">'
    '<span style="overflow: hidden; white-space: nowrap; text-overflow: ellipsis;">{title}</span>'
    '<span style="white-space: nowrap;">page <span class="pageNumber"></span> of '
    '<span class="totalPages"></span></span></div>'
)

T = TypeVar("T")


class PdfError(RoundupError):
    """A report's PDF could not be made (timeout, page error, renderer crash, unwritable target)."""


class PdfUnavailable(PdfError):
    """No PDF can be made here: the playwright module or the Chromium executable is missing."""


@dataclass(frozen=True)
class PdfResult:
    """One written PDF: where, how big (bytes), how long it took (seconds, wall clock) and the
    URLs the page asked for that were refused (rendering is offline)."""

    path: Path
    size: int
    seconds: float
    blocked: tuple[str, ...]


def find_chromium(environ: Mapping[str, str]) -> Path | None:
    """The Chromium to print with: ``$ROUNDUP_CHROMIUM`` if set (even if missing, so the error
    names it), else ``chromium`` / ``chromium-browser`` on ``environ["PATH"]``, else
    :data:`DEFAULT_CHROMIUM` if it exists, else None. Called at the edge (the CLI)."""
    override = environ.get(CHROMIUM_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name, path=environ.get("PATH", os.defpath))
        if found:
            return Path(found)
    return DEFAULT_CHROMIUM if DEFAULT_CHROMIUM.is_file() else None


def _unavailable_reason(executable: Path | None) -> str | None:
    """Why no PDF can be made with ``executable`` (None: :data:`DEFAULT_CHROMIUM`), or None."""
    if importlib.util.find_spec("playwright") is None:
        return f"PDFs skipped: the playwright module is not installed (pip install playwright); {HOW_TO}"
    path = executable or DEFAULT_CHROMIUM
    if not path.is_file() or not os.access(path, os.X_OK):
        return f"PDFs skipped: no Chromium executable at {path}; {HOW_TO}"
    return None


def pdf_available(executable: Path | None) -> tuple[bool, str]:
    """Can PDFs be made with ``executable`` (None: :data:`DEFAULT_CHROMIUM`)? Returns ``(True,
    "PDFs made with Chromium at <path>")`` or ``(False, "PDFs skipped: <why>; <how to get them>")``,
    one line either way. Cheap (starts nothing): a build asks once, then makes PDFs or says why not.
    """
    reason = _unavailable_reason(executable)
    if reason:
        return False, reason
    return True, f"PDFs made with Chromium at {executable or DEFAULT_CHROMIUM}"


class _LoopThread:
    """An asyncio loop on a daemon thread of its own, so Playwright's async API can be driven
    from any caller (a plain script, a worker process, a thread, a Jupyter kernel whose loop is
    already running) with a hard timeout on every call."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="roundup-pdf-loop", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        """Run ``coro`` on the loop; cancel it and raise ``TimeoutError`` after ``timeout`` s."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError from None

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


class PdfRenderer:
    """Prints report pages to PDF with one Chromium, started at the first :meth:`render`.

    ``executable``: the Chromium to use (None: :data:`DEFAULT_CHROMIUM`). ``timeout``: seconds
    allowed to one :meth:`render` (start of the browser included) unless it says otherwise.
    Close it (:meth:`close`, or use it as a context manager); a browser that timed out or
    crashed is closed and the next render starts a new one. A renderer belongs to the process
    that started its browser: in a forked child it starts a browser of its own.
    """

    def __init__(self, executable: Path | None = None, *, timeout: float = 60) -> None:
        self.executable = Path(executable) if executable else DEFAULT_CHROMIUM
        self.timeout = timeout
        self._pid: int | None = None
        self._runner: _LoopThread | None = None
        self._playwright: Any = None
        self._browser: Any = None
        self._lock = threading.RLock()  # one render (or close) at a time

    def __enter__(self) -> PdfRenderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def render(
        self, html_path: Path, pdf_path: Path, *, title: str, timeout: float | None = None
    ) -> PdfResult:
        """Print ``html_path`` (a self-contained report page) to ``pdf_path``, A4, with a footer
        "``title`` ... page N of M". Writes atomically: ``pdf_path`` is either the whole new PDF
        or left as it was. Returns a :class:`PdfResult`.

        Raises :class:`PdfUnavailable` (no playwright, no Chromium executable) and
        :class:`PdfError` (page missing, page error, timeout after ``timeout`` s, default
        :attr:`timeout`; renderer crashed; target not writable).
        """
        html_path, pdf_path = Path(html_path), Path(pdf_path)
        if not html_path.is_file():
            raise PdfError(f"cannot make {pdf_path.name}: no page at {html_path}")
        limit = self.timeout if timeout is None else timeout
        started = time.monotonic()
        with self._lock:
            data, blocked = self._render(html_path, pdf_path, title, limit)
        _write_atomically(pdf_path, data)
        return PdfResult(pdf_path, len(data), time.monotonic() - started, tuple(blocked))

    def _render(
        self, html_path: Path, pdf_path: Path, title: str, limit: float
    ) -> tuple[bytes, list[str]]:
        """The PDF's bytes and the refused URLs; every failure as a :class:`PdfError`."""
        self._own_process()
        try:
            if self._runner is None:
                self._runner = _LoopThread()
            return self._runner.run(self._print(html_path, title, limit), limit)
        except TimeoutError:
            self.close()
            raise PdfError(
                f"cannot make {pdf_path.name}: Chromium did not finish {html_path.name} "
                f"within {limit:g} s"
            ) from None
        except PdfUnavailable:
            raise
        except PdfError as exc:
            raise PdfError(f"cannot make {pdf_path.name}: {exc}") from None
        except Exception as exc:  # the browser died or Playwright failed: start anew next time
            self.close()
            raise PdfError(f"cannot make {pdf_path.name}: {_describe(exc)}") from exc

    def close(self) -> None:
        """Close the browser and its driver (bounded: a few seconds at most). Idempotent."""
        with self._lock:
            runner, playwright, browser = self._runner, self._playwright, self._browser
            self._runner = self._playwright = self._browser = None
            if runner is None or self._pid != os.getpid():
                return  # nothing started, or started by the parent of this forked process
            with contextlib.suppress(Exception):
                runner.run(_shut(playwright, browser), 10)
            runner.stop()

    def _own_process(self) -> None:
        """Forget a browser started by the parent of a forked process (it is the parent's)."""
        if self._pid != os.getpid():
            self._runner = self._playwright = self._browser = None
            self._pid = os.getpid()

    async def _launch(self) -> Any:
        """The running browser, started (with the driver) if needed."""
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        reason = _unavailable_reason(self.executable)
        if reason:
            raise PdfUnavailable(reason.replace("PDFs skipped", "cannot make PDFs", 1))
        from playwright.async_api import async_playwright

        if self._playwright is None:
            self._playwright = await async_playwright().start()
        try:
            self._browser = await self._playwright.chromium.launch(
                executable_path=str(self.executable), args=list(CHROMIUM_ARGS), headless=True
            )
        except Exception as exc:
            raise PdfError(
                f"Chromium at {self.executable} did not start: {_describe(exc)}"
            ) from exc
        return self._browser

    async def _print(self, html_path: Path, title: str, limit: float) -> tuple[bytes, list[str]]:
        """PDF bytes of ``html_path`` and the URLs refused while it loaded."""
        browser = await self._launch()
        context = await browser.new_context(java_script_enabled=True, service_workers="block")
        blocked: list[str] = []
        errors: list[str] = []

        async def _route(route: Any) -> None:
            url = route.request.url
            if url.startswith(("file:", "data:")):
                await route.continue_()
            else:
                blocked.append(url)
                await route.abort("blockedbyclient")

        try:
            await context.route("**/*", _route)
            page = await context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(html_path.resolve().as_uri(), wait_until="load", timeout=limit * 1000)
            await page.add_style_tag(content=PRINT_CSS)
            await page.evaluate("title => { document.title = title; }", title)
            if errors:
                refused = f"; {len(blocked)} requests off the machine refused" if blocked else ""
                raise PdfError(
                    f"the page {html_path.name} raised a script error: {errors[0]}{refused}"
                )
            data = await page.pdf(
                format="A4",
                margin=MARGINS,
                print_background=True,
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=_FOOTER.format(title=html.escape(title)),
                prefer_css_page_size=False,
                outline=True,
            )
        finally:
            with contextlib.suppress(Exception):
                await context.close()
        return data, blocked


async def _shut(playwright: Any, browser: Any) -> None:
    """Close ``browser`` and stop ``playwright`` (either may be None or already gone)."""
    if browser is not None:
        with contextlib.suppress(Exception):
            await browser.close()
    if playwright is not None:
        await playwright.stop()


def _describe(exc: BaseException) -> str:
    """One line for a Playwright error: "renderer crashed" when it did, else its first line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "crash" in text.lower():
        return f"the renderer crashed ({text})"
    if "closed" in text.lower() or "disconnected" in text.lower():
        return f"the browser went away ({text})"
    return text


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it; never a half file.
    Raises :class:`PdfError` when ``path`` cannot be written."""
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o644)  # a page of the site, readable by its web server
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise PdfError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def render_pdf(
    html_path: Path,
    pdf_path: Path,
    *,
    title: str,
    executable: Path | None = None,
    timeout: float = 60,
) -> PdfResult:
    """Print one page with a browser of its own (started and closed here); see
    :meth:`PdfRenderer.render` for the result and the errors. For many pages, reuse a
    :class:`PdfRenderer` (or :func:`process_renderer` in a worker process)."""
    with PdfRenderer(executable, timeout=timeout) as renderer:
        return renderer.render(html_path, pdf_path, title=title)


_PROCESS_RENDERERS: dict[tuple[int, Path], PdfRenderer] = {}
_PROCESS_LOCK = threading.Lock()


def _close_process_renderers() -> None:
    with _PROCESS_LOCK:
        mine = [r for (pid, _), r in _PROCESS_RENDERERS.items() if pid == os.getpid()]
        _PROCESS_RENDERERS.clear()
    for renderer in mine:
        renderer.close()


def process_renderer(executable: Path | None = None, *, timeout: float = 60) -> PdfRenderer:
    """The :class:`PdfRenderer` of this process for ``executable``, made at the first call.

    For worker processes (``ProcessPoolExecutor``, forked or spawned): each process gets its own
    browser at its first render, and closes it when the process ends (normal exit, or a
    multiprocessing worker's shutdown). Callers need not close it; closing it early is allowed
    (the next call starts a new browser).
    """
    key = (os.getpid(), Path(executable) if executable else DEFAULT_CHROMIUM)
    with _PROCESS_LOCK:
        renderer = _PROCESS_RENDERERS.get(key)
        if renderer is None:
            if not any(pid == key[0] for pid, _ in _PROCESS_RENDERERS):
                # atexit for a plain process; Finalize for a multiprocessing worker, which
                # leaves through os._exit and runs no atexit handler.
                atexit.register(_close_process_renderers)
                multiprocessing.util.Finalize(None, _close_process_renderers, exitpriority=10)
            renderer = _PROCESS_RENDERERS[key] = PdfRenderer(key[1], timeout=timeout)
    renderer.timeout = timeout
    return renderer
