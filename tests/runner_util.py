"""Helpers of the runner's fault tests: build synthetic reports, read what they published."""

from __future__ import annotations

from pathlib import Path

import nbformat

from analysis.reports import build as building
from analysis.reports import plan as planning


def _site(root: Path, notebook_writer, tiny_package_writer, notebooks: dict, **options):
    """Build one report per ``{name: cells}`` under ``root``; ``(site, summary)``."""
    data = tiny_package_writer(root / "data", ["Alpha"])
    reports = [
        planning.Report(name, notebook_writer(root / f"{name}.ipynb", "x = 1", cells), {}, root)
        for name, cells in notebooks.items()
    ]
    summary = building.build(reports, root / "site", data_dir=data, **options)
    return root / "site", summary


def _entry(summary, name: str) -> dict:
    return next(e for e in summary.entries if e["name"] == name)


def _run_dir(site: Path, summary, name: str) -> Path:
    return site / name / "runs" / _entry(summary, name)["run_id"]


def _stream_text(nb_path: Path) -> str:
    nb = nbformat.read(str(nb_path), as_version=4)
    return "".join(
        "".join(o.get("text", ""))
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream" and o.get("name") == "stdout"
    )
