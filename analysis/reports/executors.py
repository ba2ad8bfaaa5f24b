"""Executors: run :func:`analysis.reports.job.run_report` jobs in parallel, yield records.

Both executors run the same job function and yield ``(job, record)`` pairs as jobs complete
(completion order, not submission order), with the job's files in ``job.output_dir``. A job
whose runner crashed (worker process killed, unexpected exception) yields the record of
:func:`analysis.reports.job.crash_record`, so the caller always gets one record per job.

``local``  a :class:`concurrent.futures.ProcessPoolExecutor` (``max_workers=jobs``) over a
           ``forkserver`` context that preloads the runner, so workers start fast and never
           inherit the caller's threads; each report gets its own kernel. Workers ignore SIGINT
           (the build decides) and on SIGTERM kill their kernel and exit at once. When the
           caller stops iterating (an interrupt, an error), the workers are terminated; when the
           calling process dies (even SIGKILL), each worker notices (a thread waiting on a
           ``pidfd`` of the caller, else polling it) and terminates itself: no kernel outlives
           the build.
``dask``   a :class:`dask.distributed.Client` connected to ``scheduler`` (an address such as
           ``tcp://10.0.0.5:8786``) or to a new ``LocalCluster(n_workers=jobs, processes=True,
           threads_per_worker=1)``. Workers run
           :func:`analysis.reports.job.run_report_returning_files`: the report is written on the
           worker's own disk and its files come back in the task's result, which this process
           writes into ``job.output_dir``; so workers need no shared output folder, but do need
           the project (notebooks) at the same path and the same data (checked by hash).
           dask is imported only here (optional extra ``china-tech-roundup[dask]``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Protocol

from analysis.reports.job import (
    Job,
    abort_running_reports,
    crash_record,
    run_report,
    run_report_returning_files,
    write_files,
)
from analysis.reports.options import OptionsError
from analysis.reports.procs import pid_alive
from analysis.reports.record import RunRecord

__all__ = ["DaskExecutor", "Executor", "LocalExecutor", "make_executor"]

#: Seconds a terminated worker gets to kill its kernel before it is killed itself.
STOP_GRACE = 5.0


class Executor(Protocol):
    """Runs jobs; yields ``(job, record)`` for every job as it completes."""

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, RunRecord]]: ...


def _on_terminate(signum: int, frame: Any) -> None:
    """A worker's SIGTERM handler: kill the running kernel, remove its sockets, exit now."""
    abort_running_reports()
    os._exit(128 + signum)


def _watch(pid: int) -> None:
    """Wait until process ``pid`` has exited, then SIGTERM this process (see _on_terminate).

    A forkserver worker's parent is the fork server, which outlives the caller while workers
    live; so a worker watches the caller itself.
    """
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux >= 5.3, or already gone
        while pid_alive(pid):
            time.sleep(0.5)
    else:
        select.select([fd], [], [])
    os.kill(os.getpid(), signal.SIGTERM)


def _init_worker(caller: int) -> None:
    """Initializer of a local worker process (see the module docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_terminate)
    threading.Thread(target=_watch, args=(caller,), name="roundup-watch", daemon=True).start()


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """SIGTERM every worker (each kills its kernel) and SIGKILL those still alive after
    :data:`STOP_GRACE` seconds; what has not started never will (the pool is then broken).

    Futures are not cancelled first: on Python 3.11 the pool's manager thread would then fail
    with ``InvalidStateError: CANCELLED`` when it marks them broken, and print a traceback.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(1)


def _forkserver_context() -> Any:
    """The ``forkserver`` context whose server preloads what every job imports, paid once
    there rather than in each worker's first report (nbformat's jsonschema alone costs over a
    second of CPU; the whole preload two to three)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["analysis.reports.worker_preload"])
    return context


class LocalExecutor:
    """Local worker processes; ``workers`` defaults to ``os.cpu_count()``."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)

    def warm(self) -> None:
        """Start the workers' fork server (and its preload) in the background now, so that it
        overlaps the caller's other work (a build's data checks) instead of delaying the first
        report; :meth:`run` then finds it running. Call it only when jobs will run."""
        from multiprocessing import forkserver

        _forkserver_context()
        threading.Thread(target=forkserver.ensure_running, name="workers-warm", daemon=True).start()

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, RunRecord]]:
        """Run ``jobs`` on ``min(workers, len(jobs))`` processes, yielding as they complete.

        If the caller stops early (``KeyboardInterrupt`` while waiting, or closing the
        generator), running reports are stopped: workers terminated, kernels killed.
        """
        if not jobs:
            return
        context = _forkserver_context()
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(jobs)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )
        futures = {pool.submit(run_report, job): job for job in jobs}
        completed = False
        try:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    record = future.result()
                except Exception as exc:  # BrokenProcessPool, pickling, runner bugs
                    record = crash_record(job, exc)
                yield job, record
            completed = True
        finally:
            if not completed:
                _stop_workers(pool)
            pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """A dask.distributed cluster: ``scheduler`` address, or a local cluster of ``workers``."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        self.scheduler = scheduler
        self.workers = max(1, workers or os.cpu_count() or 1)

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, RunRecord]]:
        """Submit every job to the cluster (one task each) and yield as they complete.

        Raises ``ImportError`` when dask.distributed is not installed and ``OSError``/
        ``TimeoutError`` when the scheduler cannot be reached. Stopping early cancels the
        tasks (a running task's worker is not killed by dask; its kernel stops when the report
        ends or hits a limit).
        """
        if not jobs:
            return
        from dask.distributed import Client, LocalCluster
        from dask.distributed import as_completed as dask_as_completed

        cluster = None
        if self.scheduler is None:
            cluster = LocalCluster(
                n_workers=min(self.workers, len(jobs)),
                processes=True,
                threads_per_worker=1,
                dashboard_address=None,
            )
        try:
            with Client(self.scheduler or cluster) as client:
                futures = {
                    client.submit(
                        run_report_returning_files,
                        job,
                        key=f"roundup-{job.name}-{job.run_id}",
                        pure=False,
                    ): job
                    for job in jobs
                }
                try:
                    for future in dask_as_completed(futures):
                        job = futures[future]
                        try:
                            record, files = future.result()
                            write_files(job.output_dir, files)
                        except Exception as exc:  # worker lost, task error
                            record = crash_record(job, exc)
                        yield job, record
                finally:
                    client.cancel(list(futures))
        finally:
            if cluster is not None:
                cluster.close()


def make_executor(kind: str, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor named ``kind`` (``"local"`` or ``"dask"``).

    Raises :class:`~analysis.reports.options.OptionsError` for another kind (a scheduler given
    with the local executor is refused by :meth:`BuildOptions.checked`).
    """
    if kind == "local":
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler, workers)
    raise OptionsError(f"unknown executor {kind!r} (use 'local' or 'dask')")
