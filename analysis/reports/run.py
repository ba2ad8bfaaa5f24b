"""Running one report: papermill in a fresh kernel, nbconvert to self-contained HTML, run.json.

:func:`run_report` is the job function every executor runs (local processes, dask workers). It
takes a picklable :class:`Job`, writes three files into ``job.output_dir`` and returns the
``run.json`` record as a dict; a notebook failure is a ``"failed"`` record, not an exception.

Files written: ``<name>.ipynb`` (the executed notebook), ``index.html`` (inputs hidden, images
embedded as ``data:`` URIs, no CDN scripts, a header with the parameters and status) and
``run.json``::

    {"report", "notebook", "parameters", "status": "ok" | "failed",
     "error": null | {"type", "message", "cell_index", "execution_count"},
     "run_id", "started", "finished", "duration_s", "versions": {...}, "inputs": {...},
     "files": {"html": "index.html", "notebook": "<name>.ipynb"}}

``error.cell_index`` indexes ``cells`` of the published ``.ipynb`` (papermill's error banner
included). ``inputs`` are the hashes of :func:`input_hashes`; equal hashes mean an unchanged
report.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat

from analysis import paths

__all__ = [
    "DEFAULT_TIMEOUT",
    "Job",
    "crash_record",
    "input_hashes",
    "run_report",
    "shared_hashes",
    "versions",
]

#: Per-cell execution timeout in seconds.
DEFAULT_TIMEOUT = 600
CHART_TAG = "chart"
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
_HIDDEN_TAGS = {"parameters", "injected-parameters"}
_VERSIONED = ("pandas", "matplotlib", "papermill", "nbconvert", "nbclient", "ipykernel")


@dataclass(frozen=True)
class Job:
    """Everything :func:`run_report` needs, picklable and self-contained.

    ``notebook``, ``output_dir`` and ``workdir`` are absolute paths (a dask worker must see the
    same file system). ``env`` is set in the worker's environment for the run and so reaches the
    kernel (e.g. ``ROUNDUP_DATA_DIR``). ``inputs`` are the hashes recorded in run.json.
    ``timeout`` is the per-cell limit in seconds.
    """

    name: str
    notebook: str
    parameters: dict[str, Any]
    output_dir: str
    workdir: str
    run_id: str
    inputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    timeout: int = DEFAULT_TIMEOUT
    kernel_name: str = "python3"

    @property
    def notebook_label(self) -> str:
        """The notebook's path relative to ``workdir`` (absolute when outside it)."""
        try:
            return Path(self.notebook).relative_to(self.workdir).as_posix()
        except ValueError:
            return self.notebook


# --------------------------------------------------------------------------- hashes


def _sha256(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(len(chunk).to_bytes(8, "big"))
        digest.update(chunk)
    return digest.hexdigest()


def _tree_hash(root: Path) -> str:
    """Hash of every file under ``root`` (names and contents), skipping hidden files and
    ``__pycache__``; the hash of nothing when ``root`` does not exist."""
    chunks: list[bytes] = []
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root)
            if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                continue
            if path.is_file():
                chunks += [rel.as_posix().encode(), path.read_bytes()]
    return _sha256(*chunks)


def notebook_hash(notebook: Path) -> str:
    """Hash of a notebook's cells (type and source only; outputs and metadata ignored)."""
    nb = nbformat.read(str(notebook), as_version=4)
    cells = [[cell.cell_type, cell.source] for cell in nb.cells]
    return _sha256(json.dumps(cells, ensure_ascii=False).encode())


def shared_hashes(data_dir: Path | None = None) -> dict[str, str]:
    """Hashes shared by every report of a build.

    ``{"data": <data folder>, "code": <analysis/ package>, "requirements_lock": <lock file>}``;
    ``data_dir`` defaults to :func:`analysis.paths.data_dir`.
    """
    lock = paths.PROJECT_ROOT / "requirements.lock"
    return {
        "data": _tree_hash(Path(data_dir) if data_dir else paths.data_dir()),
        "code": _tree_hash(paths.PROJECT_ROOT / "analysis"),
        "requirements_lock": _sha256(lock.read_bytes()) if lock.is_file() else _sha256(),
    }


def input_hashes(
    notebook: Path, parameters: Mapping[str, Any], shared: Mapping[str, str]
) -> dict[str, str]:
    """Hashes of everything a report's output depends on: ``shared`` (see
    :func:`shared_hashes`) plus ``notebook`` (cell sources) and ``parameters`` (canonical JSON).
    """
    params = json.dumps(parameters, sort_keys=True, ensure_ascii=False).encode()
    return {"notebook": notebook_hash(notebook), "parameters": _sha256(params), **shared}


def versions() -> dict[str, str]:
    """Versions of Python, the analysis package and the libraries a report depends on."""
    found = {"python": platform.python_version()}
    for key, dist in (*((d, d) for d in _VERSIONED), ("analysis", "china-tech-roundup")):
        try:
            found[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[key] = "not installed"
    return found


# --------------------------------------------------------------------------- running


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """Set ``env`` in ``os.environ`` for the duration of the block, then restore it.

    ``JPY_SESSION_NAME`` is removed meanwhile: a JupyterLab kernel passes it on to every child,
    and with it ``analysis.explore`` would take a headless report for a live front end.
    """
    saved = {key: os.environ.get(key) for key in [*env, "JPY_SESSION_NAME"]}
    os.environ.pop("JPY_SESSION_NAME", None)
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _stderr_to(log: Path) -> Iterator[None]:
    """Send this process's file descriptor 2 (and so the kernel's, which inherits it) to ``log``.

    A kernel writes its own log lines to stderr (e.g. ipykernel's "KeyboardInterrupt caught in
    kernel." when jupyter_client interrupts it at shutdown); they belong with the report's run,
    not in the build's log. Empty logs are removed.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(log, "ab") as fh:
            os.dup2(fh.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)
        if log.is_file() and log.stat().st_size == 0:
            log.unlink()


def _execute(job: Job, executed: Path) -> BaseException | None:
    """Run the notebook with papermill into ``executed``; return the exception, if any.

    The kernel talks over IPC sockets in a private temporary folder (``KernelManager.transport
    = "ipc"`` with its connection file there), so parallel kernels never race for TCP ports.
    """
    import papermill
    from traitlets.config import Config

    with (
        _environment(job.env),
        tempfile.TemporaryDirectory(prefix="roundup-kernel-") as sockets,
        _stderr_to(executed.parent / "kernel.log"),
    ):
        config = Config(
            {
                "KernelManager": {
                    "transport": "ipc",
                    "connection_file": os.path.join(sockets, "kernel.json"),
                }
            }
        )
        try:
            papermill.execute_notebook(
                job.notebook,
                str(executed),
                parameters=job.parameters,
                kernel_name=job.kernel_name,
                progress_bar=False,
                log_output=False,
                report_mode=False,
                cwd=job.workdir,
                execution_timeout=job.timeout,
                config=config,
            )
        except Exception as exc:  # papermill, nbclient (timeout, dead kernel), jupyter_client
            return exc
    return None


def _first_error(nb: nbformat.NotebookNode) -> dict[str, Any] | None:
    """The first ``error`` output of ``nb`` as a run.json error, or None."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return {
                    "type": output.get("ename", "Error"),
                    "message": output.get("evalue", ""),
                    "cell_index": index,
                    "execution_count": cell.get("execution_count"),
                }
    return None


def _missing_chart(nb: nbformat.NotebookNode) -> dict[str, Any] | None:
    """An error for the first code cell tagged ``chart`` without an ``image/png`` output."""
    missing = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        and CHART_TAG in cell.get("metadata", {}).get("tags", [])
        and not any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
    ]
    if not missing:
        return None
    return {
        "type": "MissingChart",
        "message": f"{len(missing)} cell(s) tagged '{CHART_TAG}' produced no image/png output "
        f"(cells {', '.join(map(str, missing))})",
        "cell_index": missing[0],
        "execution_count": nb.cells[missing[0]].get("execution_count"),
    }


def _last_started_cell(nb: nbformat.NotebookNode) -> int | None:
    """Index of the last cell papermill started (the one running when execution stopped)."""
    started = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.get("metadata", {}).get("papermill", {}).get("start_time")
    ]
    return started[-1] if started else None


def _error_of(exc: BaseException | None, nb: nbformat.NotebookNode) -> dict[str, Any] | None:
    """The run's error, or None for a good run.

    A cell error (papermill's exception, or any ``error`` output): the first error output. Any
    other exception (cell timeout, dead kernel, kernel that cannot start): the exception itself,
    at the cell that was running. Otherwise: a chart cell without an image, if any.
    """
    from papermill.exceptions import PapermillExecutionError

    from_outputs = _first_error(nb)
    if exc is not None and not isinstance(exc, PapermillExecutionError):
        index = _last_started_cell(nb)
        return {
            "type": type(exc).__name__,
            "message": str(exc).strip(),
            "cell_index": index,
            "execution_count": nb.cells[index].get("execution_count")
            if index is not None
            else None,
        }
    if from_outputs:
        return from_outputs
    if isinstance(exc, PapermillExecutionError):  # a cell failed without an error output
        return {
            "type": exc.ename,
            "message": exc.evalue,
            "cell_index": exc.cell_index,
            "execution_count": exc.exec_count,
        }
    return _missing_chart(nb)


def _export_html(nb: nbformat.NotebookNode, header: Mapping[str, Any]) -> str:
    """Self-contained HTML of an executed notebook.

    nbconvert's ``lab`` template through ``analysis/templates/report.html.j2``, which drops the
    require.js, MathJax, mermaid and widget scripts (all loaded from CDNs) and adds a header from
    ``header`` (name, notebook, parameters, status, finished, error). Code inputs and prompts are
    hidden; the ``parameters`` and ``injected-parameters`` cells are removed; images stay
    embedded as ``data:image/png;base64`` URIs (nbconvert's default).
    """
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
    body, _ = exporter.from_notebook_node(nb, resources={"roundup": dict(header)})
    return body


def _fallback_html(header: Mapping[str, Any], problem: str) -> str:
    """A minimal page for a run whose notebook could not be rendered."""
    title = html.escape(str(header["name"]))
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><h1>{title}</h1><p>Status: failed</p><pre>{html.escape(problem)}</pre>"
        "</body></html>\n"
    )


def _write_record(out: Path, record: Mapping[str, Any]) -> None:
    (out / "run.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", "utf-8")


def _error_text(error: Mapping[str, Any] | None) -> str:
    if not error:
        return ""
    where = f" (cell {error['cell_index']})" if error.get("cell_index") is not None else ""
    return f"{error['type']}: {error['message']}{where}"


def run_report(job: Job) -> dict[str, Any]:
    """Execute one report and write ``<name>.ipynb``, ``index.html`` and ``run.json`` into
    ``job.output_dir`` (created if needed). Returns the run.json record (see module docstring).

    The run is ``"failed"`` when papermill (or the kernel) raised, when any output is an error,
    or when a code cell tagged ``chart`` has no ``image/png`` output; the executed notebook and
    its HTML (with papermill's error banner) are still written. Raises only for an unusable
    ``output_dir``.
    """
    out = Path(job.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    executed = out / f"{job.name}.ipynb"
    started, clock = _now(), time.perf_counter()

    exc = _execute(job, executed)
    if executed.is_file():
        nb = nbformat.read(str(executed), as_version=4)
    else:  # the kernel never started: render the input notebook with the error in the header
        nb = nbformat.read(job.notebook, as_version=4)
        nbformat.write(nb, str(executed))
    error = _error_of(exc, nb)
    header = {
        "name": job.name,
        "notebook": job.notebook_label,
        "parameters": {k: json.dumps(v, ensure_ascii=False) for k, v in job.parameters.items()},
        "status": "failed" if error else "ok",
        "finished": _now(),
        "error": _error_text(error),
    }
    try:
        page = _export_html(nb, header)
    except Exception as export_exc:  # a broken output must not lose the run record
        error = error or {
            "type": type(export_exc).__name__,
            "message": f"HTML export failed: {export_exc}",
            "cell_index": None,
            "execution_count": None,
        }
        page = _fallback_html(header, _error_text(error))
    (out / "index.html").write_text(page, encoding="utf-8")

    record = {
        "report": job.name,
        "notebook": job.notebook_label,
        "parameters": job.parameters,
        "status": "failed" if error else "ok",
        "error": error,
        "run_id": job.run_id,
        "started": started,
        "finished": _now(),
        "duration_s": round(time.perf_counter() - clock, 3),
        "versions": versions(),
        "inputs": job.inputs,
        "files": {
            "html": "index.html",
            "notebook": executed.name,
            "kernel_log": "kernel.log" if (executed.parent / "kernel.log").is_file() else None,
        },
    }
    _write_record(out, record)
    return record


def crash_record(job: Job, exc: BaseException) -> dict[str, Any]:
    """The failed record of a job whose runner itself crashed (worker died, unexpected error):
    written as ``run.json`` plus a minimal ``index.html`` into ``job.output_dir`` and returned."""
    out = Path(job.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    error = {
        "type": type(exc).__name__,
        "message": str(exc) or repr(exc),
        "cell_index": None,
        "execution_count": None,
    }
    now = _now()
    header = {"name": job.name}
    (out / "index.html").write_text(_fallback_html(header, _error_text(error)), encoding="utf-8")
    record = {
        "report": job.name,
        "notebook": job.notebook_label,
        "parameters": job.parameters,
        "status": "failed",
        "error": error,
        "run_id": job.run_id,
        "started": now,
        "finished": now,
        "duration_s": 0.0,
        "versions": versions(),
        "inputs": job.inputs,
        "files": {"html": "index.html", "notebook": None},
    }
    _write_record(out, record)
    return record
