"""Outcomes that never lie (issue 11): each runner fault, shown by a build that used to lie.

A report is "ok" only if it ran in the kernel its notebook asks for (or the one ``--kernel``
names), completed (``sys.exit(0)`` completes it, as papermill says), and every output it
produced is in its executed notebook and page, both within ``--max-output`` bytes. A publish
error is that report's failure, not the build's. Exit codes mean what the README says.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import filelock
import nbformat
import pytest
from runner_util import _entry, _run_dir, _site, _stream_text
from typer.testing import CliRunner

from analysis.cli import app
from analysis.reports import build as building
from analysis.reports import plan as planning

pytestmark = pytest.mark.e2e
runner = CliRunner()


# ------------------------------------------------------------------ 2. sys.exit(0) ends a report


def test_sys_exit_zero_ends_the_report_cleanly(tmp_path, notebook_writer, tiny_package_writer):
    site, summary = _site(
        tmp_path,
        notebook_writer,
        tiny_package_writer,
        {
            "exit-zero": ["print('before')", "import sys\nsys.exit(0)", "print('after')"],
            "exit-none": ["print('before')", "raise SystemExit", "print('after')"],
            "exit-three": ["print('before')", "import sys\nsys.exit(3)", "print('after')"],
        },
        jobs=2,
    )
    for name in ("exit-zero", "exit-none"):
        assert _entry(summary, name)["status"] == "ok", _entry(summary, name)["error"]
        text = _stream_text(_run_dir(site, summary, name) / f"{name}.ipynb")
        assert "before" in text and "after" not in text  # papermill stops there, as here
    failed = _entry(summary, "exit-three")
    assert failed["status"] == "failed" and failed["error"]["type"] == "SystemExit"


# ------------------------------------------------------------------ 4. a publish error


@pytest.mark.parametrize("cause", ["a plain file", "a full disk"])
def test_a_report_that_cannot_be_published_fails_alone(
    tmp_path, notebook_writer, tiny_package_writer, monkeypatch, cause
):
    if cause == "a plain file":  # where the report's folder goes
        (tmp_path / "site").mkdir()
        (tmp_path / "site" / "blocked").write_text("a plain file where the folder goes")
    else:
        real = building.publish

        def publish(out_dir, run_dir, record, keep):
            if record.report == "blocked":
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(out_dir, run_dir, record, keep)

        monkeypatch.setattr(building, "publish", publish)
    site, summary = _site(
        tmp_path,
        notebook_writer,
        tiny_package_writer,
        {"blocked": ["print('fine')"], "fine": ["print('fine')"]},
        jobs=2,
    )
    assert _entry(summary, "fine")["status"] == "ok"
    blocked = _entry(summary, "blocked")
    assert blocked["status"] == "failed"
    assert blocked["error"]["type"] == "PublishError"
    assert "blocked" in blocked["error"]["message"]
    if cause == "a full disk":
        assert "No space left on device" in blocked["error"]["message"]
    index = json.loads((site / "index.json").read_text(encoding="utf-8"))
    shown = next(e for e in index["reports"] if e["name"] == "blocked")
    assert shown["status"] == "failed" and shown["error"]["type"] == "PublishError"


def test_a_publish_error_exits_1_not_2(tmp_path, make_notebook, tiny_data):
    make_notebook("fine.ipynb", "x = 1", ["print('fine')"])
    plan = tmp_path / "plan.toml"
    plan.write_text(
        'notebooks = "notebooks"\n'
        '[[report]]\nname = "blocked"\nnotebook = "fine.ipynb"\n'
        '[[report]]\nname = "fine"\nnotebook = "fine.ipynb"\n',
        encoding="utf-8",
    )
    site = tmp_path / "site"
    site.mkdir()
    (site / "blocked").write_text("a plain file")
    result = runner.invoke(app, ["build", "--plan", str(plan), "--out", str(site), "-j", "1"])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # the runner's 1, no crash
    assert "1 ok, 1 failed" in result.output and "(not published)" in result.output
    assert (site / "fine" / "index.html").is_file()
    # the front page and build page say it was not published: no link to a page that is not there
    for page in ("index.html", "build.html"):
        html = (site / page).read_text(encoding="utf-8")
        assert "#roundup-error" not in html
        assert "could not be published" in html or "not published" in html


def test_an_edited_module_beside_the_notebook_reruns_its_report(tmp_path, make_notebook, tiny_data):
    notebook = make_notebook("sib.ipynb", "x = 1", ["import helper\nprint(helper.WORD)"])
    helper = notebook.parent / "helper.py"
    helper.write_text("WORD = 'first'\n", encoding="utf-8")
    site = tmp_path / "site"
    args = ["build", str(notebook), "--out", str(site), "-j", "1", "--no-pdf", "--json"]

    def built() -> tuple[dict, str]:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        entry = json.loads(result.stdout)["reports"][0]
        return entry, (site / entry["name"] / "index.html").read_text(encoding="utf-8")

    entry, page = built()
    assert entry["status"] == "ok" and "first" in page
    assert built()[0]["status"] == "skipped"  # nothing changed
    helper.write_text("WORD = 'second'\n", encoding="utf-8")
    entry, page = built()
    assert entry["status"] == "ok" and "second" in page  # not a stale page


# ------------------------------------------------------------------ 1. kernels


def test_run_json_says_which_kernel_ran(tmp_path, notebook_writer, tiny_package_writer):
    site, summary = _site(
        tmp_path, notebook_writer, tiny_package_writer, {"k": ["print(1)"]}, kernel="python3"
    )
    record = json.loads((_run_dir(site, summary, "k") / "run.json").read_text())
    assert record["kernel"] == "python3"


@pytest.fixture
def other_kernel(tmp_path) -> dict[str, str]:
    """An environment with a second kernelspec ``other`` (this Python, KERNEL_WHICH=other)."""
    spec = tmp_path / "jupyter" / "kernels" / "other"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec.joinpath("kernel.json").write_text(
        json.dumps(
            {
                "argv": argv,
                "display_name": "Other",
                "language": "python",
                "env": {"KERNEL_WHICH": "other"},
            }
        )
    )
    return {**os.environ, "JUPYTER_PATH": str(tmp_path / "jupyter")}


def _cli_build(tmp_path: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    roundup = Path(sys.executable).with_name("roundup")
    return subprocess.run(
        [str(roundup), "build", "--out", str(tmp_path / "site"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def _kernel_notebook(tmp_path: Path, notebook_writer, kernelspec: str) -> Path:
    path = notebook_writer(
        tmp_path / "notebooks" / "which.ipynb",
        "x = 1",
        ["import os\nprint('kernel:', os.environ.get('KERNEL_WHICH', 'default'))"],
    )
    nb = nbformat.read(str(path), as_version=4)
    nb.metadata["kernelspec"] = {"name": kernelspec, "display_name": kernelspec}
    nbformat.write(nb, str(path))
    plan = tmp_path / "plan.toml"
    plan.write_text(
        'notebooks = "notebooks"\n[[report]]\nname = "which"\nnotebook = "which.ipynb"\n',
        encoding="utf-8",
    )
    return plan


def test_a_notebooks_kernelspec_is_honoured(tmp_path, notebook_writer, tiny_data, other_kernel):
    plan = _kernel_notebook(tmp_path, notebook_writer, "other")
    done = _cli_build(tmp_path, other_kernel, "--plan", str(plan))
    assert done.returncode == 0, done.stderr
    run = tmp_path / "site" / "which"
    assert json.loads((run / "run.json").read_text())["kernel"] == "other"
    assert "kernel: other" in _stream_text(run / "which.ipynb")
    # --kernel is an explicit override
    forced = _cli_build(tmp_path, other_kernel, "--plan", str(plan), "--force", "--kernel", "fork")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((run / "run.json").read_text())["kernel"] == "roundup-fork"
    assert "kernel: default" in _stream_text(run / "which.ipynb")


@pytest.mark.parametrize("kernel", [None, "python3"])
def test_a_notebook_without_language_metadata_runs_in_the_chosen_kernel(
    tmp_path, notebook_writer, tiny_package_writer, kernel
):
    path = notebook_writer(tmp_path / "bare.ipynb", "x = 1", ["print('ran', x)"])
    nb = nbformat.read(str(path), as_version=4)
    nb.metadata = {}  # no kernelspec, no language_info: as some tools write them
    nbformat.write(nb, str(path))
    data = tiny_package_writer(tmp_path / "data", ["Alpha"])
    report = planning.Report("bare", path, {"x": 2}, tmp_path)
    summary = building.build([report], tmp_path / "site", data_dir=data, kernel=kernel)
    assert _entry(summary, "bare")["status"] == "ok", _entry(summary, "bare")["error"]
    run = _run_dir(tmp_path / "site", summary, "bare")
    assert json.loads((run / "run.json").read_text())["kernel"] == (kernel or "roundup-fork")
    assert "ran 2" in _stream_text(run / "bare.ipynb")


@pytest.mark.parametrize("where", ["option", "notebook"])
def test_an_unknown_kernel_is_a_usage_error_before_any_kernel_starts(
    tmp_path, notebook_writer, tiny_data, where
):
    plan = _kernel_notebook(
        tmp_path, notebook_writer, "nonesuch" if where == "notebook" else "python3"
    )
    extra = ["--kernel", "nonesuch"] if where == "option" else []
    result = runner.invoke(
        app, ["build", "--plan", str(plan), "--out", str(tmp_path / "site"), *extra]
    )
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "nonesuch" in message and "which" in message
    assert not (tmp_path / "site" / "which").exists()


# ------------------------------------------------------------------ 6. honest messages


def test_waiting_for_the_lock_says_so(tmp_path, notebook_writer, tiny_package_writer, capsys):
    from analysis import cli_output

    site = tmp_path / "site"
    site.mkdir()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # another build, in another thread, until we are seen waiting
        with filelock.FileLock(site / ".lock"):
            held.set()
            release.wait(60)

    threading.Thread(target=hold, daemon=True).start()
    held.wait(10)
    progress = cli_output.Progress()

    def on_event(event) -> None:
        progress(event)
        if event.kind == "waiting":
            release.set()

    data = tiny_package_writer(tmp_path / "data", ["Alpha"])
    nb = notebook_writer(tmp_path / "fine.ipynb", "x = 1", ["print('fine')"])
    building.build(
        [planning.Report("fine", nb, {}, tmp_path)], site, data_dir=data, on_event=on_event
    )
    assert release.is_set()
    said = " ".join(capsys.readouterr().err.split())
    assert f"waiting for another build to finish (lock held on {site / '.lock'})..." in said


def test_shutdown_noise_is_not_an_error_in_kernel_log(
    tmp_path, notebook_writer, tiny_package_writer
):
    from analysis.reports.job import quiet_kernel_log

    log = tmp_path / "kernel.log"
    log.write_text(
        "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel\n"
        "real problem: ValueError\n"
        "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.\n"
    )
    quiet_kernel_log(log)
    assert log.read_text() == "real problem: ValueError\n"
    log.write_text("[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel\n")
    quiet_kernel_log(log)
    assert not log.exists()
    # and end to end: a good report's kernel.log never shows it
    site, summary = _site(
        tmp_path / "b", notebook_writer, tiny_package_writer, {"ok": ["print(1)"]}, kernel="python3"
    )
    log = _run_dir(site, summary, "ok") / "kernel.log"
    assert not log.exists() or "KeyboardInterrupt caught" not in log.read_text()


def test_a_killed_build_is_reported_by_the_next(tmp_path, notebook_writer, tiny_package_writer):
    site = tmp_path / "site"
    (site / ".tmp" / "20261202T000000000Z-abc-left").mkdir(parents=True)  # what SIGKILL leaves
    _, summary = _site(tmp_path, notebook_writer, tiny_package_writer, {"ok": ["print(1)"]})
    index = json.loads((site / "index.json").read_text(encoding="utf-8"))
    assert index["build"]["previous_build_interrupted"] is True
    assert index["build"]["previous_build_interrupted_at"]
    assert "cut short" in (site / "index.html").read_text(encoding="utf-8")
    _site(tmp_path / "again", notebook_writer, tiny_package_writer, {"ok": ["print(1)"]})
    again = json.loads((tmp_path / "again" / "site" / "index.json").read_text())
    assert again["build"]["previous_build_interrupted"] is False
