"""Executors: run :func:`analysis.reports.run.run_report` jobs in parallel, yield records.

Both executors run the same job function and yield ``(job, record)`` pairs as jobs complete
(completion order, not submission order). A job whose runner crashed (worker process killed,
unexpected exception) yields the record of :func:`analysis.reports.run.crash_record`, so the
caller always gets one record per job.

``local``  a :class:`concurrent.futures.ProcessPoolExecutor` (``max_workers=jobs``) over a
           ``forkserver`` context that preloads the runner, so workers start fast and never
           inherit the caller's threads; each report gets its own kernel.
``dask``   a :class:`dask.distributed.Client` connected to ``scheduler`` (an address such as
           ``tcp://10.0.0.5:8786``) or to a new ``LocalCluster(n_workers=jobs, processes=True,
           threads_per_worker=1)``. Workers need the same file system and environment.
           dask is imported only here (optional extra ``china-tech-roundup[dask]``).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Protocol

from analysis.reports.run import Job, crash_record, run_report

__all__ = ["DaskExecutor", "Executor", "LocalExecutor", "make_executor"]

Record = dict[str, Any]


class Executor(Protocol):
    """Runs jobs; yields ``(job, record)`` for every job as it completes."""

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Record]]: ...


class LocalExecutor:
    """Local worker processes; ``workers`` defaults to ``os.cpu_count()``."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Record]]:
        """Run ``jobs`` on ``min(workers, len(jobs))`` processes, yielding as they complete."""
        if not jobs:
            return
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["analysis.reports.run"])
        with ProcessPoolExecutor(
            max_workers=min(self.workers, len(jobs)), mp_context=context
        ) as pool:
            futures = {pool.submit(run_report, job): job for job in jobs}
            try:
                for future in as_completed(futures):
                    job = futures[future]
                    try:
                        yield job, future.result()
                    except Exception as exc:  # BrokenProcessPool, pickling, runner bugs
                        yield job, crash_record(job, exc)
            finally:
                for future in futures:
                    future.cancel()


class DaskExecutor:
    """A dask.distributed cluster: ``scheduler`` address, or a local cluster of ``workers``."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        self.scheduler = scheduler
        self.workers = max(1, workers or os.cpu_count() or 1)

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Record]]:
        """Submit every job to the cluster (one task each) and yield as they complete.

        Raises ``ImportError`` when dask.distributed is not installed and ``OSError``/
        ``TimeoutError`` when the scheduler cannot be reached.
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
                    client.submit(run_report, job, key=f"roundup-{job.name}-{job.run_id}"): job
                    for job in jobs
                }
                for future in dask_as_completed(futures):
                    job = futures[future]
                    try:
                        yield job, future.result()
                    except Exception as exc:  # worker lost, task error
                        yield job, crash_record(job, exc)
        finally:
            if cluster is not None:
                cluster.close()


def make_executor(kind: str, workers: int | None = None, scheduler: str | None = None) -> Executor:
    """The executor named ``kind`` (``"local"`` or ``"dask"``).

    Raises ``ValueError`` for another kind, or a ``scheduler`` given to the local executor.
    """
    if kind == "local":
        if scheduler:
            raise ValueError("--scheduler needs --executor dask")
        return LocalExecutor(workers)
    if kind == "dask":
        return DaskExecutor(scheduler, workers)
    raise ValueError(f"unknown executor {kind!r} (use 'local' or 'dask')")
