"""The output limit in bytes: a report's executed notebook and its page each stay within it.

The engine stops a kernel whose output passes ``--max-output`` (so memory stays bounded); what
is kept can still make a bigger file (JSON per line, HTML escaping and markup). :func:`fit` cuts
outputs from the end until both files fit, and says so; the run then fails with
``OutputLimitExceeded``. Light: nbformat is imported when a file is over its limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["CUT_MARK", "fit"]

#: Ends a stream output that was cut to fit the limit.
CUT_MARK = "\n[... output cut here: the report passed its --max-output limit ...]\n"
_ATTEMPTS = 6


def _text(output: Any) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else text


def _drop(nb: Any, excess: int) -> None:
    """Remove about ``excess`` bytes of output from the end of ``nb`` (the last outputs first:
    a stream is cut and marked, any other output removed whole). Error outputs stay: they say
    why the run failed."""
    from analysis.reports.engine import output_size

    for cell in reversed(nb.cells):
        outputs = cell.get("outputs", [])
        for index in reversed(range(len(outputs))):
            if excess <= 0:
                return
            output = outputs[index]
            if output.get("output_type") == "error":
                continue
            size = output_size(output)
            if output.get("output_type") == "stream" and size > excess + len(CUT_MARK):
                text = _text(output)
                output["text"] = text[: max(len(text) - excess - len(CUT_MARK), 0)] + CUT_MARK
                return
            del outputs[index]
            excess -= max(size, 1)


def _output_chars(nb: Any) -> int:
    """Characters of all outputs of ``nb`` (see :func:`analysis.reports.engine.output_size`)."""
    from analysis.reports.engine import output_size

    return sum(output_size(o) for cell in nb.cells for o in cell.get("outputs", []))


def fit(nb: Any, page_of: Callable[[Any], str], limit: int) -> tuple[str, str, bool]:
    """``(notebook JSON, page HTML, cut)`` for ``nb`` with each file at most ``limit`` bytes
    (UTF-8). ``page_of(nb)`` renders the page. ``cut`` is True when outputs of ``nb`` (changed in
    place) were cut to fit; when that is not enough, every output but the errors is removed, then
    every output."""
    import nbformat

    text, page = nbformat.writes(nb), page_of(nb)
    cut = False
    for attempt in range(_ATTEMPTS + 1):
        over = max(len(text.encode()), len(page.encode())) - limit
        if over <= 0:
            return text, page, cut
        cut = True
        if attempt >= _ATTEMPTS - 2:  # the last resorts: errors only, then no output at all
            keep = ("error",) if attempt == _ATTEMPTS - 2 else ()
            for cell in nb.cells:
                if cell.get("outputs"):
                    cell.outputs = [o for o in cell.outputs if o.get("output_type") in keep]
        else:  # output characters to drop: the excess in bytes at the file's bytes per character
            biggest = max(len(text.encode()), len(page.encode()))
            _drop(nb, int((over + limit // 50 + 1024) * _output_chars(nb) / biggest) + 1)
        text, page = nbformat.writes(nb), page_of(nb)
    return text, page, cut
