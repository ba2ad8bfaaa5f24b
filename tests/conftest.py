"""Shared fixtures: a private copy of the data package that a test may break."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

from analysis import paths

# Kernels started here (nbval, the runner's tests) are headless even when pytest itself runs
# inside a JupyterLab kernel, whose JPY_SESSION_NAME every child would otherwise inherit.
os.environ.pop("JPY_SESSION_NAME", None)
# ... and draw SVG figures the same bytes on every run (nbval compares them), as report kernels do
from analysis.reports.job import deterministic_figures  # noqa: E402

os.environ.update(deterministic_figures(os.environ))

# Outside-style notebooks are inputs of tests/outside/test_outside_notebooks.py, not nbval's.
collect_ignore_glob = ["outside/*.ipynb"]


@pytest.fixture(autouse=True)
def _no_automatic_pdfs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds in tests make PDFs only when they ask (``pdf=True``, ``--pdf``) or are marked
    ``pdf_default``: a browser per worker would slow every build and upset the timing tests."""
    if request.node.get_closest_marker("pdf_default") is not None:
        return
    from analysis.reports.build import Build

    decide = Build._decide_pdf
    monkeypatch.setattr(
        Build, "_decide_pdf", lambda self: False if self.options.pdf is None else decide(self)
    )


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of data/ in a temporary folder, made the active data package (ROUNDUP_DATA_DIR)."""
    dest = tmp_path / "data"
    shutil.copytree(paths.PROJECT_ROOT / "data", dest)
    monkeypatch.setenv("ROUNDUP_DATA_DIR", str(dest))
    return dest


ARTICLE = "tc-2021-07"  # source ids of the July 2021 TechCrunch China Roundup (release 1's data)


@pytest.fixture
def article_data(data_copy: Path) -> Path:
    """data_copy cut down to the rows that cite the July 2021 TechCrunch roundup (release 1).

    Tests pinned to that article's facts (counts, lines, "the article gives no figure") run on
    it, so that later releases of data/ with more sources do not move them."""
    for path in data_copy.glob("*.csv"):
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        col = rows[0].index("source_id")
        kept = [rows[0]] + [r for r in rows[1:] if r[col].startswith(ARTICLE)]
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(kept)
    return data_copy


# --- Browser tests (marker ``browser``): skipped, with one clear line, when Chromium is absent.

_NO_CHROMIUM = (
    "Chromium not found at /usr/bin/chromium: browser tests skipped (apt-get install chromium)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every test marked ``browser`` when the system Chromium is missing."""
    from browser_util import chromium_available

    if chromium_available():
        return
    skip = pytest.mark.skip(reason=_NO_CHROMIUM)
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Say once, at the end, that the browser tests were skipped for want of Chromium."""
    skipped = [
        r
        for r in terminalreporter.stats.get("skipped", [])
        if isinstance(r.longrepr, tuple) and _NO_CHROMIUM in str(r.longrepr[-1])
    ]
    if skipped:
        terminalreporter.write_line(f"{_NO_CHROMIUM} ({len(skipped)} skipped)", yellow=True)


# --------------------------------------------------------------------------- report runner
# Fixtures for tests/test_reports_*.py: small synthetic notebooks and a tiny data package, so
# the runner's tests depend on neither the real notebooks nor the real data.

import json  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402

import nbformat  # noqa: E402

CellSpec = str | tuple[str, list[str]]


def _write_notebook(
    path: Path, parameters_source: str | None, cells: Sequence[CellSpec] = ()
) -> Path:
    """Write a notebook to ``path``: a markdown title, a code cell tagged ``parameters`` holding
    ``parameters_source`` (omitted when None), then ``cells`` (code sources or ``(source,
    [tags])`` pairs). Returns ``path``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells.append(nbformat.v4.new_markdown_cell(f"# {path.stem}"))
    if parameters_source is not None:
        cell = nbformat.v4.new_code_cell(parameters_source)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    for spec in cells:
        source, tags = (spec, []) if isinstance(spec, str) else spec
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def _write_tiny_package(folder: Path, companies: Sequence[str]) -> Path:
    """A minimal valid data package (``sources`` + ``companies``) in ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    required = {"required": True}
    package = {
        "name": "tiny",
        "resources": [
            {
                "name": "sources",
                "path": "sources.csv",
                "schema": {
                    "fields": [
                        {"name": "source_id", "type": "string", "constraints": required},
                        {"name": "title", "type": "string"},
                    ],
                    "primaryKey": ["source_id"],
                },
            },
            {
                "name": "companies",
                "path": "companies.csv",
                "schema": {
                    "fields": [
                        {
                            "name": "company",
                            "type": "string",
                            "constraints": {**required, "unique": True},
                        },
                        {"name": "employees", "type": "integer", "unit": "people"},
                        {"name": "source_id", "type": "string", "constraints": required},
                    ],
                    "primaryKey": ["company"],
                    "foreignKeys": [
                        {
                            "fields": ["source_id"],
                            "reference": {"resource": "sources", "fields": ["source_id"]},
                        }
                    ],
                },
            },
        ],
    }
    (folder / "datapackage.json").write_text(json.dumps(package, indent=1), encoding="utf-8")
    (folder / "sources.csv").write_text("source_id,title\ns1,A source\n", encoding="utf-8")
    rows = "".join(f"{c},{10 * (i + 1)},s1\n" for i, c in enumerate(companies))
    (folder / "companies.csv").write_text(f"company,employees,source_id\n{rows}", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def notebook_writer() -> Callable[..., Path]:
    """``write(path, parameters_source, cells=())``: write a synthetic notebook (any scope)."""
    return _write_notebook


@pytest.fixture(scope="session")
def tiny_package_writer() -> Callable[[Path, Sequence[str]], Path]:
    """``write(folder, companies)``: write a minimal valid data package (any scope)."""
    return _write_tiny_package


@pytest.fixture
def make_notebook(tmp_path: Path) -> Callable[..., Path]:
    """``make_notebook(name, parameters_source, cells=())``: a notebook in tmp_path/notebooks."""

    def make(name: str, parameters_source: str | None, cells: Sequence[CellSpec] = ()) -> Path:
        return _write_notebook(tmp_path / "notebooks" / name, parameters_source, cells)

    return make


@pytest.fixture
def tiny_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny data package (companies "Alpha Co" and "Beta") made active via ROUNDUP_DATA_DIR."""
    folder = _write_tiny_package(tmp_path / "data", ["Alpha Co", "Beta"])
    monkeypatch.setenv("ROUNDUP_DATA_DIR", str(folder))
    return folder
