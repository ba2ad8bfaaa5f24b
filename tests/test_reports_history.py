"""Run history and retention, links and atomic switches, leftovers of killed builds: no kernels.

Runs are staged by hand (a folder with index.html and run.json) and published with
``publish.publish``; builds use an executor that runs nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import time
from pathlib import Path

import filelock
import pytest
from typer.testing import CliRunner

from analysis import cli
from analysis.reports import build as building
from analysis.reports import plan as planning
from analysis.reports import publish, site
from analysis.reports.record import RunRecord

runner = CliRunner()


def _staged(root: Path, name: str, run_id: str, status: str, inputs: dict | None = None):
    staged = root / ".tmp" / f"{run_id}-{name}"
    staged.mkdir(parents=True)
    (staged / "index.html").write_text(f"<html>{run_id}</html>", encoding="utf-8")
    (staged / f"{name}.ipynb").write_text("{}", encoding="utf-8")
    record = {
        "report": name,
        "notebook": "n.ipynb",
        "parameters": {},
        "status": status,
        "run_id": run_id,
        "finished": f"2026-11-{run_id[:2]}T10:00:00+00:00",
        "duration_s": 1.0,
        "error": None if status == "ok" else {"type": "RuntimeError", "message": "boom"},
        "inputs": inputs or {},
    }
    (staged / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return staged, RunRecord.from_dict(record)


def _runs(report: Path) -> list[str]:
    return sorted(p.name for p in (report / "runs").iterdir())


def test_keep_counts_every_run_and_never_prunes_the_one_shown(tmp_path):
    report = tmp_path / "r"
    publish.publish(tmp_path, *_staged(tmp_path, "r", "01-good", "ok"), keep=2)
    for day in ("02", "03", "04"):
        publish.publish(tmp_path, *_staged(tmp_path, "r", f"{day}-bad", "failed"), keep=2)
    assert _runs(report) == ["01-good", "03-bad", "04-bad"]
    assert (report / "index.html").read_text() == "<html>01-good</html>"
    publish.publish(tmp_path, *_staged(tmp_path, "r", "05-good", "ok"), keep=1)
    assert _runs(report) == ["05-good"]
    assert os.readlink(report / "latest") == "runs/05-good"


def test_the_first_run_failing_publishes_no_page(tmp_path):
    entry = publish.publish(tmp_path, *_staged(tmp_path, "r", "01-bad", "failed"))
    assert entry["status"] == "failed" and entry["last_good_href"] is None
    assert not (tmp_path / "r" / "index.html").exists()
    assert not (tmp_path / "r" / "latest").exists()
    assert (tmp_path / entry["href"]).is_file()


def test_a_site_of_the_old_layout_keeps_its_good_run_in_the_history(tmp_path):
    report = tmp_path / "r"
    (report / "runs").mkdir(parents=True)
    (report / "index.html").write_text("<html>old</html>", encoding="utf-8")
    (report / "run.json").write_text(json.dumps({"run_id": "00-old"}), encoding="utf-8")
    (report / "r.ipynb").write_text("{}", encoding="utf-8")
    (tmp_path / ".tmp").mkdir()
    publish.publish(tmp_path, *_staged(tmp_path, "r", "01-good", "ok"))
    assert (report / "index.html").read_text() == "<html>01-good</html>"
    assert (report / "runs" / "00-old" / "index.html").read_text() == "<html>old</html>"
    assert json.loads((report / "runs" / "00-old" / "run.json").read_text())["run_id"] == "00-old"


def test_a_copy_that_followed_the_links_is_repaired_at_the_next_publish(tmp_path):
    original = tmp_path / "a"
    publish.publish(original, *_staged(original, "r", "01-good", "ok"))
    copy = tmp_path / "b"
    shutil.copytree(original, copy)  # symlinks=False: latest/ and index.html become copies
    assert not (copy / "r" / "latest").is_symlink()
    assert (copy / "r" / "index.html").read_text() == "<html>01-good</html>"
    publish.publish(copy, *_staged(copy, "r", "02-good", "ok"))
    assert os.readlink(copy / "r" / "latest") == "runs/02-good"
    assert os.readlink(copy / "r" / "index.html") == "latest/index.html"
    assert (copy / "r" / "index.html").read_text() == "<html>02-good</html>"


class _Nothing:
    """An executor that runs nothing."""

    def run(self, jobs):
        return iter(())


def test_the_next_build_removes_what_a_killed_build_left(
    tmp_path, make_notebook, tiny_data, monkeypatch
):
    out = tmp_path / "site"
    publish.publish(out, *_staged(out, "r", "01-good", "ok"))
    leftovers = [
        out / ".tmp" / "20261129T000000000Z-abc-r" / "index.html",
        out / ".index.json.1a2b3c4d.tmp",
        out / "r" / ".latest.1a2b3c4d.tmp",
    ]
    leftovers[0].parent.mkdir(parents=True)
    leftovers[0].write_text("half", encoding="utf-8")
    leftovers[1].write_text("{", encoding="utf-8")
    os.symlink("runs/nowhere", leftovers[2])
    before = (out / "r" / "index.html").read_bytes()

    monkeypatch.setattr(building, "make_executor", lambda *args, **kwargs: _Nothing())
    nb = make_notebook("n.ipynb", "x = 1")
    building.build([planning.Report("n", nb, {}, nb.parent)], out, data_dir=tiny_data)
    assert not (out / ".tmp").exists()
    assert not any(p.is_symlink() or p.exists() for p in leftovers[1:])
    assert (out / "r" / "index.html").read_bytes() == before


def test_index_shows_the_last_good_run_and_links_the_failed_runs_error(tmp_path):
    out = tmp_path
    publish.publish(out, *_staged(out, "r", "01-good", "ok"))
    entry = publish.publish(out, *_staged(out, "r", "02-bad", "failed"))
    assert entry["last_good_finished"] == "2026-11-01T10:00:00+00:00"
    index = {
        "generated": "2026-11-02T10:00:00+00:00",
        "build": {"counts": {"ok": 0, "failed": 1, "skipped": 0}},
        "reports": [entry],
    }
    site.write_index(out, index)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="r/runs/02-bad/index.html#roundup-error">failed run</a>' in page
    assert 'href="r/index.html">last good report</a>' in page
    assert "1 Nov 2026, 10:00 UTC" in page
    assert "RuntimeError: boom" in page
    build_page = (out / "build.html").read_text(encoding="utf-8")  # the run details
    assert "Last good run" in build_page and "1 Nov 2026, 10:00 UTC" in build_page
    assert "RuntimeError: boom" in build_page


def test_build_options_reach_the_build(tmp_path, make_notebook, tiny_data, monkeypatch):
    seen = {}

    def fake_build(reports, options, on_event=None):
        seen.update(dataclasses.asdict(options))
        return building.BuildSummary(tmp_path, "b", [])

    monkeypatch.setattr(building, "build", fake_build)
    nb = make_notebook("n.ipynb", "x = 1")
    args = ["build", str(nb), "-p", "x=2", "--out", str(tmp_path / "s")]
    result = runner.invoke(
        cli.app, [*args, "--report-timeout", "90", "--max-output", "2.5", "--keep", "3"]
    )
    assert result.exit_code == 0, result.output
    assert seen["report_timeout"] == 90
    assert seen["max_output"] == int(2.5 * 1024 * 1024)
    assert seen["keep"] == 3
    defaults = runner.invoke(cli.app, args)
    assert defaults.exit_code == 0, defaults.output
    assert (seen["report_timeout"], seen["keep"]) == (1800, 5)
    assert seen["max_output"] == 10 * 1024 * 1024


@pytest.mark.parametrize("option", [["--keep", "0"], ["--report-timeout", "0"]])
def test_bad_limits_exit_2(tmp_path, make_notebook, option):
    nb = make_notebook("n.ipynb", "x = 1")
    result = runner.invoke(cli.app, ["build", str(nb), "-p", "x=2", *option])
    assert result.exit_code == 2, result.output


class _TermAfterFirst:
    """An executor that returns one finished run, then receives SIGTERM while 'waiting'."""

    def __init__(self, out: Path):
        self.out = out

    def run(self, jobs):
        first, second = jobs
        staged, record = _staged(self.out, first.name, first.run_id, "ok")
        os.replace(staged, first.output_dir)
        yield first, record
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted by the handler long before
        raise AssertionError("SIGTERM did not interrupt the build")


def test_sigterm_stops_the_build_after_what_is_already_published(
    tmp_path, make_notebook, tiny_data, monkeypatch
):
    out = tmp_path / "site"
    out.mkdir()
    monkeypatch.setattr(building, "make_executor", lambda *args, **kwargs: _TermAfterFirst(out))
    nb = make_notebook("n.ipynb", "x = 1")
    reports = [planning.Report(name, nb, {}, nb.parent) for name in ("a", "b")]
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(building.BuildInterrupted) as caught:
        building.build(reports, out, data_dir=tiny_data)
    assert caught.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers restored
    assert (out / "a" / "index.html").is_file()  # published before the signal
    assert not (out / "b").exists()
    assert not (out / ".tmp").exists()
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert [e["name"] for e in index["reports"]] == ["a"]
    with filelock.FileLock(out / ".lock", timeout=0):  # the lock was released
        pass


def test_a_signal_during_publishing_waits_until_it_is_done(tmp_path, monkeypatch):
    signals = building.Signals()
    done = []
    with signals.installed(), pytest.raises(building.BuildInterrupted):
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)  # the handler has run, and only noted the signal
            done.append("published")
    assert done == ["published"]
