"""A build killed or interrupted mid-run: the published site stays intact and openable.

``roundup build`` runs in its own session on a plan of two slow synthetic reports; once both
kernels are inside their slow cell (each writes its pid to a marker file), the build is sent
SIGKILL (a crash: nothing can clean up) or a Ctrl-C (SIGINT to its whole process group). The
previously published good reports must be byte-identical, no temporary folder may show as a
report, every kernel must be gone, and the next build must succeed.
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from analysis.reports import build as building
from analysis.reports import plan as planning

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROUNDUP = str(Path(sys.executable).parent / "roundup")
NAMES = ("slow-a", "slow-b")
PARAMS = "seconds = 0\nmarker = ''"
CELLS = [
    "import os, pathlib, time\n"
    "if marker:\n"
    "    pathlib.Path(marker).write_text(str(os.getpid()))\n"
    "time.sleep(seconds)\n"
    "print('slept', seconds)"
]


@dataclass
class GoodSite:
    root: Path
    out: Path
    data: Path
    reports: list[planning.Report]


@pytest.fixture(scope="module")
def good_site(tmp_path_factory, notebook_writer, tiny_package_writer) -> GoodSite:
    """Two quick reports, built and published once."""
    root = tmp_path_factory.mktemp("interrupt")
    notebook = notebook_writer(root / "notebooks" / "slow.ipynb", PARAMS, CELLS)
    data = tiny_package_writer(root / "data", ["Alpha"])
    reports = [planning.Report(name, notebook, {}, notebook.parent) for name in NAMES]
    summary = building.build(reports, root / "site", jobs=2, data_dir=data)
    assert summary.counts()["ok"] == 2
    return GoodSite(root, root / "site", data, reports)


def _snapshot(out: Path) -> dict[str, bytes]:
    """Every published file readers can open, by path (links followed), plus the links."""
    files = {"index.json": (out / "index.json").read_bytes()}
    for name in NAMES:
        for file in ("index.html", "run.json", f"{name}.ipynb"):
            files[f"{name}/{file}"] = (out / name / file).read_bytes()
        files[f"{name}/latest"] = os.readlink(out / name / "latest").encode()
    return files


class _Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def _openable(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    parser = _Page()
    parser.feed(text)
    assert {"html", "head", "body", "header", "main"} <= set(parser.tags), page
    assert text.rstrip().endswith("</html>"), page


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # a zombie runs nothing


def _start_slow_build(root: Path, out: Path, data: Path) -> tuple[subprocess.Popen, list[int]]:
    """Start a build whose two reports sleep 60 s; return it with its two kernels' pids."""
    plan = root / "slow.toml"
    markers = [root / f"marker-{name}" for name in NAMES]
    for marker in markers:
        marker.unlink(missing_ok=True)
    plan.write_text(
        'notebooks = "notebooks"\n'
        + "".join(
            f'[[report]]\nname = "{name}"\nnotebook = "slow.ipynb"\n'
            f'parameters = {{seconds = 60, marker = "{marker}"}}\n'
            for name, marker in zip(NAMES, markers, strict=True)
        ),
        encoding="utf-8",
    )
    log = open(root / "build.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [ROUNDUP, "build", "--plan", str(plan), "--out", str(out), "--data", str(data), "-j", "2"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, like a job started from a shell
    )
    log.close()
    deadline = time.monotonic() + 60
    while not all(m.is_file() and m.read_text() for m in markers):
        assert process.poll() is None, (root / "build.log").read_text()
        assert time.monotonic() < deadline, "the slow reports never started"
        time.sleep(0.1)
    return process, [int(m.read_text()) for m in markers]


def _assert_intact(out: Path, before: dict[str, bytes]) -> None:
    assert _snapshot(out) == before
    for name in NAMES:
        _openable(out / name / "index.html")
        assert len(list((out / name / "runs").iterdir())) == 1  # no partial run moved in
    visible = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert visible == sorted(NAMES)
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert sorted(e["name"] for e in index["reports"]) == sorted(NAMES)


def _assert_kernels_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"kernels still running: {pids}"
        time.sleep(0.1)


def _next_build_succeeds(good: GoodSite, out: Path) -> None:
    summary = building.build(good.reports, out, jobs=2, data_dir=good.data, force=True)
    assert summary.counts() == {"ok": 2, "failed": 0, "skipped": 0}
    assert not (out / ".tmp").exists()
    for name in NAMES:
        assert len(list((out / name / "runs").iterdir())) == 2
        _openable(out / name / "index.html")


def test_sigkill_mid_build_leaves_the_site_intact(good_site, tmp_path):
    out = tmp_path / "site"
    shutil.copytree(good_site.out, out, symlinks=True)
    before = _snapshot(out)
    process, kernels = _start_slow_build(good_site.root, out, good_site.data)
    assert (out / ".tmp").is_dir()  # the runs are being written aside
    process.kill()
    process.wait(timeout=10)

    _assert_intact(out, before)
    _assert_kernels_gone(kernels)  # the workers saw their caller die and stopped
    assert (out / ".tmp").is_dir()  # nothing could clean up; hidden, and not a report
    _next_build_succeeds(good_site, out)
    assert "cut short" in (out / "index.html").read_text(encoding="utf-8")


def test_ctrl_c_stops_the_build_cleanly(good_site, tmp_path):
    out = tmp_path / "site"
    shutil.copytree(good_site.out, out, symlinks=True)
    before = _snapshot(out)
    process, kernels = _start_slow_build(good_site.root, out, good_site.data)
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
    assert process.wait(timeout=20) == 130
    assert time.monotonic() - started < 10
    log = (good_site.root / "build.log").read_text()
    assert "interrupted (SIGINT)" in log and "previous reports" in log
    assert "Traceback" not in log

    _assert_intact(out, before)
    _assert_kernels_gone(kernels)
    assert not (out / ".tmp").exists()  # staging removed
    _next_build_succeeds(good_site, out)
    assert "cut short" not in (out / "index.html").read_text(encoding="utf-8")
