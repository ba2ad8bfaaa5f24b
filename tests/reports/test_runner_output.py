"""Outcomes that never lie (issue 11), output: SVG figures are the same bytes on every run, no
line of a flood of output is lost, and ``--max-output`` bounds the files in bytes."""

from __future__ import annotations

import time

import nbformat
import pytest
from runner_util import _entry, _run_dir, _site

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


# ------------------------------------------------------------------ no output is lost


def test_a_flood_of_flushed_lines_is_kept_whole(tmp_path, notebook_writer, tiny_package_writer):
    # one message per flushed print outran the client: past ~2,000 queued messages the kernel's
    # PUB socket dropped the rest (nbclient's sync wrapper started the base class's client, whose
    # sockets keep a 1,000-message receive limit), and the report was "ok" with a third of its
    # lines missing. 20,000 lines show it; ipykernel itself needs ~1 ms per flushed print on a
    # loaded machine, so 300,000 would take minutes whatever the runner does.
    flood = "for i in range(20_000):\n    print(i, flush=True)\nprint('done')"
    site, summary = _site(tmp_path, notebook_writer, tiny_package_writer, {"lines": [flood]})
    assert _entry(summary, "lines")["status"] == "ok", _entry(summary, "lines")["error"]
    nb = nbformat.read(str(_run_dir(site, summary, "lines") / "lines.ipynb"), as_version=4)
    [stream] = nb.cells[-1].outputs  # coalesced: one output, one block on the page
    lines = "".join(stream.text).splitlines()
    assert lines == [str(i) for i in range(20_000)] + ["done"]


# ------------------------------------------------------------------ --max-output in bytes


def test_max_output_bounds_the_page_and_the_notebook_in_bytes(
    tmp_path, notebook_writer, tiny_package_writer
):
    # 0.9 M characters pass a 1 MB limit counted in characters, but escaped for HTML ('<' is
    # '&lt;') the page was 3.6 MB: both files now stay within the limit, and the run says so
    limit = 1024 * 1024
    cells = ["print('before')", "print('<' * 900_000)", "print('after')"]
    site, summary = _site(
        tmp_path, notebook_writer, tiny_package_writer, {"big": cells}, max_output=limit
    )
    entry = _entry(summary, "big")
    assert entry["status"] == "failed" and entry["error"]["type"] == "OutputLimitExceeded"
    assert "--max-output" in entry["error"]["message"]
    run = _run_dir(site, summary, "big")
    for name in ("big.ipynb", "index.html"):
        assert (run / name).stat().st_size <= limit, name
    page = (run / "index.html").read_text(encoding="utf-8")
    assert "before" in page and "output cut here" in page
    # well under the limit, nothing is cut and the report is good
    small = _site(
        tmp_path / "small", notebook_writer, tiny_package_writer, {"s": ["print('<' * 1000)"]},
        max_output=limit,
    )[1]  # fmt: skip
    assert _entry(small, "s")["status"] == "ok"
