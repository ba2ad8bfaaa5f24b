"""Outcomes that never lie (issue 11): SVG figures are the same bytes on every run."""

from __future__ import annotations

import time

import nbformat
import pytest

from analysis.reports import build as building
from analysis.reports import plan as planning

pytestmark = pytest.mark.e2e

SVG_CELL = (
    "%config InlineBackend.figure_formats = ['svg']\n"
    "import matplotlib.pyplot as plt\n"
    "fig, ax = plt.subplots()\n"
    "ax.plot([1, 2, 3], [3, 1, 2])\n"
    "ax.set_title('one')"
)


def test_svg_figures_are_the_same_bytes_every_run(tmp_path, notebook_writer, tiny_package_writer):
    data = tiny_package_writer(tmp_path / "data", ["Alpha Co"])
    notebook = notebook_writer(tmp_path / "notebooks" / "svg.ipynb", "x = 1", [SVG_CELL])
    svgs = []
    for attempt in ("a", "b"):
        report = planning.adhoc_report(notebook, {}, tmp_path / "notebooks", name="svg")
        out = tmp_path / attempt
        summary = building.build([report], out, jobs=1, data_dir=data, force=True)
        assert [e["status"] for e in summary.entries] == ["ok"], summary.entries
        nb = nbformat.read(str(out / "svg" / "svg.ipynb"), as_version=4)
        [svg] = [
            o["data"]["image/svg+xml"]
            for c in nb.cells
            for o in c.get("outputs", [])
            if "image/svg+xml" in o.get("data", {})
        ]
        svgs.append(svg)
        time.sleep(1.1)  # a date to the second would differ
    assert svgs[0] == svgs[1]
