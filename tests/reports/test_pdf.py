"""analysis.reports.pdf: a real report page printed by the system Chromium, read back with pypdf.

The page is the roundup notebook's stored outputs (nbval keeps them in notebooks/) exported with
the project's report template, as the runner does; no kernel runs. Tests marked ``browser`` are
skipped, with one line, when /usr/bin/chromium is missing (tests/conftest.py).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import time
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import pytest
from browser_util import CHROMIUM
from pypdf import PdfReader

from analysis import paths
from analysis.errors import RoundupError
from analysis.reports import pdf
from analysis.reports.pdf import (
    HOW_TO,
    PdfError,
    PdfRenderer,
    PdfUnavailable,
    find_chromium,
    pdf_available,
    process_renderer,
    render_pdf,
)

TITLE = "China tech roundup, July 2021"
#: The notebook's first heading, as the page shows it.
HEADING = "China tech roundup — data security and"
A4 = (595, 842)  # points


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The roundup report's page: notebooks/01-roundup.ipynb's stored outputs, exported with
    analysis/templates/report.html.j2 (inputs hidden, images embedded)."""
    from nbconvert import HTMLExporter

    nb = nbformat.read(paths.PROJECT_ROOT / "notebooks" / "01-roundup.ipynb", as_version=4)
    exporter = HTMLExporter(
        template_name="lab",
        template_file="report.html.j2",
        extra_template_paths=[str(paths.PROJECT_ROOT / "analysis" / "templates")],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        mathjax_url="",
        require_js_url="",
    )
    header = {
        "name": "roundup",
        "parameters": {},
        "notebook": "01-roundup.ipynb",
        "finished": "2026-12-02 10:00 UTC",
        "status": "ok",
        "pdf": "roundup.pdf",
    }
    body, _ = exporter.from_notebook_node(nb, resources={"roundup": header})
    page = tmp_path_factory.mktemp("page") / "roundup.html"
    page.write_text(body, encoding="utf-8")
    return page


@pytest.fixture(scope="module")
def renderer() -> PdfRenderer:
    """One browser for the module's tests, as a build uses one for its reports."""
    with PdfRenderer(CHROMIUM, timeout=90) as shared:
        yield shared


def _page(tmp_path: Path, body: str, name: str = "page.html") -> Path:
    page = tmp_path / name
    page.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{body}</body></html>"
    )
    return page


def _text(reader: PdfReader) -> list[str]:
    """Each page's text, ligatures (the PDF's "ﬁ") spelled out."""
    return [unicodedata.normalize("NFKC", page.extract_text()) for page in reader.pages]


# ------------------------------------------------------------------------------- the PDF


@pytest.mark.browser
@pytest.mark.slow
def test_report_pdf_is_a4_with_title_charts_tables_and_page_numbers(
    report_html: Path, renderer: PdfRenderer, tmp_path: Path
):
    target = tmp_path / "site" / "roundup.pdf"
    result = renderer.render(report_html, target, title=TITLE)

    assert result.path == target and result.size == target.stat().st_size > 10_000
    assert result.blocked == ()  # the page is self-contained: no request left the machine
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    reader = PdfReader(target)
    assert reader.metadata.title == TITLE
    pages = len(reader.pages)
    assert pages >= 2
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - A4[0]) <= 1 and abs(height - A4[1]) <= 1, (width, height)
    texts = _text(reader)
    whole = "\n".join(texts)
    assert HEADING in whole
    assert "Key figures" in whole and "Sources: " in whole  # tables and their source notes
    assert sum(len(page.images) for page in reader.pages) >= 1  # the charts
    for number, text in enumerate(texts, start=1):
        assert f"page {number} of {pages}" in text, text[-200:]
        assert TITLE in text  # the footer names the report on every page
    assert "1 of" in texts[0]
    assert "from analysis import" not in whole  # code inputs stay hidden, as on the page
    assert "as_of =" not in whole  # the parameters cell is not shown
    # The page links its PDF; the PDF itself does not.
    assert '<a href="roundup.pdf">PDF</a>' in report_html.read_text()
    assert "PDF" not in texts[0].split(HEADING)[0]


@pytest.mark.browser
def test_offline_requests_are_refused_and_listed(renderer: PdfRenderer, tmp_path: Path):
    page = _page(
        tmp_path,
        '<link rel="stylesheet" href="https://cdn.example.org/style.css">'
        '<p>Offline page</p><img src="http://example.com/chart.png" alt="remote chart">'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="inline">',
    )
    result = renderer.render(page, tmp_path / "offline.pdf", title="Roundup <Jul> & more")

    assert sorted(result.blocked) == [
        "http://example.com/chart.png",
        "https://cdn.example.org/style.css",
    ]
    text = _text(PdfReader(result.path))[0]
    assert "Offline page" in text
    assert "Roundup <Jul> & more" in text  # the footer's title is escaped, shown as written


@pytest.mark.browser
@pytest.mark.slow
def test_a_fresh_browser_per_pdf_and_one_per_worker_process(tmp_path: Path):
    page = _page(tmp_path, "<h1>Small report</h1>")
    result = render_pdf(page, tmp_path / "one.pdf", title="small", executable=CHROMIUM)
    assert "Small report" in _text(PdfReader(result.path))[0]

    # The runner's workers come from a fork server (analysis.reports.executors).
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        runs = [pool.submit(_render_in_worker, page, tmp_path / f"w{i}.pdf") for i in range(2)]
        (pid, first), (again, helpers) = [future.result(timeout=180) for future in runs]
    assert pid == again != os.getpid()
    assert first == helpers != []  # one browser (driver) served both reports
    assert all("Small report" in _text(PdfReader(tmp_path / f"w{i}.pdf"))[0] for i in range(2))
    # The worker closed its browser when it ended.
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in helpers)


def _children() -> list[int]:
    """This process's child processes (Linux /proc)."""
    found = []
    for task in Path("/proc/self/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return sorted(found)


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _render_in_worker(html: Path, target: Path) -> tuple[int, list[int]]:
    renderer = process_renderer(CHROMIUM)
    assert process_renderer(CHROMIUM) is renderer
    renderer.render(html, target, title="small")
    return os.getpid(), _children()


# ------------------------------------------------------------------------------- errors


def test_missing_chromium_is_unavailable_with_a_how_to(tmp_path: Path):
    missing = tmp_path / "no-chromium"
    ok, line = pdf_available(missing)
    assert not ok and str(missing) in line and HOW_TO in line and "\n" not in line
    page = _page(tmp_path, "<p>x</p>")
    with pytest.raises(PdfUnavailable, match="apt-get install chromium") as caught:
        render_pdf(page, tmp_path / "x.pdf", title="x", executable=missing)
    assert isinstance(caught.value, PdfError) and isinstance(caught.value, RoundupError)
    assert "ROUNDUP_CHROMIUM" in str(caught.value)
    assert not (tmp_path / "x.pdf").exists()


def test_missing_playwright_is_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    real = pdf.importlib.util.find_spec
    monkeypatch.setattr(
        pdf.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "playwright" else real(name, *a),
    )
    ok, line = pdf_available(CHROMIUM)
    assert not ok and "playwright" in line and HOW_TO in line
    with pytest.raises(PdfUnavailable, match="playwright"):
        render_pdf(_page(tmp_path, "<p>x</p>"), tmp_path / "x.pdf", title="x", executable=CHROMIUM)


@pytest.mark.browser
def test_available_names_the_executable():
    assert pdf_available(CHROMIUM) == (True, f"PDFs made with Chromium at {CHROMIUM}")


def test_find_chromium_reads_the_override_then_path(tmp_path: Path):
    assert find_chromium({"ROUNDUP_CHROMIUM": "/opt/chrome/chrome"}) == Path("/opt/chrome/chrome")
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_chromium({"PATH": str(tmp_path)}) == fake
    default = pdf.DEFAULT_CHROMIUM if pdf.DEFAULT_CHROMIUM.is_file() else None
    assert find_chromium({"PATH": str(tmp_path / "empty")}) == default


def test_missing_page_is_an_error(tmp_path: Path):
    with pytest.raises(PdfError, match="no page at .*absent.html"):
        PdfRenderer(CHROMIUM).render(tmp_path / "absent.html", tmp_path / "x.pdf", title="x")


@pytest.mark.browser
def test_timeout_is_an_error_and_keeps_the_last_pdf(
    report_html: Path, renderer: PdfRenderer, tmp_path: Path
):
    target = tmp_path / "report.pdf"
    target.write_bytes(b"%PDF-1.4 last good")
    hang = _page(tmp_path, "<p>x</p><script>while (true) {}</script>", "hang.html")
    with pytest.raises(PdfError, match=r"did not finish hang\.html within 3 s"):
        renderer.render(hang, target, title="x", timeout=3)
    assert target.read_bytes() == b"%PDF-1.4 last good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hang.html", "report.pdf"]
    # The renderer starts a new browser and goes on.
    renderer.render(report_html, target, title=TITLE)
    assert len(PdfReader(target).pages) >= 2


@pytest.mark.browser
def test_script_error_is_an_error(renderer: PdfRenderer, tmp_path: Path):
    page = _page(tmp_path, "<p>x</p><script>throw new Error('chart failed')</script>")
    with pytest.raises(PdfError, match="script error: .*chart failed"):
        renderer.render(page, tmp_path / "x.pdf", title="x")
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.browser
@pytest.mark.parametrize("target_kind", ["directory", "under a file"])
def test_unwritable_target_is_an_error_and_leaves_no_file(
    renderer: PdfRenderer, tmp_path: Path, target_kind: str
):
    page = _page(tmp_path, "<p>x</p>")
    out = tmp_path / "out"
    out.mkdir()
    if target_kind == "directory":  # os.replace cannot put a file over a folder (even as root)
        target = out / "report.pdf"
        target.mkdir()
    else:
        (out / "site").write_text("a file, not a folder")
        target = out / "site" / "report.pdf"
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    with pytest.raises(PdfError, match=re.escape(f"cannot write {target}")):
        renderer.render(page, target, title="x")
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # no temporary left


def test_errors_say_what_happened():
    assert "renderer crashed" in pdf._describe(RuntimeError("Page crashed\nlog: ..."))
    assert "browser went away" in pdf._describe(
        RuntimeError("Target page, context or browser has been closed")
    )
    assert pdf._describe(RuntimeError("")) == "RuntimeError"
