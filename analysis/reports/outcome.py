"""How a run ended: the error of an executed notebook, and where it shows.

:func:`error_of` turns what papermill raised (or nothing) and the executed notebook into the
run's :class:`~analysis.reports.record.RunError`, or None for a good run; :func:`mark_failed_cell`
puts that error into the notebook as an output of the cell it names. Light: papermill and
nbformat are imported only while a report runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from analysis.reports.record import RunError

if TYPE_CHECKING:
    import nbformat

__all__ = ["CHART_TAG", "clean_exit", "error_of", "mark_failed_cell"]

#: Tag of a code cell that must produce an ``image/png`` output.
CHART_TAG = "chart"


def clean_exit(output: dict) -> bool:
    """Is ``output`` the error output of ``sys.exit(0)``/``raise SystemExit``? papermill ends the
    notebook there as completed (it raises nothing, and runs no later cell): so does a report."""
    return output.get("ename") == "SystemExit" and output.get("evalue") in ("", "0", "None")


def _first_error(nb: nbformat.NotebookNode) -> RunError | None:
    """The first ``error`` output of ``nb`` before a clean exit (:func:`clean_exit`), or None."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and clean_exit(output):
                return None
            if output.get("output_type") == "error":
                return RunError(
                    output.get("ename", "Error"),
                    output.get("evalue", ""),
                    index,
                    cell.get("execution_count"),
                )
    return None


def _missing_chart(nb: nbformat.NotebookNode) -> RunError | None:
    """An error for the first code cell tagged ``chart`` without an ``image/png`` output (cells
    after a clean exit never ran, so need none)."""
    ends = [
        index
        for index, cell in enumerate(nb.cells)
        if any(o.get("output_type") == "error" and clean_exit(o) for o in cell.get("outputs", []))
    ]
    missing = [
        index
        for index, cell in enumerate(nb.cells[: ends[0] if ends else None])
        if cell.cell_type == "code"
        and CHART_TAG in cell.get("metadata", {}).get("tags", [])
        and not any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
    ]
    if not missing:
        return None
    return RunError(
        "MissingChart",
        f"{len(missing)} cell(s) tagged '{CHART_TAG}' produced no image/png output "
        f"(cells {', '.join(map(str, missing))})",
        missing[0],
        nb.cells[missing[0]].get("execution_count"),
    )


def _last_started_cell(nb: nbformat.NotebookNode) -> int | None:
    """Index of the last cell papermill started (the one running when execution stopped)."""
    started = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    return started[-1] if started else None


def error_of(exc: BaseException | None, nb: nbformat.NotebookNode) -> RunError | None:
    """The run's error, or None for a good run.

    A cell error (papermill's exception, or any ``error`` output): the first error output. Any
    other exception (cell timeout, dead kernel, kernel that cannot start, a limit): the
    exception itself, at the cell that was running. Otherwise: a chart cell without an image.
    """
    from papermill.exceptions import PapermillExecutionError

    if exc is not None and not isinstance(exc, PapermillExecutionError):
        index = getattr(exc, "cell_index", None)
        if not isinstance(index, int) or not 0 <= index < len(nb.cells):
            index = _last_started_cell(nb)
        count = nb.cells[index].get("execution_count") if index is not None else None
        return RunError(type(exc).__name__, str(exc).strip(), index, count)
    from_outputs = _first_error(nb)
    if from_outputs:
        return from_outputs
    if isinstance(exc, PapermillExecutionError):  # a cell failed without an error output
        return RunError(exc.ename, exc.evalue, exc.cell_index, exc.exec_count)
    return _missing_chart(nb)


def mark_failed_cell(nb: nbformat.NotebookNode, error: RunError | None) -> bool:
    """Add ``error`` as an error output of the cell it names, unless that cell shows an error
    already (papermill's, or the output limit's); True if ``nb`` changed."""
    index = error.cell_index if error else None
    if error is None or index is None or not 0 <= index < len(nb.cells):
        return False
    cell = nb.cells[index]
    if cell.cell_type != "code" or any(
        o.get("output_type") == "error" for o in cell.get("outputs", [])
    ):
        return False
    from analysis.reports.engine import error_output

    cell.outputs.append(error_output(error.type, error.message))
    return True
