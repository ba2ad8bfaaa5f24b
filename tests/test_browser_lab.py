"""In a real browser: JupyterLab runs the company profile notebook and its explorer works.

Starts ``jupyter lab`` from this venv on a free localhost port (random token, no news, no update
check, private Jupyter config/data/runtime folders) with a temporary folder as its root holding an
output-free copy of ``notebooks/02-company-profile.ipynb``, so the repository is never touched.
Then Chromium, driven by Playwright and kept off the network, opens the notebook, runs every cell
through the Run menu, and checks the profile table, the chart, the company dropdown and the
as-of date picker (which only exist in a live front end), that choosing another company
re-renders the profile, and that an earlier date re-renders it with only what was known then.

Run with ``pytest -p no:nbval -o addopts="" -m browser tests/test_browser_lab.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from browser_util import block_network, launch

from analysis import paths

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

NOTEBOOK = "02-company-profile.ipynb"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCREENSHOT = ARTIFACTS / "jupyterlab-profile.png"
WAIT_S = 60  # upper bound for any single wait; the whole test normally takes ~10 s
WAIT_MS = WAIT_S * 1000

# Errors: JupyterLab 4 renders an ``error`` output as text under the stderr MIME type (the
# model also carries ``application/vnd.jupyter.error``, which has no renderer); check both.
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
ERROR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path
    proc: subprocess.Popen


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(log: Path, n: int = 40) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no server log)"
    return "\n".join(lines[-n:])


def _clean_copy(src: Path, dest: Path) -> None:
    """Copy a notebook without its stored outputs, so everything checked was made live."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _wait_for_server(lab: Lab) -> None:
    status = f"{lab.url}/api/status?token={lab.token}"
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if lab.proc.poll() is not None:
            pytest.fail(f"jupyter lab exited ({lab.proc.returncode}):\n{_log_tail(lab.log)}")
        try:
            with urllib.request.urlopen(status, timeout=2) as r:
                if r.status == 200 and "started" in json.load(r):
                    return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.2)  # polling interval, bounded by the deadline
    pytest.fail(f"jupyter lab did not answer within {WAIT_S} s:\n{_log_tail(lab.log)}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server (it shuts its kernels down), then make sure nothing it started lives."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    _, alive = psutil.wait_procs(family, timeout=10)
    for p in alive:  # kernels live in their own sessions: kill survivors by pid
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=10)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    root = tmp_path / "root"
    root.mkdir()
    _clean_copy(paths.notebooks_dir() / NOTEBOOK, root / NOTEBOOK)
    home = tmp_path / "jupyter"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JPY_", "JUPYTER"))}
    env.update(
        ROUNDUP_DATA_DIR=str(paths.PROJECT_ROOT / "data"),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
        IPYTHONDIR=str(home / "ipython"),
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    # No "get official Jupyter news?" toast over the notebook, no update check from the page.
    notification = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8"
    )
    port, token = _free_port(), secrets.token_hex(24)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        "--KernelManager.shutdown_wait_time=3",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI often run as root
    log = tmp_path / "jupyterlab.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log, proc)
    try:
        _wait_for_server(lab)
        yield lab
    finally:
        _stop(proc)


def test_profile_notebook_runs_in_jupyterlab(lab: Lab) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    original = (paths.notebooks_dir() / NOTEBOOK).read_bytes()
    n_code = sum(c["cell_type"] == "code" for c in json.loads(original)["cells"])
    page_errors: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            blocked = block_network(context)
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.on("pageerror", lambda e: page_errors.append(str(e)))

            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
            notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
            expect(notebook).to_be_visible()
            # Loaded (every code cell there) and its kernel started, connected and idle: the
            # toolbar indicator says "idle" before the notebook is even loaded, so wait for the
            # status bar's "Python 3 (ipykernel) | Idle" too.
            prompts = notebook.locator(".jp-CodeCell .jp-InputArea-prompt")
            expect(prompts).to_have_count(n_code)
            kernel = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\|\s*Idle$"))
            expect(kernel).to_be_visible()
            indicator = page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator")
            expect(indicator).to_have_attribute("data-status", "idle")

            # Run → Run All Cells, through the menu bar like a reader would.
            page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-item", has_text=re.compile(r"^Run All Cells")).click()

            # Every code cell numbered, none pending, kernel idle again.
            page.wait_for_function(
                """(n) => {
                    const ps = [...document.querySelectorAll(
                        '.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')];
                    return ps.length === n && ps.every(p => /\\[\\d+\\]/.test(p.textContent));
                }""",
                arg=n_code,
                timeout=WAIT_MS,
            )
            expect(indicator).to_have_attribute("data-status", "idle")

            # The profile table of the parameter company (Didi).
            cell_tables = notebook.locator(".jp-Cell-outputArea .jp-OutputArea-output table")
            expect(cell_tables.filter(has_text="Didi").first).to_be_attached()

            # The chart: a decoded PNG.
            chart = notebook.locator(".jp-OutputArea-output img").first
            expect(chart).to_be_attached()
            page.wait_for_function(
                "(img) => img.complete && img.naturalWidth > 0", arg=chart.element_handle()
            )

            # The explorer: a dropdown above an output holding the profile; choose another company.
            explorer = notebook.locator(".widget-vbox").filter(has=page.locator(".widget-dropdown"))
            expect(explorer).to_have_count(1)
            explorer.scroll_into_view_if_needed()
            select = explorer.locator(".widget-dropdown select")
            expect(select).to_be_visible()
            expect(select).to_have_value("Didi")
            output = explorer.locator(".widget-output")
            expect(output.locator("table").filter(has_text="Didi").first).to_be_attached()

            select.select_option("Banma")
            expect(output.locator("table").filter(has_text="Banma").first).to_be_attached()
            expect(output.locator("table").filter(has_text="Didi")).to_have_count(0)
            widget_chart = output.locator(".jp-OutputArea-output img").first
            expect(widget_chart).to_be_attached()
            page.wait_for_function(
                "(img) => img.complete && img.naturalWidth > 0", arg=widget_chart.element_handle()
            )
            expect(indicator).to_have_attribute("data-status", "idle")

            # The as-of date: what was known then. On 31 Jul 2021 Banma's user base (Jul 2021)
            # backs a figure; on 30 Jun 2020 only its 2018 valuation was known.
            backing = output.locator("table").filter(has_text="Figures and their sources")
            expect(backing.filter(has_text="Users supported")).to_have_count(1)
            date = explorer.locator("input[type=date]")
            expect(date).to_have_value("2021-07-31")
            date.fill("2020-06-30")
            date.dispatch_event("change")
            expect(backing.filter(has_text="Users supported")).to_have_count(0)
            expect(backing.filter(has_text="Valuation")).to_have_count(1)
            expect(output.locator("table").filter(has_text="Banma").first).to_be_attached()
            expect(indicator).to_have_attribute("data-status", "idle")

            # No error anywhere, in the cells or in the widget's output.
            errors = page.locator(ERROR)
            tracebacks = page.locator(STDERR).filter(has_text="Traceback")
            assert errors.count() == 0, errors.all_inner_texts()
            assert tracebacks.count() == 0, tracebacks.all_inner_texts()

            ARTIFACTS.mkdir(exist_ok=True)
            select.scroll_into_view_if_needed()
            page.screenshot(path=SCREENSHOT)

            assert page_errors == [], page_errors
            assert blocked == [], f"requests tried to leave the machine: {blocked}"
        except Exception:
            with contextlib.suppress(Exception):  # what the page looked like when it failed
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=ARTIFACTS / "jupyterlab-profile-failure.png")
            raise
        finally:
            browser.close()

    assert SCREENSHOT.stat().st_size > 10_000
    assert (paths.notebooks_dir() / NOTEBOOK).read_bytes() == original, "the repo notebook changed"
