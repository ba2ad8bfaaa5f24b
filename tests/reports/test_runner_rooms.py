"""The runner's rooms: options, the run record, the papermill engine, the kernel's environment."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from analysis import cli
from analysis.errors import RoundupError
from analysis.reports import build as building
from analysis.reports import job as running
from analysis.reports.options import BuildOptions, OptionsError
from analysis.reports.record import RunError, RunRecord

runner = CliRunner()


def test_run_record_round_trips_through_run_json_with_the_same_keys(tmp_path):
    record = RunRecord(
        report="r",
        notebook="n.ipynb",
        parameters={"company": "Didi"},
        status="failed",
        error=RunError("RuntimeError", "boom", 3, 2),
        run_id="r1",
        started="2026-11-29T18:45:07+00:00",
        finished="2026-11-29T18:45:09+00:00",
        duration_s=2.0,
        versions={"python": "3.11"},
        inputs={"data": "abc"},
        limits={"cell_timeout_s": 600, "report_timeout_s": 1800, "max_output_bytes": 10},
        files={"html": "index.html", "notebook": "r.ipynb", "kernel_log": None},
    )
    record.write(tmp_path)
    on_disk = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert list(on_disk) == [
        "report", "notebook", "parameters", "status", "error", "run_id", "started",
        "finished", "duration_s", "versions", "inputs", "limits", "files", "kernel",
        "title", "description", "section", "data", "changes",
    ]  # fmt: skip
    assert on_disk["error"] == {
        "type": "RuntimeError",
        "message": "boom",
        "cell_index": 3,
        "execution_count": 2,
    }
    assert RunRecord.read(tmp_path) == record
    assert RunRecord.read(tmp_path / "run.json") == record
    assert record.error.text() == "RuntimeError: boom (cell 3)"
    (tmp_path / "run.json").write_text("not json", encoding="utf-8")
    assert RunRecord.read(tmp_path) is None


def test_build_options_refuse_bad_values_as_roundup_errors():
    for bad in (BuildOptions(keep=0), BuildOptions(executor="ssh"), BuildOptions(scheduler="x")):
        with pytest.raises(OptionsError) as caught:
            bad.checked()
        assert isinstance(caught.value, RoundupError)
    assert BuildOptions().kernel_name == "roundup-fork"
    assert BuildOptions(kernel="python3").kernel_name == "python3"


def test_the_cli_defaults_are_the_build_options_defaults(tmp_path, make_notebook, monkeypatch):
    seen: list[BuildOptions] = []

    def fake_build(reports, options, on_event=None):
        seen.append(options)
        return building.BuildSummary(tmp_path, "b", [])

    monkeypatch.setattr(building, "build", fake_build)
    nb = make_notebook("n.ipynb", "x = 1")
    result = runner.invoke(cli.app, ["build", str(nb), "-p", "x=2"])
    assert result.exit_code == 0, result.output
    assert dataclasses.replace(seen[0], out_dir=None, data_dir=None) == BuildOptions()


def test_papermill_finds_the_roundup_engine_through_its_entry_point():
    code = (
        "from papermill.engines import papermill_engines\n"
        "from analysis.reports.engine import RoundupEngine\n"
        "assert papermill_engines.get_engine('roundup') is RoundupEngine\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.e2e
def test_the_kernel_gets_the_data_folder_and_the_job_process_keeps_its_environment(
    tmp_path, make_notebook, tiny_package_writer, monkeypatch
):
    monkeypatch.delenv("ROUNDUP_DATA_DIR", raising=False)
    data = tiny_package_writer(tmp_path / "kernel-data", ["Alpha"])
    nb = make_notebook("env.ipynb", "x = 1", ["import os\nprint(os.environ['ROUNDUP_DATA_DIR'])"])
    before = dict(os.environ)
    job = running.Job(
        name="env",
        notebook=str(nb),
        parameters={},
        output_dir=str(tmp_path / "out"),
        workdir=str(nb.parent),
        run_id="r1",
        data_dir=str(data),
    )
    record = running.run_report(job)
    assert record.status == "ok", record.error
    assert dict(os.environ) == before
    executed = json.loads((tmp_path / "out" / "env.ipynb").read_text(encoding="utf-8"))
    printed = "".join(executed["cells"][-1]["outputs"][0]["text"])
    assert printed.strip() == str(data)


def test_one_exporter_renders_every_report_of_a_process_as_a_fresh_one_would():
    import re

    import nbformat
    from nbformat import v4

    from analysis.reports import render

    def page(nb: nbformat.NotebookNode, error: RunError | None = None) -> str:
        head = render.header(nb.metadata.get("name", "n"), "n.ipynb", {"k": 1}, error, nb)
        return re.sub(r"\d+ \w{3} \d{4}, \d\d:\d\d UTC", "WHEN", render.report_page(nb, head))

    chart = v4.new_notebook(
        cells=[
            v4.new_code_cell(
                "x", outputs=[v4.new_output("stream", name="stdout", text="first report's words\n")]
            )
        ]
    )
    failed = v4.new_notebook(
        cells=[
            v4.new_code_cell(
                "y",
                outputs=[
                    v4.new_output(
                        "error", ename="ValueError", evalue="bad", traceback=["ValueError: bad"]
                    )
                ],
            )
        ]
    )
    render.warm_exporter()  # what the workers' fork server does before any report
    first = page(chart)
    assert render._exporter() is render._exporter()  # one per process, not one per page
    assert "ValueError" in page(failed, RunError("ValueError", "bad", cell_index=0))
    assert page(chart) == first  # nothing of the failed page stayed in the exporter
    render._exporter.cache_clear()
    assert page(chart) == first  # and a fresh exporter makes the same page
    assert "first report's words" in first
