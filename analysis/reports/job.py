"""One report run: the job function every executor runs (local processes, dask workers).

:func:`run_report` takes a picklable :class:`Job`, executes the notebook with papermill (engine
``"roundup"``, :mod:`analysis.reports.engine`) in a fresh kernel, and writes into
``job.output_dir``: ``<name>.ipynb`` (the executed notebook), ``index.html``
(:mod:`analysis.reports.render`), ``<name>.pdf`` (a good run's page printed by Chromium when
``job.pdf``; one browser per worker process, :func:`analysis.reports.pdf.process_renderer`),
``run.json`` (:class:`analysis.reports.record.RunRecord`, also
returned) and ``kernel.log`` (the kernel's own stderr, if any). A notebook failure is a
``"failed"`` record, not an exception; each limit ends the run with its own ``error.type``:

``CellTimeoutError``      one cell ran longer than ``Job.timeout`` seconds (nbclient).
``ReportTimeoutError``    the report ran longer than ``Job.report_timeout`` seconds in all.
``OutputLimitExceeded``   the report's output passed ``Job.max_output`` bytes (the executed
                          notebook and the page are each cut to stay within it).
``OutputLost``            a cell's output could not all be read (:mod:`analysis.reports.engine`).
``DeadKernelError``       the kernel process died (``os._exit``, a segfault, the OOM killer).
``MissingChart``          a code cell tagged ``chart`` produced no ``image/png``.
``PdfError``              the PDF of a good run could not be made (its page shows the banner).

The kernel's environment is this process's plus ``ROUNDUP_DATA_DIR=job.data_dir`` (the
notebooks' first cell reads it through :mod:`analysis.paths`); this process's own environment
is never changed. This module is light (papermill, nbformat and nbconvert load when a report
runs), so executors can import it in the build process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.reports import render
from analysis.reports.fingerprint import tree_hash
from analysis.reports.options import (
    DEFAULT_MAX_OUTPUT,
    DEFAULT_PDF_TIMEOUT,
    DEFAULT_REPORT_TIMEOUT,
    DEFAULT_TIMEOUT,
    FORK_KERNEL,
)
from analysis.reports.outcome import error_of, mark_failed_cell
from analysis.reports.record import RunError, RunRecord, now_iso, versions

__all__ = [
    "Job",
    "abort_running_reports",
    "crash_record",
    "deterministic_figures",
    "kernel_environment",
    "quiet_kernel_log",
    "run_report",
    "run_report_returning_files",
    "write_files",
]

#: kernel.log is cut to this many bytes (its head and tail) after the run.
KERNEL_LOG_LIMIT = 1024 * 1024
#: Private folders of running kernels (IPC sockets), removed by :func:`abort_running_reports`.
_LIVE_DIRS: set[str] = set()


@dataclass(frozen=True)
class Job:
    """Everything :func:`run_report` needs, picklable and self-contained.

    ``notebook``, ``output_dir`` and ``workdir`` are absolute paths (a dask worker must see the
    same file system). ``data_dir`` is the data package the kernel reads (``ROUNDUP_DATA_DIR``
    in the kernel's environment; None: the kernel's default). ``inputs`` are the hashes recorded
    in run.json. ``timeout`` is the per-cell limit and ``report_timeout`` the whole report's
    limit in seconds; ``max_output`` the limit in bytes of the executed notebook and of the page. ``pdf``: also
    print a good run to ``<name>.pdf`` with the Chromium at ``chromium`` (None: the default
    path), allowing ``pdf_timeout`` seconds.
    """

    name: str
    notebook: str
    parameters: dict[str, Any]
    output_dir: str
    workdir: str
    run_id: str
    inputs: dict[str, str] = field(default_factory=dict)
    data_dir: str | None = None
    timeout: int = DEFAULT_TIMEOUT
    kernel_name: str = "python3"  # FORK_KERNEL: a fork-server kernel (analysis.reports.kernels)
    report_timeout: float = DEFAULT_REPORT_TIMEOUT
    max_output: int = DEFAULT_MAX_OUTPUT
    #: What the page shows beyond the notebook (JSON values): ``title``, ``description``,
    #: ``section``, ``data``, ``as_of``, ``sources``, ``citation``, ``changes``; made by
    #: the build (:func:`analysis.reports.publication.page_extras`).
    page: dict[str, Any] = field(default_factory=dict)
    pdf: bool = False
    chromium: str | None = None
    pdf_timeout: float = DEFAULT_PDF_TIMEOUT

    @property
    def pdf_name(self) -> str:
        """The PDF's file name in the run folder: ``<name>.pdf``."""
        return f"{self.name}.pdf"

    @property
    def notebook_label(self) -> str:
        """The notebook's path relative to ``workdir`` (absolute when outside it)."""
        try:
            return Path(self.notebook).relative_to(self.workdir).as_posix()
        except ValueError:
            return self.notebook

    @property
    def limits(self) -> dict[str, Any]:
        """The run's limits as run.json records them."""
        return {
            "cell_timeout_s": self.timeout,
            "report_timeout_s": self.report_timeout,
            "max_output_bytes": self.max_output,
        }

    def record(
        self, error: RunError | None, started: str, duration_s: float, files: dict[str, Any]
    ) -> RunRecord:
        """The run.json record of this job's run, finished now."""
        return RunRecord(
            report=self.name,
            notebook=self.notebook_label,
            parameters=self.parameters,
            status="failed" if error else "ok",
            error=error,
            run_id=self.run_id,
            started=started,
            finished=now_iso(),
            duration_s=duration_s,
            kernel=self.kernel_name,
            versions=versions(),
            inputs=self.inputs,
            limits=self.limits,
            files=files,
            title=str(self.page.get("title") or ""),
            description=str(self.page.get("description") or ""),
            section=str(self.page.get("section") or ""),
            data=self.page.get("data"),
            changes=self.page.get("changes"),
        )


def kernel_environment(data_dir: str | None) -> dict[str, str]:
    """The environment of a report's kernel: this process's, with ``ROUNDUP_DATA_DIR`` set to
    ``data_dir`` (when given) and without ``JPY_SESSION_NAME`` (a JupyterLab kernel passes it to
    every child; with it ``analysis.explore`` would take a headless report for a live one)."""
    env = {key: value for key, value in os.environ.items() if key != "JPY_SESSION_NAME"}
    env.update(deterministic_figures(env))
    if data_dir:
        env["ROUNDUP_DATA_DIR"] = str(data_dir)
    return env


#: matplotlib settings that make SVG figures the same bytes on every run (svg.hashsalt).
KERNEL_MATPLOTLIBRC = (
    Path(__file__).resolve().parent.parent / "present" / "charts" / "kernel.matplotlibrc"
)


def deterministic_figures(env: Mapping[str, str]) -> dict[str, str]:
    """Environment variables that make a kernel's SVG figures reproducible (fixed clip ids and
    date: ``MATPLOTLIBRC`` and ``SOURCE_DATE_EPOCH``), unless ``env`` sets them already."""
    wanted = {"MATPLOTLIBRC": str(KERNEL_MATPLOTLIBRC), "SOURCE_DATE_EPOCH": "0"}
    return {key: value for key, value in wanted.items() if key not in env}


def abort_running_reports() -> None:
    """Kill every kernel this process started for a report and remove their socket folders.

    For a signal handler (a worker told to stop): synchronous, never raises, imports nothing
    (the engine is looked up in ``sys.modules``: if it was never imported, no kernel ran).
    """
    engine = sys.modules.get("analysis.reports.engine")
    if engine is not None:
        engine.kill_kernels()
    for folder in list(_LIVE_DIRS):
        shutil.rmtree(folder, ignore_errors=True)


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


#: What a kernel logs when it is shut down, not errors of the report: ipykernel's
#: "KeyboardInterrupt caught in kernel" when jupyter_client interrupts it before shutdown.
SHUTDOWN_NOISE = ("KeyboardInterrupt caught in kernel",)


def quiet_kernel_log(path: Path) -> None:
    """Remove the lines of :data:`SHUTDOWN_NOISE` from the kernel log ``path`` (every other line
    stays); remove the log when nothing else is left."""
    if not path.is_file():
        return
    with open(path, "rb") as fh:
        lines = fh.readlines()
    kept = [line for line in lines if not any(n.encode() in line for n in SHUTDOWN_NOISE)]
    if not b"".join(kept).strip():
        path.unlink()
    elif len(kept) != len(lines):
        path.write_bytes(b"".join(kept))


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
    The engine ``"roundup"`` enforces ``job.report_timeout`` and ``job.max_output``.
    """
    import papermill
    from traitlets.config import Config

    from analysis.reports.engine import ENGINE_NAME, Limits
    from analysis.reports.parameters import language_override

    limits = Limits.starting_now(job.report_timeout, job.max_output)
    with (
        tempfile.TemporaryDirectory(prefix="roundup-kernel-") as sockets,
        _stderr_to(executed.parent / "kernel.log"),
    ):
        connection = os.path.join(sockets, "kernel.json")
        config = Config({"KernelManager": {"transport": "ipc", "connection_file": connection}})
        _LIVE_DIRS.add(sockets)
        try:
            papermill.execute_notebook(
                job.notebook,
                str(executed),
                parameters=job.parameters,
                language=language_override(Path(job.notebook)),  # python if the notebook has none
                engine_name=ENGINE_NAME,
                **_kernel_kwargs(job.kernel_name),
                progress_bar=False,
                log_output=False,
                report_mode=False,
                cwd=job.workdir,
                execution_timeout=job.timeout,
                limits=limits,
                kernel_env=kernel_environment(job.data_dir),
                config=config,
            )
        except Exception as exc:  # papermill, nbclient (timeouts, dead kernel), our limits
            return exc
        finally:
            _LIVE_DIRS.discard(sockets)
    return None


def _page_of(job: Job, error: RunError | None, failures: list[RunError]) -> Any:
    """A function rendering the page of an executed notebook with ``error`` in its header (and
    a link to the PDF of a good run with ``job.pdf``); an HTML export failure renders the
    fallback page and is appended to ``failures``."""

    def page_of(nb: Any) -> str:
        head = render.header(job.name, job.notebook_label, job.parameters, error, nb, job.page)
        if job.pdf and error is None:
            head["pdf"] = job.pdf_name  # the header links the PDF made next to the page
        try:
            return render.report_page(nb, head)
        except Exception as export_exc:  # a broken output must not lose the run record
            failure = error or RunError(
                type(export_exc).__name__, f"HTML export failed: {export_exc}"
            )
            failures.append(failure)
            return render.fallback_page(job.page.get("title") or job.name, failure.text())

    return page_of


def _write_outputs(out: Path, job: Job, nb: Any, error: RunError | None) -> RunError | None:
    """Write ``<name>.ipynb`` and ``index.html`` for the executed ``nb``, each within
    ``job.max_output`` bytes (:func:`analysis.reports.bounds.fit`); the run's error (cut output
    or an HTML export failure becomes the error of a run that had none)."""
    from analysis.reports.bounds import fit

    failures: list[RunError] = []
    text, page, cut = fit(nb, _page_of(job, error, failures), job.max_output)
    if cut and (error is None or error.type != "OutputLimitExceeded"):
        error = error or RunError(
            "OutputLimitExceeded",
            f"the report's executed notebook or page passed its limit of "
            f"{job.max_output / 1024 / 1024:.1f} MB (--max-output); its output was cut there",
        )
        failures = []
        text, page, _ = fit(nb, _page_of(job, error, failures), job.max_output)
    (out / f"{job.name}.ipynb").write_text(text, encoding="utf-8")
    (out / "index.html").write_text(page, encoding="utf-8")
    return error or (failures[0] if failures else None)


def _write_pdf(out: Path, job: Job, nb: Any) -> RunError | None:
    """Print ``index.html`` to ``<name>.pdf`` with this process's browser; on failure, the
    page is written again with the error banner (and no PDF link) and the error returned."""
    from analysis.reports import pdf

    chromium = Path(job.chromium) if job.chromium else None
    try:
        renderer = pdf.process_renderer(chromium, timeout=job.pdf_timeout)
        renderer.render(out / "index.html", out / job.pdf_name, title=job.name)
    except pdf.PdfError as exc:
        error = RunError(type(exc).__name__, str(exc))
        _write_outputs(out, dataclasses.replace(job, pdf=False), nb, error)
        return error
    return None


def run_report(job: Job) -> RunRecord:
    """Execute one report and write ``<name>.ipynb``, ``index.html``, ``<name>.pdf`` (a good run
    with ``job.pdf``) and ``run.json`` into ``job.output_dir`` (created if needed). Returns the
    run's record.

    The run is ``"failed"`` when papermill (or the kernel) raised, when a limit was hit (see the
    module docstring), when any output is an error, or when a code cell tagged ``chart`` has no
    ``image/png`` output; the executed notebook (the error as an output of the cell that failed)
    and its HTML (an error banner at the top) are still written. Raises only for an unusable
    ``output_dir``.
    """
    out = Path(job.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    executed = out / f"{job.name}.ipynb"
    started, clock = now_iso(), time.perf_counter()

    import nbformat

    exc = _execute(job, executed)
    if executed.is_file():
        nb = nbformat.read(str(executed), as_version=4)
    else:  # the kernel never started: render the input notebook with the error in the header
        nb = nbformat.read(job.notebook, as_version=4)
        nbformat.write(nb, str(executed))
    error = error_of(exc, nb)
    mark_failed_cell(nb, error)
    _cap_file(out / "kernel.log", KERNEL_LOG_LIMIT)
    quiet_kernel_log(out / "kernel.log")
    error = _write_outputs(out, job, nb, error)
    if job.pdf and error is None:
        error = _write_pdf(out, job, nb)
    files = {
        "html": "index.html",
        "notebook": executed.name,
        "kernel_log": "kernel.log" if (out / "kernel.log").is_file() else None,
        "pdf": job.pdf_name if (out / job.pdf_name).is_file() else None,
    }
    record = job.record(error, started, round(time.perf_counter() - clock, 3), files)
    record.write(out)
    return record


def _failed_record(job: Job, error: RunError) -> RunRecord:
    """Write a failed ``run.json`` and a banner-only ``index.html`` into ``job.output_dir``."""
    out = Path(job.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.html").write_text(render.fallback_page(job.name, error.text()), "utf-8")
    files = {"html": "index.html", "notebook": None, "kernel_log": None, "pdf": None}
    record = job.record(error, now_iso(), 0.0, files)
    record = dataclasses.replace(record, finished=record.started)
    record.write(out)
    return record


def crash_record(job: Job, exc: BaseException) -> RunRecord:
    """The failed record of a job whose runner itself crashed (worker died, unexpected error):
    written as ``run.json`` plus a minimal ``index.html`` into ``job.output_dir`` and returned."""
    return _failed_record(job, RunError(type(exc).__name__, str(exc) or repr(exc)))


def _worker_problem(job: Job) -> tuple[str | None, str | None]:
    """``(data folder, problem)`` for a job on a worker that may not share our file system.

    The data folder is ``job.data_dir`` when the worker has it, else the worker's own
    ``ROUNDUP_DATA_DIR`` (read at this edge: the worker's environment); its hash must equal
    ``job.inputs["data"]``. ``problem`` says why the job cannot run here, or is None.
    """
    data = job.data_dir
    node = platform.node()
    if not Path(job.notebook).is_file():
        return data, (
            f"notebook {job.notebook} not found on worker {node}: a worker needs "
            "the project at the same path"
        )
    if data and not Path(data).is_dir():
        own = os.environ.get("ROUNDUP_DATA_DIR")
        if not (own and Path(own).is_dir()):
            return data, (
                f"data folder {data} not found on worker {node}: put it at the same "
                "path, or set ROUNDUP_DATA_DIR in the worker's environment"
            )
        data = own
    if data and "data" in job.inputs and tree_hash(Path(data)) != job.inputs["data"]:
        return data, (
            f"the data folder {data} on worker {node} differs from the one the build hashed"
        )
    return data, None


def run_report_returning_files(job: Job) -> tuple[RunRecord, dict[str, bytes]]:
    """The job function for workers that may not share the client's file system (dask).

    Runs :func:`run_report` into a private temporary folder on the worker and returns
    ``(record, {file name: bytes})``; the caller writes the files into ``job.output_dir`` (see
    :func:`write_files`). The notebook and ``workdir`` must exist at the same paths on the
    worker, and the data folder must be the one the client hashed (see :func:`_worker_problem`),
    or the run fails (``WorkerSetupError``) without starting a kernel.
    """
    data, problem = _worker_problem(job)
    with tempfile.TemporaryDirectory(prefix="roundup-job-") as tmp:
        local = dataclasses.replace(job, output_dir=tmp, data_dir=data)
        if problem is not None:
            record = _failed_record(local, RunError("WorkerSetupError", problem))
        else:
            record = run_report(local)
        files = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
    return record, files


def write_files(output_dir: Path | str, files: Mapping[str, bytes]) -> None:
    """Write the files returned by :func:`run_report_returning_files` into ``output_dir``.

    Raises ``ValueError`` for a file name that is not a plain, visible name.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if Path(name).name != name or name.startswith("."):
            raise ValueError(f"unexpected file name from a worker: {name!r}")
        (out / name).write_bytes(content)
