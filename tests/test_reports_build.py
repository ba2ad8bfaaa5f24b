"""Running reports and building the site: hashes, index, and end-to-end builds with real kernels.

Tests marked ``e2e`` start real kernels (about 2 s each on 2 cores); the module-scoped ``site_v1``
build (two reports) is shared and copied by the tests that change a site.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from analysis.cli import app
from analysis.reports import build as building
from analysis.reports import fingerprint, publish, site
from analysis.reports import job as running
from analysis.reports import plan as planning
from analysis.reports.record import RunRecord

runner = CliRunner()

PROFILE_PARAMS = 'company: str = "Didi"\nfail = False'
PROFILE_CELLS = [
    (
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(figsize=(3, 2))\n"
        "ax.bar(['a', 'b'], [1, 2])\n"
        "ax.set_title(company)\n"
        "plt.show()",
        ["chart"],
    ),
    "import json, os\n"
    "from ipykernel.connect import get_connection_info\n"
    "print('transport', json.loads(get_connection_info())['transport'])\n"
    "print('cwd', os.getcwd())\n"
    "print('data', os.environ.get('ROUNDUP_DATA_DIR'))",
    "if fail:\n    raise RuntimeError(f'boom for {company}')\nprint('done', company)",
]


@dataclass
class BuiltSite:
    root: Path
    out: Path
    data: Path
    notebooks: Path
    reports: list[planning.Report]
    summary: building.BuildSummary


def _plan(root: Path, text: str, name: str = "plan.toml") -> Path:
    path = root / name
    path.write_text('notebooks = "notebooks"\n' + text, encoding="utf-8")
    return path


def _copy_site(built: BuiltSite, dest: Path) -> Path:
    shutil.copytree(built.out, dest, symlinks=True)
    return dest


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def site_v1(tmp_path_factory, notebook_writer, tiny_package_writer) -> BuiltSite:
    """Two reports of one notebook (p-alpha, p-beta-b) built with real kernels."""
    root = tmp_path_factory.mktemp("site_v1")
    notebooks = root / "notebooks"
    notebook_writer(notebooks / "profile.ipynb", PROFILE_PARAMS, PROFILE_CELLS)
    data = tiny_package_writer(root / "data", ["Alpha"])
    plan = _plan(
        root,
        '[[report]]\nname = "p-{company}"\nnotebook = "profile.ipynb"\n'
        '[report.grid]\ncompany = ["Alpha", "Beta <b>"]\n',
    )
    reports = planning.load_plan(plan)
    summary = building.build(reports, root / "site", jobs=2, data_dir=data)
    return BuiltSite(root, root / "site", data, notebooks, reports, summary)


# --------------------------------------------------------------------------- no kernels


def test_input_hashes_follow_sources_not_outputs(tmp_path, make_notebook):
    nb_path = make_notebook("h.ipynb", "x = 1", ["print(x)"])
    shared = {"data": "d", "code": "c", "requirements_lock": "l"}
    first = fingerprint.input_hashes(nb_path, {"b": 1, "a": [1, 2]}, shared)
    assert set(first) == {"notebook", "folder", "parameters", "data", "code", "requirements_lock"}
    assert fingerprint.input_hashes(nb_path, {"a": [1, 2], "b": 1}, shared) == first

    nb = nbformat.read(str(nb_path), as_version=4)
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.cells[-1].execution_count = 7
    nbformat.write(nb, str(nb_path))
    assert fingerprint.input_hashes(nb_path, {"a": [1, 2], "b": 1}, shared) == first

    nb.cells[-1].source = "print(x + 1)"
    nbformat.write(nb, str(nb_path))
    assert (
        fingerprint.input_hashes(nb_path, {"a": [1, 2], "b": 1}, shared)["notebook"]
        != (first["notebook"])
    )
    assert (
        fingerprint.input_hashes(nb_path, {"a": [1, 2], "b": 2}, shared)["parameters"]
        != (first["parameters"])
    )


def test_tree_hash_skips_files_that_vanish_while_it_runs(tmp_path, monkeypatch):
    (tmp_path / "a.py").write_text("a", "utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.csv").write_text("b", "utf-8")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "c").write_text("c", "utf-8")
    whole = fingerprint.tree_hash(tmp_path)
    (tmp_path / ".cache" / "c").write_text("changed", "utf-8")  # hidden: not an input
    assert fingerprint.tree_hash(tmp_path) == whole

    read_bytes = Path.read_bytes

    def vanishing(path: Path) -> bytes:
        if path.name == "b.csv":  # another process deleted it after the walk saw it
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", vanishing)
    without = fingerprint.tree_hash(tmp_path)
    monkeypatch.undo()
    (tmp_path / "sub" / "b.csv").unlink()
    assert without == fingerprint.tree_hash(tmp_path) != whole


def test_shared_hashes_follow_the_data(tmp_path, tiny_package_writer):
    data = tiny_package_writer(tmp_path / "data", ["Alpha"])
    before = fingerprint.shared_hashes(data)
    assert fingerprint.shared_hashes(data) == before
    (data / "sources.csv").write_text("source_id,title\ns1,Another title\n", encoding="utf-8")
    after = fingerprint.shared_hashes(data)
    assert after["data"] != before["data"]
    assert after["code"] == before["code"]


def test_index_escapes_every_text(tmp_path):
    evil = "<script>alert(1)</script>"
    entry = {
        "name": evil,
        "notebook": evil,
        "parameters": {evil: evil},
        "status": "failed",
        "run_id": "r1",
        "finished": evil,
        "duration_s": 1.0,
        "href": f"{evil}/runs/r1/index.html",
        "error": {"type": evil, "message": evil},
        "last_good_href": None,
    }
    index = {
        "generated": evil,
        "build": {"counts": {"ok": 0, "failed": 1, "skipped": 0}},
        "reports": [entry],
    }
    site.write_index(tmp_path, index)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert _json(tmp_path / "index.json")["reports"][0]["name"] == evil


def _staged(root: Path, name: str, run_id: str, status: str) -> tuple[Path, RunRecord]:
    staged = root / ".tmp" / f"{run_id}-{name}"
    staged.mkdir(parents=True)
    (staged / "index.html").write_text(run_id, encoding="utf-8")
    record = {
        "report": name,
        "notebook": "n.ipynb",
        "parameters": {},
        "status": status,
        "run_id": run_id,
        "finished": "now",
        "duration_s": 1.0,
        "error": None if status == "ok" else {"type": "E", "message": "m"},
    }
    (staged / "run.json").write_text(json.dumps(record), encoding="utf-8")
    return staged, RunRecord.from_dict(record)


def test_publish_keeps_every_run_and_links_the_last_good_one(tmp_path):
    report = tmp_path / "r"
    entry = publish.publish(tmp_path, *_staged(tmp_path, "r", "1-good", "ok"), keep=3)
    assert entry["href"] == "r/index.html"
    assert os.readlink(report / "latest") == "runs/1-good"
    assert os.readlink(report / "index.html") == "latest/index.html"
    assert (report / "index.html").read_text() == "1-good"
    for run_id in ("2-bad", "3-bad", "4-bad"):
        entry = publish.publish(tmp_path, *_staged(tmp_path, "r", run_id, "failed"), keep=3)
        assert (report / "index.html").read_text() == "1-good"
    assert entry["href"] == "r/runs/4-bad/index.html"
    assert (entry["last_good_href"], entry["last_good_run_id"]) == ("r/index.html", "1-good")
    # the newest 3 runs, and the one readers see although it is older
    assert sorted(p.name for p in (report / "runs").iterdir()) == [
        "1-good",
        "2-bad",
        "3-bad",
        "4-bad",
    ]

    publish.publish(tmp_path, *_staged(tmp_path, "r", "5-good", "ok"), keep=3)
    assert (report / "index.html").read_text() == "5-good"
    assert sorted(p.name for p in (report / "runs").iterdir()) == ["3-bad", "4-bad", "5-good"]
    assert sorted(p.name for p in (tmp_path / ".tmp").iterdir()) == []
    assert not list(report.glob(".*"))  # no temporary link left


def test_build_refuses_duplicate_or_unsafe_names(tmp_path, make_notebook):
    nb = make_notebook("n.ipynb", "x = 1")
    for names in (["a", "a"], ["../escape"]):
        reports = [planning.Report(n, nb, {}, nb.parent) for n in names]
        with pytest.raises(ValueError, match="unique slugs"):
            building.build(reports, tmp_path / "site")
    assert not (tmp_path / "site").exists()


def test_run_report_records_a_kernel_that_cannot_start(tmp_path, make_notebook):
    nb = make_notebook("k.ipynb", "x = 1", ["print(x)"])
    job = running.Job(
        name="k",
        notebook=str(nb),
        parameters={"x": 2},
        output_dir=str(tmp_path / "out"),
        workdir=str(nb.parent),
        run_id="r1",
        kernel_name="no-such-kernel",
    )
    record = running.run_report(job).to_dict()
    assert record["status"] == "failed"
    assert record["error"]["type"] == "NoSuchKernel"
    assert _json(tmp_path / "out" / "run.json") == record
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "NoSuchKernel" in page
    assert (tmp_path / "out" / "k.ipynb").is_file()


def test_worker_job_refuses_other_data_and_returns_its_files(
    tmp_path, make_notebook, tiny_package_writer
):
    nb = make_notebook("w.ipynb", "x = 1", ["print(x)"])
    client_data = tiny_package_writer(tmp_path / "client-data", ["Alpha"])
    worker_data = tiny_package_writer(tmp_path / "worker-data", ["Beta"])
    job = running.Job(
        name="w",
        notebook=str(nb),
        parameters={},
        output_dir=str(tmp_path / "client-staging"),
        workdir=str(nb.parent),
        run_id="r1",
        inputs={"data": fingerprint.shared_hashes(client_data)["data"]},
        data_dir=str(worker_data),
    )
    record, files = running.run_report_returning_files(job)
    record = record.to_dict()
    assert record["status"] == "failed"
    assert record["error"]["type"] == "WorkerSetupError"
    assert "differs from the one the build hashed" in record["error"]["message"]
    assert set(files) == {"index.html", "run.json"}
    assert not (tmp_path / "client-staging").exists()  # the worker wrote nothing there
    running.write_files(job.output_dir, files)
    assert _json(tmp_path / "client-staging" / "run.json") == record
    with pytest.raises(ValueError, match="unexpected file name"):
        running.write_files(tmp_path, {"../escape": b"x"})


# --------------------------------------------------------------------------- real kernels


@pytest.mark.e2e
def test_build_publishes_self_contained_reports(site_v1):
    out = site_v1.out
    assert site_v1.summary.counts() == {"ok": 2, "failed": 0, "skipped": 0}
    assert not (out / ".tmp").exists()
    for name, company in (("p-alpha", "Alpha"), ("p-beta-b", "Beta <b>")):
        page = (out / name / "index.html").read_text(encoding="utf-8")
        assert re.search(r'<img[^>]+src="data:image/png;base64,', page)
        assert "<script" not in page and "https://cdn" not in page
        assert "Traceback" not in page and "An Exception was encountered" not in page
        assert "plt.subplots" not in page  # code hidden
        assert "Beta <b>" not in page  # every text escaped
        assert "Parameters:" in page

        record = _json(out / name / "run.json")
        assert record["status"] == "ok" and record["error"] is None
        assert record["parameters"] == {"company": company}
        assert record["notebook"] == "profile.ipynb"
        assert {"python", "pandas", "matplotlib", "papermill", "nbconvert", "analysis"} <= set(
            record["versions"]
        )
        assert set(record["inputs"]) == {
            "notebook",
            "folder",
            "parameters",
            "data",
            "code",
            "requirements_lock",
        }
        assert record["duration_s"] > 0

        executed = nbformat.read(str(out / name / f"{name}.ipynb"), as_version=4)
        text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
        assert not any(
            o.output_type == "error" for c in executed.cells for o in c.get("outputs", [])
        )
        assert "transport ipc" in text
        assert f"cwd {site_v1.notebooks}" in text
        assert f"data {site_v1.data}" in text

    index = _json(out / "index.json")
    assert [(e["name"], e["status"], e["href"]) for e in index["reports"]] == [
        ("p-alpha", "ok", "p-alpha/index.html"),
        ("p-beta-b", "ok", "p-beta-b/index.html"),
    ]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="p-beta-b/index.html"' in page
    build_page = (out / "build.html").read_text(encoding="utf-8")  # build details live here
    assert "company = &quot;Beta &lt;b&gt;&quot;" in build_page


class _Recorder:
    """An executor that records the jobs it is given and runs none."""

    def __init__(self) -> None:
        self.jobs: list[running.Job] = []

    def run(self, jobs):
        self.jobs.extend(jobs)
        return iter(())


def _recorded_copy(site_v1, tmp_path, monkeypatch) -> tuple[Path, Path, _Recorder]:
    """A copy of the site and of its data, built with an executor that runs no job."""
    out = _copy_site(site_v1, tmp_path / "site")
    data = shutil.copytree(site_v1.data, tmp_path / "data")
    recorder = _Recorder()
    monkeypatch.setattr(building, "make_executor", lambda *args, **kwargs: recorder)
    return out, data, recorder


@pytest.mark.e2e
def test_unchanged_reports_are_skipped_and_changes_rerun(site_v1, tmp_path, monkeypatch):
    out, data, recorder = _recorded_copy(site_v1, tmp_path, monkeypatch)
    before = {r.name: _json(out / r.name / "run.json")["run_id"] for r in site_v1.reports}

    summary = building.build(site_v1.reports, out, data_dir=data)
    assert recorder.jobs == []  # no kernel started
    assert summary.counts() == {"ok": 0, "failed": 0, "skipped": 2}
    index = _json(out / "index.json")
    assert [e["status"] for e in index["reports"]] == ["skipped", "skipped"]
    assert {r.name: _json(out / r.name / "run.json")["run_id"] for r in site_v1.reports} == before

    building.build(site_v1.reports, out, data_dir=data, force=True)
    assert sorted(j.name for j in recorder.jobs) == ["p-alpha", "p-beta-b"]

    recorder.jobs.clear()
    (data / "companies.csv").write_text("company,employees,source_id\nZed,1,s1\n", "utf-8")
    building.build(site_v1.reports, out, data_dir=data)
    assert len(recorder.jobs) == 2  # the data changed
    assert recorder.jobs[0].data_dir == str(data.resolve())


@pytest.mark.e2e
def test_bad_data_edit_after_a_no_change_build_is_still_validated(site_v1, tmp_path, monkeypatch):
    out, data, recorder = _recorded_copy(site_v1, tmp_path, monkeypatch)
    assert building.build(site_v1.reports, out, data_dir=data).counts()["skipped"] == 2
    index = (out / "index.json").read_bytes()

    (data / "companies.csv").write_text("company,employees,source_id\nZed,ten,s9\n", "utf-8")
    with pytest.raises(building.InvalidData) as raised:
        building.build(site_v1.reports, out, data_dir=data)
    assert len(raised.value.problems) >= 2  # 'ten' is no integer, s9 no source
    assert recorder.jobs == [] and (out / "index.json").read_bytes() == index  # nothing written


@pytest.mark.e2e
def test_data_validated_once_per_data_code_and_lock(site_v1, tmp_path, monkeypatch):
    from analysis.data import Package

    out, data, recorder = _recorded_copy(site_v1, tmp_path, monkeypatch)
    calls: list[Path] = []
    validate = Package.validate

    def counted(package):
        calls.append(package.path)
        return validate(package)

    monkeypatch.setattr(Package, "validate", counted)
    (out / "datasets.html").write_text("kept", "utf-8")
    building.build(site_v1.reports, out, data_dir=data, force=True)
    assert len(recorder.jobs) == 2 and calls == []  # the site's index says this data passed
    assert (out / "datasets.html").read_text("utf-8") == "kept"  # made from the same data
    checked = _json(out / "index.json")["data_checked"]
    assert checked == fingerprint.shared_hashes(data)

    (data / "companies.csv").write_text("company,employees,source_id\nZed,1,s1\n", "utf-8")
    building.build(site_v1.reports, out, data_dir=data)
    assert len(calls) == 1  # new data: checked, and its page written again
    assert (out / "datasets.html").read_text("utf-8").startswith("<!DOCTYPE html>")
    assert _json(out / "index.json")["data_checked"] == fingerprint.shared_hashes(data)

    building.build(site_v1.reports, out, data_dir=data)  # nothing ran: the record is kept
    assert _json(out / "index.json")["data_checked"] == fingerprint.shared_hashes(data)

    (data / "companies.csv").write_text("company,employees,source_id\nZed,ten,s9\n", "utf-8")
    with pytest.raises(building.InvalidData):
        building.build(site_v1.reports, out, data_dir=data, force=True)
    assert len(calls) == 2
    assert _json(out / "index.json")["data_checked"] != fingerprint.shared_hashes(data)


@pytest.mark.e2e
def test_failed_report_keeps_last_good_and_others_still_build(site_v1, tmp_path):
    out = _copy_site(site_v1, tmp_path / "site")
    shutil.copytree(site_v1.notebooks, tmp_path / "notebooks")
    good_beta = (out / "p-beta-b" / "index.html").read_bytes()
    old_ids = {name: _json(out / name / "run.json")["run_id"] for name in ("p-alpha", "p-beta-b")}
    plan = _plan(
        tmp_path,
        '[[report]]\nname = "p-alpha"\nnotebook = "profile.ipynb"\n'
        'parameters = {company = "Alpha"}\n'
        '[[report]]\nname = "p-beta-b"\nnotebook = "profile.ipynb"\n'
        'parameters = {company = "Beta <b>", fail = true}\n',
    )
    args = ["build", "--plan", str(plan), "--out", str(out), "--data", str(site_v1.data)]
    result = runner.invoke(app, [*args, "--force", "--json", "-j", "2"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"ok": 1, "failed": 1, "skipped": 0}

    # the other report was rebuilt (--force) and published
    alpha = _json(out / "p-alpha" / "run.json")
    assert alpha["status"] == "ok" and alpha["run_id"] != old_ids["p-alpha"]

    # the last good report of the failed one is untouched; the failed run is kept aside
    assert (out / "p-beta-b" / "index.html").read_bytes() == good_beta
    assert _json(out / "p-beta-b" / "run.json")["run_id"] == old_ids["p-beta-b"]
    failed = next(e for e in summary["reports"] if e["name"] == "p-beta-b")
    run_dir = out / "p-beta-b" / "runs" / failed["run_id"]
    record = _json(run_dir / "run.json")
    assert record["status"] == "failed"
    assert record["error"]["type"] == "RuntimeError"
    assert record["error"]["message"] == "boom for Beta <b>"
    executed = nbformat.read(str(run_dir / "p-beta-b.ipynb"), as_version=4)
    assert executed.cells[record["error"]["cell_index"]].outputs[0].output_type == "error"
    page = (run_dir / "index.html").read_text(encoding="utf-8")
    assert "An Exception was encountered" in page and "RuntimeError" in page

    index = _json(out / "index.json")
    entry = next(e for e in index["reports"] if e["name"] == "p-beta-b")
    assert entry["status"] == "failed"
    assert entry["href"] == f"p-beta-b/runs/{failed['run_id']}/index.html"
    assert entry["last_good_href"] == "p-beta-b/index.html"
    index_page = (out / "index.html").read_text(encoding="utf-8")
    assert f'href="p-beta-b/runs/{failed["run_id"]}/index.html#roundup-error"' in index_page
    assert entry["last_good_run_id"] == old_ids["p-beta-b"]
    assert entry["last_good_finished"] == _json(out / "p-beta-b" / "run.json")["finished"]
    assert 'class="roundup-error-banner"' in page
    assert not (out / ".tmp").exists()


@pytest.mark.e2e
def test_chart_cell_without_image_fails_adhoc_run(tmp_path, make_notebook, tiny_data):
    nb = make_notebook(
        "nochart.ipynb",
        'title = "x"',
        [("print('a chart should be here:', title)", ["chart"]), "print('after')"],
    )
    out = tmp_path / "site"
    result = runner.invoke(
        app, ["build", str(nb), "-p", "title=Quarterly", "--out", str(out), "--json"]
    )
    assert result.exit_code == 1, result.output
    entry = json.loads(result.stdout)["reports"][0]
    assert entry["name"] == "nochart-quarterly"
    assert entry["status"] == "failed"
    assert entry["error"]["type"] == "MissingChart"
    assert entry["last_good_href"] is None
    assert (out / entry["href"]).is_file()
    assert not (out / "nochart-quarterly" / "index.html").exists()


@pytest.mark.e2e
def test_cell_timeout_fails_the_run_at_that_cell(tmp_path, make_notebook):
    nb = make_notebook(
        "slow.ipynb", "seconds = 30", ["print('start')", "import time\ntime.sleep(seconds)"]
    )
    job = running.Job(
        name="slow",
        notebook=str(nb),
        parameters={},
        output_dir=str(tmp_path / "out"),
        workdir=str(nb.parent),
        run_id="r1",
        timeout=1,
    )
    record = running.run_report(job).to_dict()
    assert record["status"] == "failed"
    assert record["error"]["type"] == "CellTimeoutError"
    executed = nbformat.read(str(tmp_path / "out" / "slow.ipynb"), as_version=4)
    assert "time.sleep" in executed.cells[record["error"]["cell_index"]].source
    assert record["duration_s"] < 15


@pytest.mark.e2e
@pytest.mark.slow
def test_dask_executor_runs_the_same_job(site_v1, tmp_path):
    """A LocalCluster of 2 worker processes: results and failures reported as locally."""
    pytest.importorskip("dask.distributed")
    alpha = next(r for r in site_v1.reports if r.name == "p-alpha")
    failing = dataclasses.replace(
        alpha, name="p-fails", parameters={**alpha.parameters, "fail": True}
    )
    plan = [alpha, failing]
    results = {}
    for executor in ("dask", "local"):
        out = tmp_path / executor
        summary = building.build(plan, out, jobs=2, executor=executor, data_dir=site_v1.data)
        results[executor] = summary
        page = (out / "p-alpha" / "index.html").read_text(encoding="utf-8")
        assert 'src="data:image/png;base64,' in page
    for executor, summary in results.items():
        assert summary.counts() == {"ok": 1, "failed": 1, "skipped": 0}, executor
    errors = {
        executor: next(e["error"] for e in s.entries if e["name"] == "p-fails")
        for executor, s in results.items()
    }
    assert errors["dask"]["type"] == errors["local"]["type"] == "RuntimeError"
    assert errors["dask"]["message"] == errors["local"]["message"] == "boom for Alpha"
    assert errors["dask"]["cell_index"] == errors["local"]["cell_index"]
