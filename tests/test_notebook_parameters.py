"""The notebooks' parameters change what they show, and a bad company name stops early and kindly."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.cli import app

pytestmark = pytest.mark.e2e


def _build(out: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["build", "--out", str(out), "-j", "2", *args])
    return result.exit_code, result.output


def test_unknown_company_stops_at_the_first_cell_and_suggests_names(tmp_path):
    code, output = _build(tmp_path, "-p", "company=Didy", "02-company-profile")
    assert code == 1, output
    [report] = [p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith("02-")]
    [run] = list((report / "runs").iterdir())
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed"
    assert record["error"]["type"] == "UnknownCompanyError"
    assert "Did you mean: Didi?" in record["error"]["message"]
    # the first cell after the parameters (and papermill's injected parameters) is where it stops
    nb = json.loads(next(run.glob("*.ipynb")).read_text())
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    tags = [c["metadata"].get("tags", []) for c in code_cells]
    first_after = next(i for i, t in enumerate(tags) if "injected-parameters" in t) + 1
    assert code_cells[first_after]["outputs"][-1]["output_type"] == "error"
    assert all(c["execution_count"] is None for c in code_cells[first_after + 1 :])
    html = (run / "index.html").read_text(encoding="utf-8")
    assert "Did you mean: Didi?" in html


def test_roundup_as_of_shows_only_what_was_known_then(tmp_path):
    code, output = _build(tmp_path, "-p", "as_of=2021-07-04", "01-roundup")
    assert code == 0, output
    [page] = list(tmp_path.glob("01-roundup*/index.html"))
    html = page.read_text(encoding="utf-8")
    assert "4 Jul 2021" in html and "5 Jul 2021" not in html and "10 Jul 2021" not in html


def test_alias_finds_the_company(tmp_path):
    code, output = _build(tmp_path, "-p", "company=Kanzhun", "02-company-profile")
    assert code == 0, output
    [page] = list(tmp_path.glob("02-company-profile*/index.html"))
    html = page.read_text(encoding="utf-8")
    assert "Boss Zhipin" in html and "Kanzhun" in html


def test_year_only_as_of_travels_as_text(tmp_path):
    code, output = _build(tmp_path, "-p", "as_of=2021", "02-company-profile")
    assert code == 0, output
    [run_json] = list(tmp_path.glob("02-company-profile*/run.json"))
    assert json.loads(run_json.read_text())["parameters"] == {"as_of": "2021"}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
