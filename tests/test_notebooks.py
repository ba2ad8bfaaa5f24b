"""The notebooks follow the house rules: parameters cell, thin, stored outputs, no volatile text.

nbval (``pytest notebooks/``) re-executes them and compares outputs; these checks make sure
there is something real for it to compare.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from analysis import paths

NOTEBOOKS = sorted(paths.notebooks_dir().glob("*.ipynb"))
VOLATILE = re.compile(
    r"at 0x[0-9a-f]{6,}|<Figure size \d+x\d+|Line2D\(|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"
)


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _code(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_the_suite_is_there():
    """Every notebook in notebooks/ is checked (found, not listed: a new one needs no edit)."""
    names = [p.stem for p in NOTEBOOKS]
    assert {
        "01-roundup",
        "02-company-profile",
        "03-data-security-review",
        "04-app-downloads",
        "05-funding-and-stakes",
    } <= set(names)


def test_a_new_notebook_is_checked_without_editing_a_test(tmp_path):
    """A sixth notebook in the notebooks folder is found by every house-rule test."""
    import os
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "notebooks"
    shutil.copytree(paths.notebooks_dir(), folder)
    shutil.copy(folder / "01-roundup.ipynb", folder / "06-newcomer.ipynb")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            __file__,
            "-q",
            "-o",
            "addopts=",
            "-m",
            "not e2e",
            "-k",
            "not new_notebook",
        ],
        env={**os.environ, "ROUNDUP_NOTEBOOKS_DIR": str(folder)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=paths.PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-o", "addopts=", "--collect-only"],
        env={**os.environ, "ROUNDUP_NOTEBOOKS_DIR": str(folder)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=paths.PROJECT_ROOT,
    )
    assert "06-newcomer" in listed.stdout


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_comes_first(path):
    code = _code(_nb(path))
    assert "parameters" in code[0].get("metadata", {}).get("tags", [])
    assert sum("parameters" in c.get("metadata", {}).get("tags", []) for c in code) == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_code_cell_has_stored_outputs(path):
    for cell in _code(_nb(path)):
        assert cell["execution_count"] is not None, cell["source"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chart_cells_store_an_image(path):
    charts = [c for c in _code(_nb(path)) if "chart" in c.get("metadata", {}).get("tags", [])]
    assert charts, "every notebook of the suite has at least one chart"
    for cell in charts:
        assert any("image/png" in o.get("data", {}) for o in cell["outputs"]), cell["source"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_backend_games_no_errors_no_volatile_output(path):
    nb = _nb(path)
    source = "\n".join("".join(c["source"]) for c in _code(nb))
    assert "matplotlib.use" not in source and "MPLBACKEND" not in source
    assert "read_csv" not in source  # notebooks never parse CSVs: they call the library
    outputs = json.dumps([c["outputs"] for c in _code(nb)])
    assert not VOLATILE.search(outputs)
    assert '"output_type": "error"' not in outputs
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_stay_thin(path):
    for cell in _code(_nb(path)):
        src = "".join(cell["source"])
        assert not re.search(r"^\s*(def|class) ", src, re.M), "logic belongs in analysis/"
        assert len(src.splitlines()) <= 25


@pytest.mark.e2e
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_are_what_the_pinned_environment_produces(path, tmp_path):
    """Byte for byte, images included: `make notebooks` has been run after the last change.

    nbval compares text and HTML; this also catches a chart that changed. If it fails,
    run `make notebooks` and review the diff.
    """
    from analysis import notebooks

    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    notebooks.refresh(copy)
    fresh, stored = _nb(copy), _nb(path)
    for i, (a, b) in enumerate(zip(fresh["cells"], stored["cells"], strict=True)):
        assert a.get("outputs") == b.get("outputs"), (
            f"cell {i} of {path.name}: run `make notebooks`"
        )
