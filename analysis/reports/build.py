"""A site build: lock, signals, plan -> jobs -> publish -> site pages.

:class:`Build` runs the reports of a plan that changed (all with ``force``) with the options of
a :class:`~analysis.reports.options.BuildOptions` and publishes them into the site folder
(layout and atomicity: :mod:`analysis.reports.publish`; pages: :mod:`analysis.reports.site`)::

    out_dir/.lock                 held for the whole build (filelock)
    out_dir/.tmp/                 runs in progress (removed at the start and end of every build)

A report whose input hashes (:mod:`analysis.reports.fingerprint`) equal those of its last good
``run.json`` is ``"skipped"`` (no kernel starts, and neither pandas nor papermill is imported).
An interrupted build (SIGINT, SIGTERM) stops its workers and kernels, removes ``.tmp/`` and
raises :class:`BuildInterrupted`; a killed one (SIGKILL, power loss) leaves ``.tmp/`` and hidden
``.*.tmp`` links, which the next build removes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock

from analysis.errors import RoundupError
from analysis.reports import publication
from analysis.reports.data_check import CHECKED_KEY, InvalidData, checked_before, validate
from analysis.reports.fingerprint import input_hashes, last_good, shared_hashes, unchanged
from analysis.reports.kernelspecs import check_installed, kernel_for
from analysis.reports.options import FORK_KERNEL, BuildOptions, OptionsError
from analysis.reports.plan import Report, slugify
from analysis.reports.publish import LATEST, STAGING, index_entry, publish, sweep, unpublished_entry
from analysis.reports.record import RECORD_FILE, RunRecord
from analysis.reports.signals import BuildInterrupted, Signals
from analysis.reports.site import merged_index, write_data_dictionary, write_index
from analysis.reports.summary import BuildEvent, BuildSummary

if TYPE_CHECKING:  # a no-change rebuild imports neither multiprocessing nor the job runner
    from concurrent.futures import Future

    from analysis.reports.executors import Executor
    from analysis.reports.job import Job

__all__ = [
    "Build",
    "BuildEvent",
    "BuildInterrupted",
    "BuildSummary",
    "InvalidData",
    "InvalidReportNames",
    "SiteLocked",
    "build",
]


class SiteLocked(RoundupError, RuntimeError):
    """Another build holds ``out_dir/.lock`` (raised only when not waiting for it)."""


class InvalidReportNames(RoundupError, ValueError):
    """Report names of a plan are not unique slugs (``[a-z0-9-]``)."""


def _now() -> datetime:
    return datetime.now(UTC)


def new_run_id(now: datetime) -> str:
    """``20261129T184507123Z-a1b2c3``: UTC time to the millisecond (so run ids sort by time),
    then random hex."""
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


class Build:
    """One build of ``plan`` with ``options``; :meth:`run` it once.

    ``on_event`` receives a :class:`BuildEvent` for every step (progress). Failed reports do not
    stop the others: check :attr:`BuildSummary.failed`. The local executor starts worker
    processes (``forkserver``): a script running a build must guard its entry point with
    ``if __name__ == "__main__":``. Run from the main thread, the build handles SIGINT and
    SIGTERM itself: running reports are stopped, nothing half-done is published, and
    :class:`BuildInterrupted` is raised.

    Raises :class:`InvalidReportNames` for duplicate or non-slug report names and
    :class:`~analysis.reports.options.OptionsError` for bad options (both here, before anything
    runs).
    """

    def __init__(
        self,
        plan: Sequence[Report],
        options: BuildOptions | None = None,
        on_event: Callable[[BuildEvent], None] | None = None,
    ):
        names = [report.name for report in plan]
        bad = sorted({n for n in names if names.count(n) > 1 or n != slugify(n)})
        if bad:
            raise InvalidReportNames(
                f"report names must be unique slugs ([a-z0-9-]): {', '.join(bad)}"
            )
        self.plan = list(plan)
        self.options = (options or BuildOptions()).checked()
        self.out_dir: Path = self.options.out_dir  # type: ignore[assignment]
        self.data_dir: Path = self.options.data_dir  # type: ignore[assignment]
        self.emit = on_event or (lambda event: None)
        self.signals = Signals()
        self.started = _now()  # again when the lock is taken
        self.build_id = ""
        self.entries: dict[str, dict[str, Any]] = {}
        self.inputs: dict[str, dict[str, str]] = {}
        self.kernels: dict[str, str] = {}  # report name -> the kernel it runs in
        # report name -> (stat of its run.json, its last good record if unchanged)
        self._records: dict[str, tuple[tuple[int, ...] | None, RunRecord | None]] = {}
        self.interrupted: str | None = None  # when a killed build left its leftovers
        self._package: tuple[publication.DataArchive, str, list[dict[str, str]]] | None = None
        self.package_changes: dict[str, Any] | None = None
        self.pdf = False  # decided once, at the start of run()
        self._server_start: threading.Thread | None = None
        self.shared: dict[str, str] = {}  # data, code and lock hashes of this build
        # the shared hashes the site's last checked data had (index.json "data_checked"), and
        # whether this build's data is known valid (checked now, or those hashes are equal)
        self._checked_before: dict[str, str] | None = None
        self.data_checked = False

    # -- the whole build
    def run(self) -> BuildSummary:
        """Run the build; its summary.

        Raises :class:`InvalidData` (before any kernel starts or file is written) if a report
        would run and the data package is invalid,
        :class:`~analysis.reports.kernelspecs.UnknownKernel` (also before) if a report would run
        in a kernel that is not installed, :class:`SiteLocked` if ``options.wait`` is
        false and another build holds the lock, :class:`BuildInterrupted` on SIGINT/SIGTERM,
        and ``OSError`` when ``out_dir`` cannot be written or a dask scheduler reached;
        :class:`~analysis.reports.options.OptionsError` when ``options.pdf`` is True and no PDF
        can be made here.
        """
        self.pdf = self._decide_pdf()
        self.shared = shared_hashes(self.data_dir)  # once: what is validated is in run.json
        hashed: dict[tuple[str, Path], str] = {}  # each notebook and folder hashed once
        self.inputs = {
            r.name: input_hashes(r.notebook, r.parameters, self.shared, hashed) for r in self.plan
        }
        to_run = [r for r in self.plan if self.options.force or self._last(r.name) is None]
        pool = self._prepare(to_run) if to_run else None
        with self.signals.installed():
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with self._lock():
                return self._run_locked(pool)

    def _prepare(self, to_run: Sequence[Report]) -> Executor:
        """Something will run: its kernels must be installed and the data valid first
        (unchanged reports were built from data that was validated then; skipping them needs
        neither pandas nor a check); the pool and the fork servers start meanwhile."""
        self.kernels = {r.name: kernel_for(r.notebook, self.options.kernel) for r in to_run}
        check_installed(self.kernels)
        pool = make_executor(self.options.executor, self.options.jobs, self.options.scheduler)
        self._warm_fork_server(pool)
        if hasattr(pool, "warm"):
            pool.warm()  # the workers' own fork server, while the data is checked
        self._check_data()
        return pool

    def _decide_pdf(self) -> bool:
        """Make PDFs in this build? Asked once: ``options.pdf`` False -> no; True -> yes, or
        OptionsError when no renderer is here; None -> when one is, else a ``"note"`` event
        saying PDFs are skipped and how to get them."""
        if self.options.pdf is False:
            return False
        from analysis.reports.pdf import pdf_available

        available, line = pdf_available(self.options.chromium)
        if not available and self.options.pdf:
            raise OptionsError(line.replace("PDFs skipped", "cannot make PDFs (--pdf)", 1))
        if not available:
            self.emit(BuildEvent("note", message=line))
        return available

    def _last(self, name: str) -> RunRecord | None:
        """The last good run of report ``name`` if it need not run again: built from the same
        inputs and, when this build makes PDFs, with its PDF. Asked before and again under the
        lock: the second time reads its ``run.json`` only if another build replaced it."""
        record = self.out_dir / name / RECORD_FILE  # a link through latest/ to the run's record
        try:
            stat = record.stat()
            key: tuple[int, ...] | None = (stat.st_ino, stat.st_dev, stat.st_mtime_ns, stat.st_size)
        except OSError:
            key = None
        seen = self._records.get(name)
        if key is not None and seen is not None and seen[0] == key:
            last = seen[1]
        else:
            last = unchanged(self.out_dir / name, self.inputs[name])
            self._records[name] = (key, last)
        return None if last is None or (self.pdf and last.pdf is None) else last

    def _check_data(self) -> None:
        """Validate the data package unless this site's index says that data (by hash) was
        validated by this code under this lock (``data_checked``): a second build of the same
        data skips a second of checks. Raises :class:`InvalidData`."""
        self._checked_before = checked_before(self.out_dir)
        if self._checked_before != self.shared:
            validate(self.data_dir)
        self.data_checked = True

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        lock = filelock.FileLock(self.out_dir / ".lock", timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            if not self.options.wait:
                raise SiteLocked(f"another build holds {self.out_dir / '.lock'}") from None
            self.emit(BuildEvent("waiting", entry={"lock": str(self.out_dir / ".lock")}))
            lock.acquire(timeout=-1)
        try:
            yield
        finally:
            lock.release()

    def _run_locked(self, pool: Executor | None) -> BuildSummary:
        """Run and publish under the site's lock; the staging folder never outlives the build."""
        staging = self.out_dir / STAGING
        self.interrupted = sweep(self.out_dir)  # what a killed build left; we hold the lock
        staging.mkdir()
        self.started = _now()
        self.build_id = new_run_id(self.started)
        try:
            jobs = self._plan_jobs()
            if jobs and pool is None:  # another build replaced a report's run since we looked
                pool = self._prepare([r for r in self.plan if r.name in {j.name for j in jobs}])
            self.emit(BuildEvent("planned", total=len(jobs)))
            dictionary, page = None, (self.out_dir / "datasets.html").is_file()
            if jobs and (not page or self._checked_before != self.shared):
                # the data was validated: the page is written while the reports run (not again
                # for the data it was last written from)
                dictionary = _aside(self._write_data_dictionary)
            elif not page:
                self._write_data_dictionary()  # a site always has it (its pages link it)
            if jobs:
                self._publish_site_data()
            if pool is not None:
                self._start_fork_server(pool, jobs)
                self._run_and_publish(pool, jobs)
            if dictionary is not None:
                dictionary.result()
            with self.signals.deferred():
                return self._snapshot()
        finally:
            with self.signals.deferred():
                shutil.rmtree(staging, ignore_errors=True)

    # -- steps
    def _plan_jobs(self) -> list[Job]:
        """The jobs of the reports that changed; unchanged ones get a ``skipped`` entry."""
        jobs = []
        for report in self.plan:
            inputs = self.inputs[report.name]
            report_dir = self.out_dir / report.name
            last = None if self.options.force else self._last(report.name)
            if last is None:
                jobs.append(self._job(report, inputs))
                continue
            href = f"{report.name}/index.html"
            self.entries[report.name] = index_entry(last, "skipped", href, report_dir, good=last)
            self.emit(BuildEvent("skipped", entry=self.entries[report.name]))
        return jobs

    def _data_package(self) -> tuple[publication.DataArchive, str, list[dict[str, str]]]:
        """This build's data package: its zip, the date it runs to, its sources (read once)."""
        if self._package is None:
            self._package = (
                publication.data_zip(self.data_dir),
                publication.data_as_of(self.data_dir),
                publication.sources(self.data_dir),
            )
        return self._package

    def _publish_site_data(self) -> None:
        """Compare the site's current ``data.zip`` (the package of the previous build that ran
        reports) with this build's package (``package_changes``), then replace it."""
        archive = self._data_package()[0]
        current = self.out_dir / publication.DATA_ZIP
        previous = {"run_id": "", "finished": ""} if current.is_file() else None
        self.package_changes = publication.report_changes(
            previous, current if previous else None, self.data_dir
        )
        tmp = self.out_dir / STAGING / publication.DATA_ZIP
        tmp.write_bytes(archive.content)
        tmp.replace(current)

    def _page(self, report: Report, started: datetime) -> dict[str, Any]:
        """The page extras of ``report``'s run (see :func:`publication.page_extras`)."""
        archive, as_of, cited = self._data_package()
        report_dir = self.out_dir / report.name
        previous = last_good(report_dir)
        changed = publication.report_changes(
            previous.to_dict() if previous else None,
            report_dir / LATEST / publication.DATA_ZIP,
            self.data_dir,
        )
        return publication.page_extras(
            report, started.isoformat(timespec="seconds"), archive, as_of, cited, changed
        )

    def _job(self, report: Report, inputs: dict[str, str]) -> Job:
        from analysis.reports.job import Job

        started = _now()
        run_id = new_run_id(started)
        staged = self.out_dir / STAGING / f"{run_id}-{report.name}"
        return Job(
            name=report.name,
            notebook=str(report.notebook),
            parameters=report.parameters,
            output_dir=str(staged.resolve()),
            workdir=str(report.workdir),
            run_id=run_id,
            inputs=inputs,
            data_dir=str(self.data_dir),
            timeout=self.options.timeout,
            kernel_name=self.kernels.get(report.name)
            or kernel_for(report.notebook, self.options.kernel),
            report_timeout=self.options.report_timeout,
            max_output=self.options.max_output,
            page=self._page(report, started),
            pdf=self.pdf,
            chromium=str(self.options.chromium) if self.options.chromium else None,
            pdf_timeout=self.options.pdf_timeout,
        )

    def _write_data_dictionary(self) -> None:
        from analysis.data import DataError

        try:
            write_data_dictionary(self.out_dir, self.data_dir)
        except DataError as exc:  # the package's description itself is broken
            raise InvalidData(exc.problems, self.data_dir) from None

    def _uses_fork_server(self, pool: Executor) -> bool:
        """Will this build's local workers fork kernels (some report to run is in the fork
        kernel)?"""
        from analysis.reports.executors import LocalExecutor

        forked = FORK_KERNEL in self.kernels.values()
        return forked and isinstance(pool, LocalExecutor)

    def _warm_fork_server(self, pool: Executor) -> None:
        """Start the build's fork server in the background, so that its imports and warm-up
        overlap the data validation and the pool's start instead of delaying the first report.
        A failure here is left to :meth:`_start_fork_server`, which reports it."""
        if not self._uses_fork_server(pool):
            return
        from analysis.reports.job import kernel_environment
        from analysis.reports.kernels import client

        def start() -> None:
            with contextlib.suppress(Exception):
                client.ensure_server(kernel_environment(self.data_dir))

        self._server_start = threading.Thread(target=start, name="fork-server-start", daemon=True)
        self._server_start.start()

    def _start_fork_server(self, pool: Executor, jobs: Sequence[Job]) -> None:
        """One fork server for the whole build, shared by every local worker, started with the
        kernels' environment (so it warms the build's data folder); it stops with this process.
        A no-change rebuild, or a build of no report in the fork kernel, starts none."""
        forked = any(job.kernel_name == FORK_KERNEL for job in jobs)
        if forked and self._uses_fork_server(pool):
            from analysis.reports.job import kernel_environment
            from analysis.reports.kernels import client

            if self._server_start is not None:
                self._server_start.join()
            client.ensure_server(kernel_environment(self.data_dir))

    def _run_and_publish(self, pool: Executor, jobs: Sequence[Job]) -> None:
        """Run ``jobs`` on ``pool``, publishing each run (and the index) as it finishes."""
        results = pool.run(jobs)
        try:
            for job, record in results:
                with self.signals.deferred():
                    entry = self._publish(job, record)
                    self.entries[job.name] = entry
                    self._snapshot()
                self.emit(BuildEvent("finished", entry=entry))
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()  # stops the executor's workers if we leave early

    def _publish(self, job: Job, record: RunRecord) -> dict[str, Any]:
        """Publish one run with this build's ``data.zip``; its index entry. A run that cannot be
        published (disk full, a report folder that is unwritable or a plain file) is that
        report's failure, with the reason: the build goes on."""
        try:
            self._keep_data(Path(job.output_dir))
            return publish(self.out_dir, Path(job.output_dir), record, self.options.keep)
        except OSError as exc:
            return unpublished_entry(self.out_dir, record, exc)

    def _keep_data(self, run_dir: Path) -> None:
        """Put this build's ``data.zip`` into a finished run's folder (before it is published)."""
        if run_dir.is_dir():
            (run_dir / publication.DATA_ZIP).write_bytes(self._data_package()[0].content)

    def _snapshot(self) -> BuildSummary:
        """Write the index as it stands; the summary of the build so far."""
        ordered = [self.entries[r.name] for r in self.plan if r.name in self.entries]
        summary = BuildSummary(self.out_dir, self.build_id, ordered)
        build_info = {
            "id": self.build_id,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": _now().isoformat(timespec="seconds"),
            "counts": summary.counts(),
            # a killed build (SIGKILL, power loss) left runs half-done: say so, with its time
            "previous_build_interrupted": self.interrupted is not None,
            "previous_build_interrupted_at": self.interrupted,
        }
        index = merged_index(self.out_dir, ordered, build_info)
        index["data"] = self._site_data()
        # what validate() passed: this build's hashes if it checked them, else the last ones
        index[CHECKED_KEY] = self.shared if self.data_checked else self._previous_checked()
        index["changes"] = self.package_changes or {
            "first": False, "figures_changed": False, "changes": [], "other_changes": 0
        }  # fmt: skip
        write_index(self.out_dir, index)
        return summary

    def _previous_checked(self) -> dict[str, str] | None:
        if self._checked_before is None:  # not read yet: this build ran nothing
            self._checked_before = checked_before(self.out_dir)
        return self._checked_before

    def _site_data(self) -> dict[str, Any]:
        """The site's data package: ``{"as_of", "href", "sha256", "bytes"}`` (csv only)."""
        zipped = self.out_dir / publication.DATA_ZIP
        info: dict[str, Any] = {"as_of": publication.data_as_of(self.data_dir)}
        if zipped.is_file():
            import hashlib

            content = zipped.read_bytes()
            info.update(href=publication.DATA_ZIP, bytes=len(content),
                        sha256=hashlib.sha256(content).hexdigest())  # fmt: skip
        return info


def _aside(work: Callable[[], None]) -> Future[None]:
    """``work()`` in a thread, off the build's critical path (e.g. ``datasets.html``, whose
    pandas import and rendering would otherwise delay the first report); the future's
    ``result()`` waits for it and raises what it raised."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1, thread_name_prefix="build-aside")
    try:
        return pool.submit(work)
    finally:
        pool.shutdown(wait=False)  # the thread ends with the work


def make_executor(kind: str, workers: int | None, scheduler: str | None) -> Executor:
    """:func:`analysis.reports.executors.make_executor`, imported when a build has something
    to run."""
    from analysis.reports import executors

    return executors.make_executor(kind, workers, scheduler)


def build(
    plan: Sequence[Report],
    out_dir: Path | str | None = None,
    *,
    options: BuildOptions | None = None,
    on_event: Callable[[BuildEvent], None] | None = None,
    **values: Any,
) -> BuildSummary:
    """Build ``plan`` into ``out_dir``: ``Build(plan, options, on_event).run()``.

    ``values`` override fields of ``options`` (default :class:`BuildOptions`), e.g.
    ``build(plan, "site", jobs=2, data_dir=Path("data"))``. Raises what :class:`Build` and
    :meth:`Build.run` raise, and ``TypeError`` for an unknown option.
    """
    if out_dir is not None:
        values["out_dir"] = Path(out_dir)
    options = dataclasses.replace(options or BuildOptions(), **values)
    return Build(plan, options, on_event).run()
