"""What readers see of one run: the executed notebook as self-contained HTML.

:func:`report_page` exports a notebook through nbconvert's ``lab`` template and
``analysis/templates/report.html.j2`` (a header with the parameters and status, an error banner
for a failed run, inputs hidden, images embedded, no CDN scripts); :func:`fallback_page` is the
banner-only page of a run whose notebook could not be rendered. The PDF is this page printed by
:mod:`analysis.reports.pdf` (called from :mod:`analysis.reports.job`).

One exporter serves every report of a process: making one compiles its dozen templates (0.3 s
here, more than the rest of a page), and :func:`warm_exporter` does that once in the workers'
fork server, so every worker starts with them compiled.
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.reports.record import RunError

if TYPE_CHECKING:  # nbformat loads jsonschema, slow to import: only when a report runs
    import nbformat

__all__ = ["TEMPLATES_DIR", "Header", "fallback_page", "report_page", "warm_exporter"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
#: Cells left out of a report's HTML: the parameters (shown in the header instead) and cells
#: that only make sense in a live front end (tag ``interactive-only``, e.g. a widget's caption).
_HIDDEN_TAGS = {"parameters", "injected-parameters", "interactive-only"}

Header = dict[str, Any]

_BANNER_CSS = (
    ".roundup-error-banner { background: #fdecea; color: #611a15; border: 2px solid #b00020; "
    "border-radius: 6px; padding: 10px 14px; margin: 8px 0; }"
    " .roundup-error-banner strong { color: #b00020; }"
    " .roundup-error-banner code { white-space: pre-wrap; word-break: break-word; }"
)


def readable_time(moment: datetime) -> str:
    """'29 Nov 2026, 19:33 UTC': how a page says when something happened."""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def header(
    name: str,
    notebook: str,
    parameters: Mapping[str, Any],
    error: RunError | None,
    nb: nbformat.NotebookNode | None = None,
    page: Mapping[str, Any] | None = None,
) -> Header:
    """The values ``report.html.j2`` shows around a report: ``name``, ``title`` (``name`` when
    ``page`` has none), ``notebook`` (label), ``parameters`` (as JSON texts), ``status``,
    ``finished`` (now), ``error`` (text), ``error_cell_id``/``error_source`` locating the failed
    cell of ``nb``, and the footer's ``page`` extras (data, sources, citation, changes: see
    :func:`analysis.reports.publication.page_extras`)."""
    page = dict(page or {})
    return {
        "name": name,
        "title": page.get("title") or name,
        "page": page,
        "notebook": notebook,
        "parameters": {k: json.dumps(v, ensure_ascii=False) for k, v in parameters.items()},
        "status": "failed" if error else "ok",
        "finished": readable_time(datetime.now(UTC)),
        "error": error.text() if error else "",
        **_error_location(nb, error),
    }


def _error_location(nb: nbformat.NotebookNode | None, error: RunError | None) -> dict[str, str]:
    """``{"error_cell_id", "error_source"}`` for the banner: the HTML anchor of the failed cell
    (nbconvert's ``cell-id=<id>``) and the first line of its (hidden) source."""
    index = error.cell_index if error else None
    if nb is None or index is None or not 0 <= index < len(nb.cells):
        return {"error_cell_id": "", "error_source": ""}
    cell = nb.cells[index]
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return {
        "error_cell_id": f"cell-id={cell.get('id')}" if cell.get("id") else "",
        "error_source": first if len(first) <= 120 else first[:119] + "…",
    }


def report_page(nb: nbformat.NotebookNode, head: Header) -> str:
    """Self-contained HTML of an executed notebook.

    nbconvert's ``lab`` template through ``analysis/templates/report.html.j2``, which drops the
    require.js, MathJax, mermaid and widget scripts (all loaded from CDNs) and adds a header from
    ``head`` (see :func:`header`). Code inputs and prompts are hidden; the ``parameters`` and
    ``injected-parameters`` cells are removed; images stay embedded as
    ``data:image/png;base64`` URIs (nbconvert's default). Raises what nbconvert raises.
    """
    exporter = _exporter()
    saved = nb.metadata.get("title")
    nb.metadata["title"] = head.get("title") or head.get("name")  # the page's <title>
    try:
        body, _ = exporter.from_notebook_node(nb, resources={"roundup": dict(head)})
    finally:
        if saved is None:
            nb.metadata.pop("title", None)
        else:
            nb.metadata["title"] = saved
    return body


@functools.cache
def _exporter() -> Any:
    """The process's ``HTMLExporter`` (see :func:`report_page`); its templates compile on the
    first page it renders and stay compiled (its Jinja environment caches them)."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    exporter = HTMLExporter(
        template_name="lab",
        template_file="report.html.j2",
        extra_template_paths=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        mathjax_url="",
        require_js_url="",
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(remove_cell_tags=_HIDDEN_TAGS, enabled=True), enabled=True
    )
    return exporter


def warm_exporter() -> None:
    """Render a small notebook (a text cell, a code cell with text and an image, a failed
    cell) so that the exporter's templates are compiled before the first report needs them."""
    from nbformat import v4

    png = (  # a 1x1 image
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5E"
        "rkJggg=="
    )
    nb = v4.new_notebook(
        cells=[
            v4.new_markdown_cell("# warm"),
            v4.new_code_cell(
                "x",
                outputs=[
                    v4.new_output("stream", name="stdout", text="x"),
                    v4.new_output("display_data", data={"image/png": png, "text/plain": "x"}),
                    v4.new_output("error", ename="E", evalue="e", traceback=["E: e"]),
                ],
            ),
        ]
    )
    error = RunError("E", "e", cell_index=1)
    report_page(nb, header("warm", "warm.ipynb", {"x": 1}, error, nb))


def fallback_page(name: str, problem: str) -> str:
    """A minimal page, with the error banner, for a run whose notebook could not be rendered."""
    title = html.escape(str(name))
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>body {{ font-family: system-ui, sans-serif; margin: 2em; }} {_BANNER_CSS}"
        f"</style></head><body><h1>{title}</h1>"
        '<div class="roundup-error-banner" id="roundup-error" role="alert">'
        f"<p><strong>This report failed.</strong> <code>{html.escape(problem)}</code></p>"
        "<p>No output could be shown. The site keeps the last good run of this report, if any."
        "</p></div></body></html>\n"
    )
