"""End to end: `roundup build` on the real plan and data, then the site in a real browser.

The site is built once per session (12 reports on 2 workers, about 20 s) by the command a user
runs; the browser tests (marker ``browser``) open it over file:// with the network blocked.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from analysis import paths
from analysis.reports import plan as planning

ARTIFACTS = paths.PROJECT_ROOT / "tests" / "artifacts"
ROUNDUP = [str(Path(sys.executable).parent / "roundup")]  # the installed console script


def _roundup(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [*ROUNDUP, *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
        cwd="/",  # relative paths must resolve wherever the command is launched from
    )


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = _roundup("build", "--out", str(out), "-j", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _chart_cells(notebook: Path) -> int:
    nb = nbformat.read(notebook, as_version=4)
    return sum("chart" in c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code")


@pytest.mark.e2e
def test_every_report_of_the_plan_is_built_with_its_charts(site):
    plan = planning.load_plan()
    index = json.loads((site / "index.json").read_text())
    assert [r["name"] for r in index["reports"]] == [r.name for r in plan]
    assert {r["status"] for r in index["reports"]} == {"ok"}
    for report in plan:
        page = (site / report.name / "index.html").read_text(encoding="utf-8")
        images = re.findall(r'<img alt="([^"]*)"\s+src="data:image/png;base64,', page)
        assert len(images) >= _chart_cells(report.notebook) >= 1, report.name
        assert all(alt.startswith("Chart: ") for alt in images), images
        assert "Traceback" not in page, report.name
        assert 'data-mime-type="application/vnd.jupyter.stderr"' not in page, report.name
        assert '<script src="http' not in page and "cdn.jsdelivr" not in page
        run = json.loads((site / report.name / "run.json").read_text())
        assert run["status"] == "ok" and run["parameters"] == report.parameters
        assert (site / report.name / f"{report.name}.ipynb").is_file()
    assert "company-didi" in [r.name for r in plan]


@pytest.mark.e2e
def test_reports_hide_code_and_show_figures_with_qualifiers(site):
    page = (site / "roundup" / "index.html").read_text(encoding="utf-8")
    assert "from analysis import" not in page  # inputs hidden
    for text in ("≥ 3.0B downloads", "~500M users", "$460M", "17.2%", "2 Jul 2021"):
        assert text in page
    assert "Sensor Tower via TechCrunch, Jul 2021" in page  # among release 2's sources


@pytest.mark.e2e
def test_data_dictionary_page(site):
    page = (site / "datasets.html").read_text(encoding="utf-8")
    for name in ("funding_rounds", "amount_usd", "USD", "stake_pct", "percent", "tc-2021-07"):
        assert name in page
    assert 'href="datasets.html"' in (site / "index.html").read_text(encoding="utf-8")


@pytest.mark.e2e
def test_no_change_rebuild_starts_no_kernel(site, tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    result = _roundup("build", "--out", str(copy), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    # every report of the plan (it grows with the companies in the data)
    assert summary["counts"] == {"ok": 0, "failed": 0, "skipped": len(planning.load_plan())}
    assert {e["status"] for e in summary["reports"]} == {"skipped"}
    # the build page lists both builds, newest first
    first = json.loads((site / "index.json").read_text(encoding="utf-8"))["build"]
    history = json.loads((copy / "index.json").read_text(encoding="utf-8"))["builds"]
    assert [b["id"] for b in history] == [summary["build_id"], first["id"]]
    page = (copy / "build.html").read_text(encoding="utf-8")
    assert "Recent builds" in page and f"<code>{first['id']}</code>" in page
    # and it stays light: no kernel, and not even the libraries a report needs are imported
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "analysis.cli", "build", "--out", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert traced.returncode == 0, traced.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in traced.stderr.splitlines() if "|" in line}
    assert not {"pandas", "papermill", "nbformat", "jupyter_client", "matplotlib"} & imported
    # nor the job runner and its worker pool, pydantic (typer >= 0.29) or the progress bar
    unneeded = {"analysis.reports.job", "concurrent.futures.process", "pydantic", "rich.progress"}
    assert not unneeded & imported, unneeded & imported


def test_fork_kernel_name_is_shared():
    from analysis.reports import kernels, options

    assert options.FORK_KERNEL == kernels.KERNEL_NAME


# ----------------------------------------------------------------- in a real browser


@pytest.fixture
def browser_page():
    from browser_util import block_network, launch
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        blocked = block_network(context)
        page = context.new_page()
        errors: list[str] = []
        dialogs: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        def on_dialog(dialog):
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        yield page, blocked, errors, dialogs
        browser.close()


def _images_decoded(page) -> list[int]:
    return page.eval_on_selector_all("img", "els => els.map(e => e.complete ? e.naturalWidth : 0)")


def _overflows(page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth > document.documentElement.clientWidth + 1"
    )


def _every_link_opens(page, site: Path) -> None:
    """Every link of the page opens: pages load with a title, files (data.zip, .ipynb) exist
    in the site; the page is reloaded afterwards."""
    from urllib.parse import unquote, urlsplit

    here = page.url
    links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    assert links, here
    for href in sorted(set(links)):
        parts = urlsplit(href)
        if parts.scheme != "file" or (parts.path == urlsplit(here).path and parts.fragment):
            continue  # in-page anchors; web addresses of sources are not opened offline
        target = Path(unquote(parts.path))
        assert target.exists() and target.resolve().is_relative_to(site.resolve()), href
        if target.suffix == ".html":
            page.goto(href)
            assert page.title(), href
    page.goto(here)


@pytest.mark.browser
@pytest.mark.e2e
def test_site_in_a_browser_offline(site, browser_page):
    page, blocked, errors, dialogs = browser_page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    index = (site / "index.html").as_uri()
    page.goto(index)
    links = page.eval_on_selector_all(".report a.title", "els => els.map(e => e.href)")
    assert len(links) == len(planning.load_plan())
    pdfs = page.eval_on_selector_all(".report a.pdf", "els => els.map(e => e.getAttribute('href'))")
    assert len(pdfs) == len(links)  # Chromium is here, so `roundup build` made every PDF
    assert all((site / href).read_bytes().startswith(b"%PDF-") for href in pdfs)
    page.screenshot(path=str(ARTIFACTS / "site-index-1280.png"), full_page=True)
    assert not _overflows(page)
    for href in links:
        page.goto(href)
        assert page.title(), href
        widths = _images_decoded(page)
        assert widths and all(w > 0 for w in widths), href
        # text is selectable: a reader can copy a figure out of the report
        selected = page.evaluate(
            """() => { const el = document.querySelector('table td') || document.querySelector('p');
                       const r = document.createRange(); r.selectNodeContents(el);
                       const s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
                       return s.toString(); }"""
        )
        assert selected.strip(), href
        assert page.evaluate("getComputedStyle(document.body).userSelect") != "none"
        if href.endswith("/roundup/index.html"):
            page.screenshot(path=str(ARTIFACTS / "site-report-roundup-1280.png"))
    page.goto((site / "datasets.html").as_uri())
    assert "amount_usd" in page.inner_text("body")
    page.set_viewport_size({"width": 390, "height": 844})
    pages = ("index.html", "roundup/index.html", "app-downloads/index.html", "build.html",
             "changes.html")  # fmt: skip
    for target in (site / p for p in pages):
        page.goto(target.as_uri())
        assert not _overflows(page), f"horizontal scroll at 390 px: {target}"
        _every_link_opens(page, site)
    page.goto(index)
    page.screenshot(path=str(ARTIFACTS / "site-index-390.png"), full_page=True)
    page.goto((site / "company-didi" / "index.html").as_uri())
    page.screenshot(path=str(ARTIFACTS / "site-report-didi-390.png"), full_page=False)
    assert blocked == [], f"requests tried to leave the machine: {blocked[:5]}"
    assert errors == [], errors[:5]
    assert dialogs == []


HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_NOTE = "<img src=x onerror=alert(2)>"


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site built from a data package whose company name and note carry HTML."""
    base = tmp_path_factory.mktemp("hostile")
    data = base / "data"
    shutil.copytree(paths.PROJECT_ROOT / "data", data)
    with open(data / "companies.csv", "a", encoding="utf-8") as fh:
        fh.write(f'"{HOSTILE_NAME}",,,,company,"{HOSTILE_NOTE}",tc-2021-07\n')
    with open(data / "listings.csv", "a", encoding="utf-8") as fh:
        fh.write(
            f'hostile-listing,"{HOSTILE_NAME}",New York,true,planned,,,,,,,,2021-07,tc-2021-07,'
            f'"{HOSTILE_NOTE}"\n'
        )
    with open(data / "user_bases.csv", "a", encoding="utf-8") as fh:
        fh.write(
            f'hostile-users,"{HOSTILE_NAME}",App,annual_users,2000000,exact,2 million users,'
            f"2021-07,nbcchicago-cnbc-disruptor50-2021-didi,"  # a source with no local copy
            f'"{HOSTILE_NOTE}"\n'
        )
    plan = base / "plan.toml"
    notebooks = paths.notebooks_dir()
    plan.write_text(
        f'notebooks = "{notebooks}"\n'
        '[[report]]\nname = "roundup"\nnotebook = "01-roundup.ipynb"\nparameters = {}\n'
        '[[report]]\nname = "company-{company}"\nnotebook = "02-company-profile.ipynb"\n'
        f"parameters = {{}}\n[report.grid]\ncompany = [{json.dumps(HOSTILE_NAME)}]\n",
        encoding="utf-8",
    )
    out = base / "site"
    result = _roundup("build", "--plan", str(plan), "--data", str(data), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.e2e
def test_html_in_the_data_is_escaped_in_every_page(hostile_site):
    pages = sorted(hostile_site.glob("*/index.html")) + [hostile_site / "index.html"]
    assert len(pages) == 3
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<script>alert(1)</script>" not in text, page
        assert "<img src=x onerror" not in text and '<img src="x"' not in text, page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text, page


@pytest.mark.browser
@pytest.mark.e2e
def test_html_in_the_data_shows_as_text_and_never_runs(hostile_site, browser_page):
    page, blocked, errors, dialogs = browser_page
    pages = sorted(hostile_site.glob("*/index.html")) + [hostile_site / "index.html"]
    for path in pages:
        page.goto(path.as_uri())
        body = page.inner_text("body")
        assert HOSTILE_NAME in body, path
        assert page.locator('img[src="x"]').count() == 0
    profile = next(p for p in pages if p.parent.name.startswith("company-"))
    page.goto(profile.as_uri())
    assert HOSTILE_NOTE in page.inner_text("body")
    assert dialogs == [], f"script ran: {dialogs}"
    assert blocked == []
