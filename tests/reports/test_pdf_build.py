"""PDFs in a build: made in the job after the page, stored and linked as ``<report>.pdf``,
recorded in run.json and index.json; a PDF that cannot be made fails its report; without a
renderer the build succeeds and says once that PDFs were skipped."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from analysis.cli import app
from analysis.reports import build as building
from analysis.reports import job as running
from analysis.reports import plan as planning
from analysis.reports.pdf import DEFAULT_CHROMIUM
from analysis.reports.record import RunRecord

runner = CliRunner()
CHART = (
    "import matplotlib.pyplot as plt\n"
    "fig, ax = plt.subplots(figsize=(3, 2))\nax.bar(['a', 'b'], [1, 2])\nplt.show()"
)


@pytest.fixture
def plan_path(tmp_path: Path, make_notebook, tiny_data) -> Path:
    make_notebook("chart.ipynb", "label = 'x'", [(CHART, ["chart"]), "print('done', label)"])
    path = tmp_path / "plan.toml"
    path.write_text(
        'notebooks = "notebooks"\n[[report]]\nname = "chart"\nnotebook = "chart.ipynb"\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.browser
def test_each_good_report_gets_its_pdf_stored_recorded_and_linked(plan_path, tmp_path, tiny_data):
    out = tmp_path / "site"
    plan = planning.load_plan(plan_path, data_dir=tiny_data)
    summary = building.build(
        plan, out, data_dir=tiny_data, jobs=1, pdf=True, chromium=DEFAULT_CHROMIUM
    )
    assert summary.counts()["ok"] == 1
    record = RunRecord.read(out / "chart")
    assert record is not None and record.files["pdf"] == "chart.pdf"
    reader = PdfReader(out / "chart" / "chart.pdf")  # the reader link, through latest
    assert os.readlink(out / "chart" / "chart.pdf") == "latest/chart.pdf"
    box = reader.pages[0].mediabox
    assert abs(float(box.width) - 595) <= 1 and abs(float(box.height) - 842) <= 1  # A4, points
    text = reader.pages[0].extract_text()
    assert "chart" in text and "page 1 of" in text
    assert 'href="chart.pdf"' in (out / "chart" / "index.html").read_text(encoding="utf-8")
    index = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert index["reports"][0]["pdf_href"] == "chart/chart.pdf"
    assert 'href="chart/chart.pdf"' in (out / "index.html").read_text(encoding="utf-8")
    # unchanged and with its PDF: skipped
    again = building.build(plan, out, data_dir=tiny_data, jobs=1, pdf=True)
    assert again.counts()["skipped"] == 1


def _broken_chromium(tmp_path: Path) -> Path:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'no display here' >&2\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    return fake


def test_a_pdf_that_cannot_be_made_fails_the_report_with_the_reason(plan_path, tmp_path, tiny_data):
    out = tmp_path / "site"
    plan = planning.load_plan(plan_path, data_dir=tiny_data)
    chromium = _broken_chromium(tmp_path)
    summary = building.build(plan, out, data_dir=tiny_data, jobs=1, pdf=True, chromium=chromium)
    [entry] = summary.failed
    assert entry["error"]["type"] == "PdfError"
    assert "cannot make chart.pdf" in entry["error"]["message"]
    run = out / entry["href"].rsplit("/", 1)[0]
    record = RunRecord.read(run)
    assert record.status == "failed" and record.files["pdf"] is None
    page = (run / "index.html").read_text(encoding="utf-8")
    assert "roundup-error-banner" in page and "PdfError" in page
    assert 'href="chart.pdf"' not in page
    assert not (out / "chart" / "latest").exists()  # a failed run is never the one readers see


@pytest.mark.pdf_default
def test_without_a_renderer_the_build_succeeds_and_says_so_once(plan_path, tmp_path, tiny_data):
    out = tmp_path / "site"
    env = {"ROUNDUP_CHROMIUM": str(tmp_path / "no-chromium")}
    args = ["build", "--plan", str(plan_path), "--out", str(out), "--data", str(tiny_data)]
    result = runner.invoke(app, [*args, "-j", "1"], env=env)
    assert result.exit_code == 0, result.output
    skipped = [line for line in result.output.splitlines() if "PDFs skipped" in line]
    assert len(skipped) == 1
    assert "apt-get install chromium" in skipped[0]
    record = RunRecord.read(out / "chart")
    assert record.ok and record.files["pdf"] is None
    assert not (out / "chart" / "chart.pdf").exists()
    # asking for PDFs explicitly where none can be made is a usage error, before anything runs
    forced = runner.invoke(app, [*args, "--pdf", "--force"], env=env)
    assert forced.exit_code == 2
    assert "cannot make PDFs (--pdf)" in forced.output


@pytest.mark.browser
def test_the_pdf_travels_with_the_files_a_worker_returns(tmp_path, make_notebook, tiny_data):
    notebook = make_notebook("chart.ipynb", "label = 'x'", [(CHART, ["chart"])])
    job = running.Job(
        name="chart",
        notebook=str(notebook),
        parameters={},
        output_dir=str(tmp_path / "unused"),
        workdir=str(notebook.parent),
        run_id="r1",
        data_dir=str(tiny_data),
        kernel_name="python3",
        pdf=True,
    )
    record, files = running.run_report_returning_files(job)
    assert record.ok, record.error
    assert files["chart.pdf"].startswith(b"%PDF-")
    assert record.files["pdf"] == "chart.pdf"
