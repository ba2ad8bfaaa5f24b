"""Outcomes that never lie (issue 11), output: SVG figures are the same bytes on every run."""

from __future__ import annotations

import time

import nbformat
import pytest
from runner_util import _run_dir, _site

pytestmark = pytest.mark.e2e


# ------------------------------------------------------------------ 3. no output is lost


# ------------------------------------------------------------------ 5. deterministic SVG


def test_svg_figures_are_the_same_bytes_every_run(tmp_path, notebook_writer, tiny_package_writer):
    cells = [
        "%config InlineBackend.figure_formats = ['svg']\n"
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\n"
        "ax.plot([1, 2, 3], [3, 1, 2])\n"
        "ax.set_title('one')"
    ]
    svgs = []
    for attempt in ("a", "b"):
        site, summary = _site(
            tmp_path / attempt, notebook_writer, tiny_package_writer, {"svg": cells}
        )
        time.sleep(1.1)  # a date to the second would differ
        nb = nbformat.read(str(_run_dir(site, summary, "svg") / "svg.ipynb"), as_version=4)
        [svg] = [
            o["data"]["image/svg+xml"]
            for c in nb.cells
            for o in c.get("outputs", [])
            if "image/svg+xml" in o.get("data", {})
        ]
        svgs.append(svg)
    assert svgs[0] == svgs[1]
