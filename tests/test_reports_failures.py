"""Reports that fail hard: a dying kernel, a runaway output, a report that never ends.

Each must end that report alone as failed, with the reason in run.json and an error banner at
the top of its HTML, while the build goes on. The module-scoped ``failing_site`` build runs
four synthetic reports on two workers (about 6 s); the output flood runs in a subprocess so
its peak memory can be measured.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from analysis.reports import build as building
from analysis.reports import plan as planning
from analysis.reports.options import DEFAULT_MAX_OUTPUT

pytestmark = pytest.mark.e2e

REPORT_TIMEOUT = 4  # seconds, for the whole failing_site build
MAX_OUTPUT = 1024 * 1024  # characters, for the whole failing_site build

NOTEBOOKS = {
    "dead": ["print('before the crash')", "import os\nos._exit(1)", "print('never printed')"],
    # 30 cells of 0.4 s: each well under the per-cell timeout, 12 s in all
    "endless": ["import time"] + [f"time.sleep(0.4)\nprint('cell {i}')" for i in range(30)],
    # sends 5 MB but keeps only the last 100 kB: cleared output does not count
    "cleared": [
        "from IPython.display import clear_output\n"
        "for i in range(50):\n"
        "    clear_output(wait=True)\n"
        "    print(str(i) * 100_000)"
    ],
    "fine": ["print('all good')"],
}


@dataclass
class FailingSite:
    out: Path
    summary: building.BuildSummary

    def record(self, name: str) -> dict:
        entry = next(e for e in self.summary.entries if e["name"] == name)
        folder = self.out / name / "runs" / entry["run_id"]
        return json.loads((folder / "run.json").read_text(encoding="utf-8"))

    def run_dir(self, name: str) -> Path:
        return self.out / name / "runs" / self.record(name)["run_id"]


@pytest.fixture(scope="module")
def failing_site(tmp_path_factory, notebook_writer, tiny_package_writer) -> FailingSite:
    root = tmp_path_factory.mktemp("failing")
    data = tiny_package_writer(root / "data", ["Alpha"])
    reports = [
        planning.Report(name, notebook_writer(root / f"{name}.ipynb", "x = 1", cells), {}, root)
        for name, cells in NOTEBOOKS.items()
    ]
    summary = building.build(
        reports,
        root / "site",
        jobs=2,
        data_dir=data,
        report_timeout=REPORT_TIMEOUT,
        max_output=MAX_OUTPUT,
    )
    return FailingSite(root / "site", summary)


def _banner(page: str) -> str:
    match = re.search(r'<div class="roundup-error-banner" id="roundup-error".*?</div>', page, re.S)
    assert match, "no error banner"
    assert page.index("roundup-error-banner") < page.index('class="jp-Cell'), "banner not on top"
    return match.group(0)


def test_the_build_goes_on_and_each_failure_is_its_own(failing_site):
    statuses = {e["name"]: e["status"] for e in failing_site.summary.entries}
    assert statuses == {"dead": "failed", "endless": "failed", "cleared": "ok", "fine": "ok"}
    index = json.loads((failing_site.out / "index.json").read_text(encoding="utf-8"))
    dead = next(e for e in index["reports"] if e["name"] == "dead")
    assert dead["error"]["type"] == "DeadKernelError"
    assert dead["last_good_href"] is None and dead["last_good_finished"] is None
    assert not (failing_site.out / "dead" / "index.html").exists()  # nothing good to show
    page = (failing_site.out / "index.html").read_text(encoding="utf-8")
    assert f'href="{dead["href"]}#roundup-error"' in page and "no good run yet" in page


def test_a_dying_kernel_fails_its_report_with_the_reason(failing_site):
    record = failing_site.record("dead")
    error = record["error"]
    assert error["type"] == "DeadKernelError"
    assert "exit code 1" in error["message"]
    folder = failing_site.run_dir("dead")
    nb = nbformat.read(str(folder / "dead.ipynb"), as_version=4)
    failed_cell = nb.cells[error["cell_index"]]
    assert "os._exit(1)" in failed_cell.source
    assert [o.output_type for o in failed_cell.outputs] == ["error"]  # the reason, in place
    page = (folder / "index.html").read_text(encoding="utf-8")
    banner = _banner(page)
    assert "This report failed" in banner and "DeadKernelError" in banner
    assert "import os" in banner  # the first line of the hidden cell
    anchor = re.search(r'href="#(cell-id=[^"]+)"', banner).group(1)
    assert f'id="{anchor}"' in page
    assert "before the crash" in page and "never printed" not in page


def test_a_report_that_keeps_running_is_stopped_at_its_time_limit(failing_site):
    record = failing_site.record("endless")
    error = record["error"]
    assert error["type"] == "ReportTimeoutError"
    assert "--report-timeout" in error["message"]
    assert record["limits"]["report_timeout_s"] == REPORT_TIMEOUT
    assert record["duration_s"] < REPORT_TIMEOUT + 4  # not the 12 s the cells would take
    nb = nbformat.read(str(failing_site.run_dir("endless") / "endless.ipynb"), as_version=4)
    later = [c for c in nb.cells[error["cell_index"] + 1 :] if c.cell_type == "code"]
    assert later and all(not c.outputs for c in later)  # nothing ran after the limit
    page = (failing_site.run_dir("endless") / "index.html").read_text(encoding="utf-8")
    assert "ReportTimeoutError" in _banner(page)


def test_cleared_output_does_not_count_toward_the_limit(failing_site):
    record = failing_site.record("cleared")
    assert record["status"] == "ok", record["error"]
    page = (failing_site.out / "cleared" / "index.html").read_text(encoding="utf-8")
    assert "49" * 100_000 in page and "48" * 100_000 not in page
    assert 'id="roundup-error"' not in page


FLOOD = """
import json, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from conftest import _write_notebook
from analysis.reports import job as running

root = Path({root!r})
cells = [
    "print('before the flood')",
    "line = 'x' * 99 + '\\\\n'\\nfor _ in range(2_000_000):\\n    print(line, end='')",
    "print('after the flood')",
]
nb = _write_notebook(root / "flood.ipynb", "x = 1", cells)
job = running.Job(name="flood", notebook=str(nb), parameters={{}}, output_dir=str(root / "out"),
                  workdir=str(root), run_id="r1")
record = running.run_report(job).to_dict()
# VmHWM: this process image's own peak (ru_maxrss would include the forking pytest's memory,
# which Linux carries across execve)
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
record["peak_rss_mb"] = int(hwm.split()[1]) / 1024
print(json.dumps(record))
"""


@pytest.mark.slow
def test_a_200_mb_output_flood_is_cut_at_the_default_limit(tmp_path):
    script = FLOOD.format(tests=str(Path(__file__).parent), root=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads(result.stdout.splitlines()[-1])
    assert record["status"] == "failed"
    assert record["error"]["type"] == "OutputLimitExceeded"
    assert "10.0 MB" in record["error"]["message"]
    assert record["limits"]["max_output_bytes"] == DEFAULT_MAX_OUTPUT
    # 200 MB of text was on its way: the job kept ~10 MB, and memory and files stay small
    assert record["peak_rss_mb"] < 400, record["peak_rss_mb"]
    out = tmp_path / "out"
    for name in ("flood.ipynb", "index.html"):
        assert (out / name).stat().st_size < 12 * 1024 * 1024, name
    nb = nbformat.read(str(out / "flood.ipynb"), as_version=4)
    flood_cell = nb.cells[record["error"]["cell_index"]]
    assert flood_cell.outputs[-1].output_type == "error"
    assert flood_cell.outputs[-1].ename == "OutputLimitExceeded"
    assert nb.cells[-1].outputs == []  # the kernel was stopped: no cell ran after
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "OutputLimitExceeded" in _banner(page)
    assert "before the flood" in page
