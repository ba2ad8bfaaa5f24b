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
     "limits": {"cell_timeout_s", "report_timeout_s", "max_output_chars"},
     "files": {"html": "index.html", "notebook": "<name>.ipynb", "kernel_log": null | "kernel.log"}}

``error.cell_index`` indexes ``cells`` of the published ``.ipynb`` (papermill's error banner
included). ``inputs`` are the hashes of :func:`input_hashes`; equal hashes mean an unchanged
report.

Limits, each ending the run as ``"failed"`` with its own ``error.type`` (the executed notebook
gets the error as an output of the cell that was running, and the HTML an error banner):

``CellTimeoutError``      one cell ran longer than ``Job.timeout`` seconds (nbclient).
``ReportTimeoutError``    the report ran longer than ``Job.report_timeout`` seconds in all: each
                          cell's timeout is capped at the time the report has left, and no cell
                          starts after the deadline.
``OutputLimitExceeded``   the outputs the report keeps (text, images, errors; cleared output no
                          longer counts) passed ``Job.max_output`` characters: the output that
                          crossed the limit is cut, later output is dropped, and the kernel is
                          killed at once, so neither memory nor the HTML grows with it.
``DeadKernelError``       the kernel process died (``os._exit``, a segfault, the OOM killer);
                          the message gives its exit code, and its own stderr is in kernel.log.

The limits are enforced in the job process by the papermill engine ``"roundup"`` (see
:func:`_engine`), a subclass of papermill's nbclient engine whose notebook client counts the
outputs as they arrive and caps cell timeouts: nbclient has no output limit of its own, and
papermill's ``execution_timeout`` is per cell.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import html
import json
import logging
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # nbformat loads jsonschema, slow to import: only when a report runs
    import nbformat

from analysis import paths

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "DEFAULT_REPORT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "Job",
    "OutputLimitExceeded",
    "ReportTimeoutError",
    "abort_running_reports",
    "crash_record",
    "input_hashes",
    "run_report",
    "run_report_returning_files",
    "shared_hashes",
    "versions",
    "write_files",
]

#: Per-cell execution timeout in seconds.
DEFAULT_TIMEOUT = 600
#: Wall-clock limit of one report's execution in seconds (all cells together).
DEFAULT_REPORT_TIMEOUT = 1800
#: Limit of a report's kept output in characters (about bytes: text, base64 images).
DEFAULT_MAX_OUTPUT = 10 * 1024 * 1024
#: kernel.log is cut to this many bytes (its head and tail) after the run.
KERNEL_LOG_LIMIT = 1024 * 1024
CHART_TAG = "chart"
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
#: Cells left out of a report's HTML: the parameters (shown in the header instead) and cells
#: that only make sense in a live front end (tag ``interactive-only``, e.g. a widget's caption).
_HIDDEN_TAGS = {"parameters", "injected-parameters", "interactive-only"}
_VERSIONED = ("pandas", "matplotlib", "papermill", "nbconvert", "nbclient", "ipykernel")


#: Name of the fork-server kernel (:mod:`analysis.reports.kernels`): a fresh kernel per
#: report, forked from a process that has already imported pandas, matplotlib and analysis.
FORK_KERNEL = "roundup-fork"


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
    kernel_name: str = "python3"  # FORK_KERNEL: a fork-server kernel (analysis.reports.kernels)
    report_timeout: float = DEFAULT_REPORT_TIMEOUT
    max_output: int = DEFAULT_MAX_OUTPUT

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
    nb = read_notebook_json(notebook)
    cells = [[cell.get("cell_type"), _source(cell)] for cell in nb.get("cells", [])]
    return _sha256(json.dumps(cells, ensure_ascii=False).encode())


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def read_notebook_json(notebook: Path) -> dict[str, Any]:
    """A notebook file as plain JSON (no nbformat: its import costs about a second).

    Raises ``OSError`` if it cannot be read and ``ValueError`` if it is not a notebook.
    """
    with open(notebook, encoding="utf-8") as fh:
        nb = json.load(fh)
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{notebook} is not a Jupyter notebook (no list of cells)")
    return nb


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


def _readable_time(moment: datetime) -> str:
    """'29 Nov 2026, 19:33 UTC': how a report's header says when it ran."""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


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


class ReportTimeoutError(RuntimeError):
    """The report ran longer than its wall-clock limit (``Job.report_timeout``)."""

    def __init__(self, message: str, cell_index: int | None):
        super().__init__(message)
        self.cell_index = cell_index


class OutputLimitExceeded(RuntimeError):
    """The report's kept output passed its limit (``Job.max_output``); the kernel was killed."""

    def __init__(self, message: str, cell_index: int | None):
        super().__init__(message)
        self.cell_index = cell_index


@dataclass(frozen=True)
class _Limits:
    deadline: float  # time.monotonic() at which the report's time is up
    report_timeout: float
    max_output: int


#: Notebook clients running in this process, for :func:`abort_running_reports`.
_LIVE_CLIENTS: weakref.WeakSet[Any] = weakref.WeakSet()
#: Private folders of running kernels (IPC sockets), removed by :func:`abort_running_reports`.
_LIVE_DIRS: set[str] = set()


def abort_running_reports() -> None:
    """Kill every kernel this process started for a report and remove their socket folders.

    For a signal handler (a worker told to stop): synchronous, never raises. A kernel started by
    jupyter_client has its own process group, which is killed whole (its children too).
    """
    for client in list(_LIVE_CLIENTS):
        provisioner = getattr(getattr(client, "km", None), "provisioner", None)
        pgid = getattr(provisioner, "pgid", None)
        process = getattr(provisioner, "process", None)
        with contextlib.suppress(Exception):
            if pgid and pgid != os.getpgrp():
                os.killpg(pgid, signal.SIGKILL)
            elif process is not None:
                process.kill()
    for folder in list(_LIVE_DIRS):
        shutil.rmtree(folder, ignore_errors=True)


def _output_size(output: Mapping[str, Any]) -> int:
    """Characters an output keeps in the notebook (text, data values, traceback)."""

    def size(value: Any) -> int:
        if isinstance(value, str):
            return len(value)
        if isinstance(value, list):
            return sum(size(v) for v in value)
        return len(json.dumps(value, default=str))

    kind = output.get("output_type")
    if kind == "stream":
        return size(output.get("text", ""))
    if kind == "error":
        return size(output.get("traceback", [])) + size(output.get("evalue", ""))
    return sum(size(v) for v in output.get("data", {}).values())


def _error_output(ename: str, message: str) -> nbformat.NotebookNode:
    import nbformat

    return nbformat.v4.new_output(
        "error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"]
    )


def _mb(chars: float) -> str:
    return f"{chars / 1024 / 1024:.1f} MB"


@functools.cache
def _engine() -> type:
    """papermill's nbclient engine with :class:`_LimitedClient`, registered as ``"roundup"``.

    Built on first use (papermill and nbclient are imported only by a run).
    """
    import asyncio

    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbclient.util import ensure_async, run_sync
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines

    class _LimitedClient(PapermillNotebookClient):
        """papermill's client with a report deadline and an output limit (module docstring)."""

        def __init__(self, nb_man: Any, limits: _Limits, **kwargs: Any):
            super().__init__(nb_man, **kwargs)
            self.limits = limits
            self.timeout_func = self._cell_timeout
            self._capped_by_report = False
            self._sizes: dict[int, int] = {}
            self._overflow_cell: int | None = None
            self._kill: Any = None
            _LIVE_CLIENTS.add(self)

        # -- time
        def _cell_timeout(self, cell: Any) -> float | None:
            """The cell's timeout: ``timeout``, or less if the report has less time left."""
            left = max(self.limits.deadline - time.monotonic(), 0.01)
            self._capped_by_report = not self.timeout or left < self.timeout
            return left if self._capped_by_report else self.timeout

        def _report_timeout(self, cell_index: int) -> ReportTimeoutError:
            self.shutdown_kernel = "immediate"  # the cell may still be running
            return ReportTimeoutError(
                f"the report ran longer than its limit of {self.limits.report_timeout:g} s "
                "(--report-timeout) and was stopped",
                cell_index,
            )

        # -- output
        def _overflow(self) -> OutputLimitExceeded:
            return OutputLimitExceeded(
                f"the report's output passed its limit of {_mb(self.limits.max_output)} "
                "(--max-output); the output was cut there and the kernel was stopped",
                self._overflow_cell,
            )

        def _track(self, outs: list[Any], cell_index: int, added: Any, cleared: bool) -> None:
            if cleared:
                self._sizes[cell_index] = sum(_output_size(o) for o in outs)
            else:
                self._sizes[cell_index] = self._sizes.get(cell_index, 0) + _output_size(added)
            over = sum(self._sizes.values()) - self.limits.max_output
            if over <= 0:
                return
            # cut the output that crossed the limit, say so in the cell, kill the kernel
            if added is not None and added.get("output_type") == "stream":
                text = "".join(added["text"]) if isinstance(added["text"], list) else added["text"]
                added["text"] = text[: max(len(text) - over, 0)]
            elif added is not None and added in outs:
                outs.remove(added)
            self._overflow_cell = cell_index
            outs.append(_error_output("OutputLimitExceeded", str(self._overflow())))
            self.shutdown_kernel = "immediate"
            self._kill = asyncio.ensure_future(ensure_async(self.km.signal_kernel(signal.SIGKILL)))

        def output(self, outs: list[Any], msg: dict[str, Any], display_id: Any, cell_index: int):
            if self._overflow_cell is not None:
                return None  # the kernel is being killed: drop what is still in flight
            before = len(outs)
            out = super().output(outs, msg, display_id, cell_index)
            if out is not None:
                self._track(outs, cell_index, out, cleared=len(outs) <= before)
            return out

        def clear_output(self, outs: list[Any], msg: dict[str, Any], cell_index: int) -> None:
            super().clear_output(outs, msg, cell_index)
            if not outs:
                self._sizes[cell_index] = 0

        # -- cells
        async def async_execute_cell(
            self,
            cell: Any,
            cell_index: int,
            execution_count: int | None = None,
            store_history: bool = True,
        ) -> Any:
            runs = cell.cell_type == "code" and cell.source.strip()
            if runs and self._overflow_cell is not None:
                raise self._overflow()
            if runs and time.monotonic() >= self.limits.deadline:
                raise self._report_timeout(cell_index)
            self._sizes[cell_index] = 0
            try:
                result = await super().async_execute_cell(
                    cell, cell_index, execution_count, store_history
                )
            except CellTimeoutError:
                if self._capped_by_report:
                    raise self._report_timeout(cell_index) from None
                raise
            except DeadKernelError:
                if self._overflow_cell is not None:
                    raise self._overflow() from None
                code = None
                with contextlib.suppress(Exception):
                    code = await self.km.provisioner.poll()
                status = f" (exit code {code})" if code is not None else ""
                raise DeadKernelError(
                    f"the kernel died{status}; its stderr is in kernel.log"
                ) from None
            if self._overflow_cell is not None:  # the cell ended before the kill landed
                raise self._overflow()
            return result

        execute_cell = run_sync(async_execute_cell)

    class _Engine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(
            cls,
            nb_man: Any,
            kernel_name: str,
            log_output: bool = False,
            stdout_file: Any = None,
            stderr_file: Any = None,
            start_timeout: int = 60,
            execution_timeout: int | None = None,
            limits: _Limits | None = None,
            **kwargs: Any,
        ) -> Any:
            kwargs.pop("input_path", None)
            client = _LimitedClient(
                nb_man,
                limits,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logging.getLogger("papermill"),
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
                **kwargs,
            )
            try:
                return client.execute()
            finally:
                _LIVE_CLIENTS.discard(client)

    papermill_engines.register("roundup", _Engine)
    return _Engine


def _kernel_kwargs(kernel_name: str) -> dict[str, Any]:
    """papermill keywords for a kernel: the fork-server kernel needs its own kernel manager."""
    if kernel_name == FORK_KERNEL:
        from analysis.reports.kernels import provisioner

        return provisioner.execute_kwargs()
    return {"kernel_name": kernel_name}


def _execute(job: Job, executed: Path) -> BaseException | None:
    """Run the notebook with papermill into ``executed``; return the exception, if any.

    The kernel talks over IPC sockets in a private temporary folder (``KernelManager.transport
    = "ipc"`` with its connection file there), so parallel kernels never race for TCP ports.
    The engine ``"roundup"`` (:func:`_engine`) enforces ``job.report_timeout`` and
    ``job.max_output``.
    """
    import papermill
    from traitlets.config import Config

    _engine()
    limits = _Limits(time.monotonic() + job.report_timeout, job.report_timeout, job.max_output)
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
        _LIVE_DIRS.add(sockets)
        try:
            papermill.execute_notebook(
                job.notebook,
                str(executed),
                parameters=job.parameters,
                engine_name="roundup",
                **_kernel_kwargs(job.kernel_name),
                progress_bar=False,
                log_output=False,
                report_mode=False,
                cwd=job.workdir,
                execution_timeout=job.timeout,
                limits=limits,
                config=config,
            )
        except Exception as exc:  # papermill, nbclient (timeouts, dead kernel), our limits
            return exc
        finally:
            _LIVE_DIRS.discard(sockets)
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
        index = getattr(exc, "cell_index", None)
        if not isinstance(index, int) or not 0 <= index < len(nb.cells):
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


def _mark_failed_cell(nb: nbformat.NotebookNode, error: Mapping[str, Any] | None) -> bool:
    """Add ``error`` as an error output of the cell it names, unless that cell shows an error
    already (papermill's, or the output limit's); True if ``nb`` changed."""
    index = (error or {}).get("cell_index")
    if index is None or not 0 <= index < len(nb.cells):
        return False
    cell = nb.cells[index]
    if cell.cell_type != "code" or any(
        o.get("output_type") == "error" for o in cell.get("outputs", [])
    ):
        return False
    cell.outputs.append(_error_output(str(error["type"]), str(error["message"])))
    return True


def _error_location(nb: nbformat.NotebookNode, error: Mapping[str, Any] | None) -> dict[str, str]:
    """``{"error_cell_id", "error_source"}`` for the banner: the HTML anchor of the failed cell
    (nbconvert's ``cell-id=<id>``) and the first line of its (hidden) source."""
    index = (error or {}).get("cell_index")
    if index is None or not 0 <= index < len(nb.cells):
        return {"error_cell_id": "", "error_source": ""}
    cell = nb.cells[index]
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return {
        "error_cell_id": f"cell-id={cell.get('id')}" if cell.get("id") else "",
        "error_source": first if len(first) <= 120 else first[:119] + "…",
    }


def _cap_file(path: Path, limit: int) -> None:
    """Cut ``path`` to its first and last ``limit // 2`` bytes when it is larger than ``limit``."""
    if not path.is_file() or path.stat().st_size <= limit:
        return
    with open(path, "rb") as fh:
        head = fh.read(limit // 2)
        fh.seek(-(limit // 2), os.SEEK_END)
        tail = fh.read()
    cut = f"\n[... cut: kernel.log was larger than {limit} bytes ...]\n".encode()
    path.write_bytes(head + cut + tail)


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


_BANNER_CSS = (
    ".roundup-error-banner { background: #fdecea; color: #611a15; border: 2px solid #b00020; "
    "border-radius: 6px; padding: 10px 14px; margin: 8px 0; }"
    " .roundup-error-banner strong { color: #b00020; }"
    " .roundup-error-banner code { white-space: pre-wrap; word-break: break-word; }"
)


def _fallback_html(header: Mapping[str, Any], problem: str) -> str:
    """A minimal page, with the error banner, for a run whose notebook could not be rendered."""
    title = html.escape(str(header["name"]))
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


def _write_record(out: Path, record: Mapping[str, Any]) -> None:
    (out / "run.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", "utf-8")


def _error_text(error: Mapping[str, Any] | None) -> str:
    if not error:
        return ""
    where = f" (cell {error['cell_index']})" if error.get("cell_index") is not None else ""
    return f"{error['type']}: {error['message']}{where}"


def _limits_of(job: Job) -> dict[str, Any]:
    return {
        "cell_timeout_s": job.timeout,
        "report_timeout_s": job.report_timeout,
        "max_output_chars": job.max_output,
    }


def run_report(job: Job) -> dict[str, Any]:
    """Execute one report and write ``<name>.ipynb``, ``index.html`` and ``run.json`` into
    ``job.output_dir`` (created if needed). Returns the run.json record (see module docstring).

    The run is ``"failed"`` when papermill (or the kernel) raised, when a limit was hit (see the
    module docstring), when any output is an error, or when a code cell tagged ``chart`` has no
    ``image/png`` output; the executed notebook (the error as an output of the cell that failed)
    and its HTML (an error banner at the top) are still written. Raises only for an unusable
    ``output_dir``.
    """
    out = Path(job.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    executed = out / f"{job.name}.ipynb"
    started, clock = _now(), time.perf_counter()

    import nbformat

    exc = _execute(job, executed)
    if executed.is_file():
        nb = nbformat.read(str(executed), as_version=4)
    else:  # the kernel never started: render the input notebook with the error in the header
        nb = nbformat.read(job.notebook, as_version=4)
        nbformat.write(nb, str(executed))
    error = _error_of(exc, nb)
    if _mark_failed_cell(nb, error):
        nbformat.write(nb, str(executed))
    _cap_file(out / "kernel.log", KERNEL_LOG_LIMIT)
    header = {
        "name": job.name,
        "notebook": job.notebook_label,
        "parameters": {k: json.dumps(v, ensure_ascii=False) for k, v in job.parameters.items()},
        "status": "failed" if error else "ok",
        "finished": _readable_time(datetime.now(UTC)),
        "error": _error_text(error),
        **_error_location(nb, error),
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
        "limits": _limits_of(job),
        "files": {
            "html": "index.html",
            "notebook": executed.name,
            "kernel_log": "kernel.log" if (executed.parent / "kernel.log").is_file() else None,
        },
    }
    _write_record(out, record)
    return record


def _failed_record(job: Job, error_type: str, message: str) -> dict[str, Any]:
    """Write a failed ``run.json`` and a banner-only ``index.html`` into ``job.output_dir``."""
    out = Path(job.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    error = {"type": error_type, "message": message, "cell_index": None, "execution_count": None}
    now = _now()
    page = _fallback_html({"name": job.name}, _error_text(error))
    (out / "index.html").write_text(page, encoding="utf-8")
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
        "limits": _limits_of(job),
        "files": {"html": "index.html", "notebook": None, "kernel_log": None},
    }
    _write_record(out, record)
    return record


def crash_record(job: Job, exc: BaseException) -> dict[str, Any]:
    """The failed record of a job whose runner itself crashed (worker died, unexpected error):
    written as ``run.json`` plus a minimal ``index.html`` into ``job.output_dir`` and returned."""
    return _failed_record(job, type(exc).__name__, str(exc) or repr(exc))


def run_report_returning_files(job: Job) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The job function for workers that may not share the client's file system (dask).

    Runs :func:`run_report` into a private temporary folder on the worker and returns
    ``(record, {file name: bytes})``; the caller writes the files into ``job.output_dir`` (see
    :func:`write_files`). The notebook and ``workdir`` must exist at the same paths on the
    worker. The data folder is ``job.env["ROUNDUP_DATA_DIR"]`` when the worker has it, else
    the worker's own ``ROUNDUP_DATA_DIR``; either way its hash must equal ``job.inputs["data"]``
    (the data the client hashed), or the run fails without starting a kernel.
    """
    env = dict(job.env)
    data = env.get("ROUNDUP_DATA_DIR")
    problem = None
    if not Path(job.notebook).is_file():
        problem = (
            f"notebook {job.notebook} not found on worker {platform.node()}: a worker needs "
            "the project at the same path"
        )
    elif data and not Path(data).is_dir():
        own = os.environ.get("ROUNDUP_DATA_DIR")
        if own and Path(own).is_dir():
            env["ROUNDUP_DATA_DIR"] = own
        else:
            problem = (
                f"data folder {data} not found on worker {platform.node()}: put it at the same "
                "path, or set ROUNDUP_DATA_DIR in the worker's environment"
            )
    if problem is None and env.get("ROUNDUP_DATA_DIR") and "data" in job.inputs:
        if _tree_hash(Path(env["ROUNDUP_DATA_DIR"])) != job.inputs["data"]:
            problem = (
                f"the data folder {env['ROUNDUP_DATA_DIR']} on worker {platform.node()} differs "
                "from the one the build hashed"
            )
    with tempfile.TemporaryDirectory(prefix="roundup-job-") as tmp:
        local = dataclasses.replace(job, output_dir=tmp, env=env)
        if problem is not None:
            record = _failed_record(local, "WorkerSetupError", problem)
        else:
            record = run_report(local)
        files = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
    return record, files


def write_files(output_dir: Path | str, files: Mapping[str, bytes]) -> None:
    """Write the files returned by :func:`run_report_returning_files` into ``output_dir``."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if Path(name).name != name or name.startswith("."):
            raise ValueError(f"unexpected file name from a worker: {name!r}")
        (out / name).write_bytes(content)
