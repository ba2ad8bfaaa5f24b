"""Building the site: run the reports that changed, publish them atomically, write the index.

Layout of ``out_dir``::

    index.html, index.json        every report with its status, duration, parameters, links
    datasets.html                 the data dictionary
    <report>/runs/<run-id>/       every run, good or failed: index.html (inputs hidden, images
                                  embedded, an error banner if it failed), <report>.ipynb (the
                                  executed notebook), run.json (its record), kernel.log (if any)
    <report>/latest -> runs/<run-id>       symbolic link to the last good run
    <report>/index.html -> latest/index.html, <report>/run.json -> latest/run.json,
    <report>/<report>.ipynb -> latest/<report>.ipynb      what readers open (fixed links)
    .lock                         held for the whole build (filelock)
    .tmp/                         runs in progress (removed at the start and end of every build)

Publishing is atomic on POSIX. A run is written into ``.tmp/`` and renamed whole to
``<report>/runs/<run-id>/`` when complete (one ``rename``). A good run then becomes the one
readers see by replacing the ``latest`` link with a new link (created aside, then ``os.replace``,
one ``rename``): ``<report>/index.html`` and its siblings resolve through ``latest`` at the
moment they are opened, so a reader, a crash or a full disk leaves either the old report or the
new one, never a mix and never a missing page. A failed run never touches ``latest``. All links
are relative, so the site can be moved or copied with ``cp -a``/``rsync -a`` (a copy that
follows links works too: it is repaired at the next publish). Every run is kept under ``runs/``
up to ``keep`` per report (newest first; the run ``latest`` points to is never pruned); pruned
runs are renamed into ``.tmp/`` before they are deleted.

A report whose input hashes equal those of its last good ``run.json`` is ``"skipped"`` (no
kernel starts) unless ``force``. An interrupted build (SIGINT, SIGTERM) stops its workers and
kernels, removes ``.tmp/`` and raises :class:`BuildInterrupted`; a killed one (SIGKILL, power
loss) leaves ``.tmp/`` and hidden ``.*.tmp`` links, which the next build removes.

``index.json``: ``{"generated", "build": {"id", "started", "finished", "counts"},
"reports": [{"name", "notebook", "parameters", "status": "ok" | "failed" | "skipped",
"run_id", "finished", "duration_s", "href", "error", "last_good_href", "last_good_run_id",
"last_good_finished"}]}``; ``href`` is the run's page (a failed run's page under ``runs/``),
``last_good_*`` describe the run readers see (null if none). Entries of reports not selected in
this build are kept from the previous index.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock

from analysis import paths
from analysis.reports.executors import Executor, LocalExecutor, make_executor
from analysis.reports.plan import Report, slugify
from analysis.reports.run import (
    DEFAULT_MAX_OUTPUT,
    DEFAULT_REPORT_TIMEOUT,
    DEFAULT_TIMEOUT,
    FORK_KERNEL,
    Job,
    input_hashes,
    shared_hashes,
)

__all__ = [
    "KEEP_RUNS",
    "BuildEvent",
    "InvalidData",
    "BuildInterrupted",
    "BuildSummary",
    "SiteLocked",
    "build",
    "write_index",
]

#: Runs kept per report under ``<report>/runs/`` (plus the one ``latest`` points to).
KEEP_RUNS = 5
_TMP = ".tmp"
_LATEST = "latest"


class BuildInterrupted(KeyboardInterrupt):
    """The build was stopped by a signal (``signum``: SIGINT or SIGTERM); nothing half-done was
    published. A KeyboardInterrupt, so code that catches Exception lets it through."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SiteLocked(RuntimeError):
    """Another build holds ``out_dir/.lock`` (raised only when not waiting for it)."""


@dataclass(frozen=True)
class BuildEvent:
    """Progress of a build, passed to ``on_event``.

    ``kind`` is ``"planned"`` (once, ``total`` = reports to run), ``"skipped"`` (an unchanged
    report, ``entry`` set) or ``"finished"`` (a report ran, ``entry`` set).
    """

    kind: str
    total: int = 0
    entry: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class BuildSummary:
    """What a build did: ``entries`` are this build's index entries, in plan order."""

    out_dir: Path
    build_id: str
    entries: list[dict[str, Any]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Entries of the reports that failed in this build."""
        return [e for e in self.entries if e["status"] == "failed"]

    def counts(self) -> dict[str, int]:
        """``{"ok": n, "failed": n, "skipped": n}`` for this build."""
        counts = {"ok": 0, "failed": 0, "skipped": 0}
        for entry in self.entries:
            counts[entry["status"]] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible summary: ``{"out_dir", "build_id", "counts", "reports"}``."""
        return {
            "out_dir": str(self.out_dir),
            "build_id": self.build_id,
            "counts": self.counts(),
            "reports": self.entries,
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _new_run_id(now: datetime) -> str:
    """``20261129T184507123Z-a1b2c3``: UTC time to the millisecond (so run ids sort by time),
    then random hex."""
    return f"{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z-{secrets.token_hex(3)}"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _tmp_name(path: Path) -> Path:
    """A hidden sibling of ``path`` for writing aside (``.<name>.<hex>.tmp``)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = _tmp_name(path)
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _last_good(report_dir: Path) -> dict[str, Any] | None:
    """The run.json of the run ``<report>/index.html`` shows, or None."""
    if not (report_dir / "index.html").is_file():
        return None
    return _read_json(report_dir / "run.json")


def _unchanged(report_dir: Path, inputs: Mapping[str, str]) -> dict[str, Any] | None:
    """The last good run.json in ``report_dir`` if it was built from ``inputs``, else None."""
    last = _last_good(report_dir)
    return last if last is not None and last.get("inputs") == inputs else None


class InvalidData(ValueError):
    """The data package breaks its schema: no report is run or published from it.

    ``problems`` lists every :class:`analysis.data.Problem` found.
    """

    def __init__(self, problems: list[Any], data_dir: Path):
        self.problems = problems
        self.data_dir = data_dir
        super().__init__(f"{len(problems)} problem(s) in the data package {data_dir}")


def _entry(record: Mapping[str, Any], status: str, href: str, report_dir: Path) -> dict[str, Any]:
    good = _last_good(report_dir)
    return {
        "name": record["report"],
        "notebook": record["notebook"],
        "parameters": record["parameters"],
        "status": status,
        "run_id": record["run_id"],
        "finished": record["finished"],
        "duration_s": record["duration_s"],
        "href": href,
        "error": record.get("error"),
        "last_good_href": f"{report_dir.name}/index.html" if good else None,
        "last_good_run_id": good.get("run_id") if good else None,
        "last_good_finished": good.get("finished") if good else None,
    }


# --------------------------------------------------------------------------- publishing


def _symlink_atomic(link: Path, target: str, staging: Path) -> None:
    """Make ``link`` a symbolic link to ``target`` (relative) in one ``rename``.

    A new link is created aside and renamed over ``link``; readers see the old target or the
    new one. When ``link`` is a real folder (a copy of the site that followed links), it is
    renamed into ``staging`` first (the only case with a moment without ``link``).
    """
    if link.is_symlink() and os.readlink(link) == target:
        return
    tmp = _tmp_name(link)
    os.symlink(target, tmp)
    try:
        if link.is_dir() and not link.is_symlink():
            aside = staging / f"old-{link.parent.name}-{link.name}-{secrets.token_hex(3)}"
            os.replace(link, aside)
        os.replace(tmp, link)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _adopt_legacy(report_dir: Path, staging: Path) -> None:
    """A report published by the old layout (real files in ``<report>/``): copy its good run
    into ``runs/<run-id>/`` so the history keeps it once the links replace the files."""
    record = report_dir / "run.json"
    if record.is_symlink() or not record.is_file():
        return
    run_id = (_read_json(record) or {}).get("run_id")
    if not run_id or (report_dir / "runs" / run_id).exists():
        return
    copy = staging / f"legacy-{report_dir.name}-{secrets.token_hex(3)}"
    copy.mkdir()
    for name in ("index.html", "run.json", f"{report_dir.name}.ipynb", "kernel.log"):
        if (report_dir / name).is_file():
            shutil.copy2(report_dir / name, copy / name)
    os.replace(copy, report_dir / "runs" / str(run_id))


def _prune(report_dir: Path, keep: int, staging: Path) -> None:
    """Delete all but the newest ``keep`` runs (never the one ``latest`` points to); each is
    renamed into ``staging`` first, so no half-deleted run is ever visible."""
    runs = report_dir / "runs"
    current = (
        Path(os.readlink(report_dir / _LATEST)).name
        if (report_dir / _LATEST).is_symlink()
        else None
    )
    found = sorted(p.name for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))
    for name in found[: max(len(found) - keep, 0)]:
        if name == current:
            continue
        aside = staging / f"pruned-{report_dir.name}-{name}"
        os.replace(runs / name, aside)
        shutil.rmtree(aside, ignore_errors=True)


def _publish(
    out_dir: Path, staged: Path, record: Mapping[str, Any], keep: int = KEEP_RUNS
) -> dict[str, Any]:
    """Move a finished run from ``.tmp`` to ``<report>/runs/<run-id>/``; a good run becomes
    ``latest`` (see the module docstring). Returns its index entry."""
    name, run_id = record["report"], record["run_id"]
    report_dir = out_dir / name
    staging = out_dir / _TMP
    (report_dir / "runs").mkdir(parents=True, exist_ok=True)
    os.replace(staged, report_dir / "runs" / run_id)
    if record["status"] == "ok":
        _adopt_legacy(report_dir, staging)
        _symlink_atomic(report_dir / _LATEST, f"runs/{run_id}", staging)
        for file in ("index.html", "run.json", f"{name}.ipynb"):
            _symlink_atomic(report_dir / file, f"{_LATEST}/{file}", staging)
        href = f"{name}/index.html"
    else:
        href = f"{name}/runs/{run_id}/index.html"
    _prune(report_dir, keep, staging)
    return _entry(record, "ok" if record["status"] == "ok" else "failed", href, report_dir)


def _sweep(out_dir: Path) -> None:
    """Remove what a killed build left: ``.tmp/`` and hidden ``.*.tmp`` files and links in
    ``out_dir`` and in every report folder (only while holding the lock)."""
    shutil.rmtree(out_dir / _TMP, ignore_errors=True)
    for leftover in (*out_dir.glob(".*.tmp"), *out_dir.glob("*/.*.tmp")):
        with contextlib.suppress(OSError):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()


class _Signals:
    """SIGINT and SIGTERM raise :class:`BuildInterrupted` in the main thread, except inside
    :meth:`deferred` blocks (publishing, writing the index), after which they are raised."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: int | None = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.depth:
            self.pending = signum
            return
        raise BuildInterrupted(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        saved = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending is not None:
            signum, self.pending = self.pending, None
            raise BuildInterrupted(signum)


# --------------------------------------------------------------------------- index


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em;
  color: #1d1d1f; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #ddd;
  vertical-align: top; }
th { background: #f4f4f6; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; }
.ok { color: #1b5e20; } .skipped { color: #455a64; } .failed { color: #b00020; font-weight: bold; }
.error { color: #b00020; font-size: 0.9em; }
.table-wrap { overflow-x: auto; max-width: 100%; }
nav { margin: 0 0 1em; }
@media (max-width: 600px) {
  body { margin: 1em; }
  th, td { padding: 4px 6px; }
  .wide { display: none; }
}
"""


def _when(iso: str | None) -> str:
    """'2026-11-29T18:45:07+00:00' -> '29 Nov 2026, 18:45 UTC' (empty stays empty)."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso).astimezone(UTC)
    except ValueError:
        return iso
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def _index_row(entry: Mapping[str, Any]) -> str:
    esc = html.escape
    params = (
        ", ".join(
            f"<code>{esc(k)} = {esc(json.dumps(v, ensure_ascii=False))}</code>"
            for k, v in entry["parameters"].items()
        )
        or "defaults"
    )
    notes = []
    if entry.get("error"):
        err = entry["error"]
        notes.append(
            f'<span class="error">{esc(str(err["type"]))}: {esc(str(err["message"]))}</span>'
        )
    if entry["status"] == "failed":
        notes.append(f'<a href="{esc(entry["href"])}#roundup-error">failed run</a>')
        if entry.get("last_good_href"):
            notes.append(f'<a href="{esc(entry["last_good_href"])}">last good report</a>')
        else:
            notes.append("no good run yet")
    link = entry.get("last_good_href") or entry["href"]
    duration = entry.get("duration_s")
    return (
        "<tr>"
        f'<td><a href="{esc(link)}">{esc(entry["name"])}</a><br>'
        f"<small><code>{esc(entry['notebook'])}</code></small></td>"
        f'<td class="{esc(entry["status"])}">{esc(entry["status"])}</td>'
        f"<td>{params}</td>"
        f"<td>{esc(f'{duration:.1f} s' if isinstance(duration, int | float) else '')}</td>"
        f'<td class="wide">{esc(_when(entry.get("finished")))}</td>'
        f'<td class="wide">{esc(_when(entry.get("last_good_finished")))}</td>'
        f"<td>{'<br>'.join(notes)}</td>"
        "</tr>"
    )


def write_index(out_dir: Path, index: Mapping[str, Any]) -> None:
    """Write ``index.json`` and ``index.html`` (every text escaped) for ``index`` atomically."""
    counts = index["build"]["counts"]
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    rows = "\n".join(_index_row(e) for e in index["reports"])
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>China tech roundup: reports</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        "<h1>China tech roundup: reports</h1>\n"
        f"<p>Generated {html.escape(_when(index['generated']))}; last build: "
        f"{html.escape(summary)}.</p>\n"
        '<nav><a href="datasets.html">Data dictionary</a>: every dataset, field, unit and '
        "source behind these reports.</nav>\n"
        '<div class="table-wrap"><table>\n<thead><tr><th>Report</th><th>Status</th>'
        '<th>Parameters</th><th>Duration</th><th class="wide">Finished</th>'
        '<th class="wide">Last good run</th><th>Notes</th></tr>'
        f"</thead>\n<tbody>\n{rows}\n</tbody>\n</table></div>\n"
        "</body>\n</html>\n"
    )
    _write_json_atomic(out_dir / "index.json", index)
    _write_text_atomic(out_dir / "index.html", page)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = _tmp_name(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _who(source: Mapping[str, Any]) -> str:
    publisher = str(source.get("publisher") or source.get("title") or "")
    producer = str(source.get("producer") or publisher)
    return publisher if producer == publisher else f"{producer} via {publisher}"


def write_data_dictionary(out_dir: Path, data_dir: Path) -> None:
    """Write ``datasets.html``: every dataset of the package with its fields, units, constraints,
    keys, row count and sources (from :meth:`analysis.data.Package.dictionary`), all text escaped."""
    import pandas as pd

    from analysis.data import Package

    esc = html.escape
    package = Package(data_dir)
    catalog = package.catalog()
    fields = package.dictionary()
    sources = (
        {r["source_id"]: r for r in package.load("sources").to_dict("records")}
        if "sources" in set(catalog["name"])
        else {}
    )
    parts = []
    for ds in catalog.to_dict("records"):
        rows = fields[fields["dataset"] == ds["name"]]
        cited = [s for s in str(rows["sources"].iloc[0] or "").split(", ") if s]
        cited_text = "; ".join(
            f"{esc(s)} ({esc(_who(sources[s]))})" if s in sources else esc(s) for s in cited
        )
        body = "\n".join(
            "<tr>"
            + "".join(
                f"<td>{esc('' if pd.isna(v) else str(v))}</td>"
                for v in (
                    r["field"],
                    r["type"],
                    r["unit"],
                    r["constraints"],
                    r["key"],
                    r["description"],
                )
            )
            + "</tr>"
            for r in rows.to_dict("records")
        )
        parts.append(
            f'<h2 id="{esc(ds["name"])}">{esc(str(ds["title"]))} <code>{esc(ds["name"])}</code></h2>\n'
            f"<p>{esc(str(ds['description']))} {esc(str(ds['rows']))} rows. "
            f"Sources: {cited_text or '–'}.</p>\n"
            '<div class="table-wrap"><table><thead><tr><th>Field</th><th>Type</th><th>Unit</th>'
            "<th>Constraints</th><th>Key</th><th>Description</th></tr></thead>\n"
            f"<tbody>{body}</tbody></table></div>"
        )
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>Data dictionary</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        '<nav><a href="index.html">← All reports</a></nav>\n<h1>Data dictionary</h1>\n'
        "<p>Every figure is stored in base units (US dollars, users, percent 0–100) with its "
        "qualifier (exact, approximate, at_least, at_most) and the source it is cited from; "
        "unknown is empty.</p>\n" + "\n".join(parts) + "\n</body>\n</html>\n"
    )
    _write_text_atomic(out_dir / "datasets.html", page)


def _merged_index(
    out_dir: Path, entries: Iterable[Mapping[str, Any]], build: Mapping[str, Any]
) -> dict[str, Any]:
    """This build's entries first (plan order), then earlier entries whose folder still exists."""
    current = {e["name"]: dict(e) for e in entries}
    previous = (_read_json(out_dir / "index.json") or {}).get("reports", [])
    kept = [
        e
        for e in previous
        if isinstance(e, dict)
        and e.get("name") not in current
        and (out_dir / str(e.get("name"))).is_dir()
    ]
    return {
        "generated": _now().isoformat(timespec="seconds"),
        "build": dict(build),
        "reports": list(current.values()) + kept,
    }


# --------------------------------------------------------------------------- build


def build(
    plan: Sequence[Report],
    out_dir: Path | str | None = None,
    jobs: int | None = None,
    force: bool = False,
    executor: str = "local",
    scheduler: str | None = None,
    wait: bool = True,
    timeout: int = DEFAULT_TIMEOUT,
    data_dir: Path | None = None,
    on_event: Callable[[BuildEvent], None] | None = None,
    report_timeout: float = DEFAULT_REPORT_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
    keep: int = KEEP_RUNS,
    kernel: str = "fork",
) -> BuildSummary:
    """Run the reports of ``plan`` that changed (all if ``force``) and publish them in ``out_dir``.

    ``out_dir`` defaults to :func:`analysis.paths.site_dir`; ``jobs`` (workers) to
    ``os.cpu_count()``; ``executor`` is ``"local"`` or ``"dask"`` (``scheduler``: a dask
    address, else a local cluster); ``timeout`` is the per-cell limit in seconds,
    ``report_timeout`` the limit of a whole report's execution and ``max_output`` the limit of
    its kept output in characters (see :mod:`analysis.reports.run`); ``keep`` is the number of
    runs kept per report; ``kernel`` is ``"fork"`` (a fresh kernel per report forked from a
    server that has already imported the libraries, see :mod:`analysis.reports.kernels`;
    the default) or a kernelspec name such as ``"python3"``; ``data_dir`` (default :func:`analysis.paths.data_dir`) is hashed and
    passed to every kernel as ``ROUNDUP_DATA_DIR``. Failed reports do not stop the others:
    check :attr:`BuildSummary.failed`.

    The local executor starts worker processes (``forkserver``): a script calling this must
    guard its entry point with ``if __name__ == "__main__":``. Called from the main thread, the
    build handles SIGINT and SIGTERM itself: running reports are stopped, nothing half-done is
    published, and :class:`BuildInterrupted` is raised.

    Raises :class:`InvalidData` (before any kernel starts or file is written) if a report
    would run and the data package is invalid, :class:`SiteLocked` if ``wait`` is false and another build holds the lock,
    ``ValueError`` for duplicate or non-slug report names, ``keep`` < 1, or a bad
    executor/scheduler combination, and ``OSError`` when ``out_dir`` cannot be written.
    """
    names = [report.name for report in plan]
    bad = sorted({n for n in names if names.count(n) > 1 or n != slugify(n)})
    if bad:
        raise ValueError(f"report names must be unique slugs ([a-z0-9-]): {', '.join(bad)}")
    if keep < 1:
        raise ValueError("keep must be at least 1")
    out_dir = Path(out_dir) if out_dir else paths.site_dir()
    data_dir = Path(data_dir).resolve() if data_dir else paths.data_dir()
    pool = make_executor(executor, jobs, scheduler)
    limits = {
        "timeout": timeout,
        "report_timeout": report_timeout,
        "max_output": max_output,
        "kernel_name": FORK_KERNEL if kernel == "fork" else kernel,
    }
    shared = shared_hashes(data_dir)  # once: what is validated is what run.json records
    if force or any(
        _unchanged(out_dir / r.name, input_hashes(r.notebook, r.parameters, shared)) is None
        for r in plan
    ):
        # something will run: the data must be valid first (unchanged reports were built from
        # data that was validated then; skipping them needs neither pandas nor a check)
        from analysis.data import Package

        problems = Package(data_dir).validate()
        if problems:
            raise InvalidData(problems, data_dir)
    signals = _Signals()
    with signals.installed():
        out_dir.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(out_dir / ".lock", timeout=-1 if wait else 0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise SiteLocked(f"another build holds {out_dir / '.lock'}") from None
        try:
            return _build_locked(
                plan, out_dir, force, pool, limits, keep, data_dir, shared, on_event, signals
            )
        finally:
            lock.release()


def _build_locked(
    plan: Sequence[Report],
    out_dir: Path,
    force: bool,
    pool: Executor,
    limits: Mapping[str, Any],
    keep: int,
    data_dir: Path,
    shared: Mapping[str, str],
    on_event: Callable[[BuildEvent], None] | None,
    signals: _Signals,
) -> BuildSummary:
    """Run and publish under the site's lock; the staging folder never outlives the build."""
    staging = out_dir / _TMP
    _sweep(out_dir)  # what a killed build left; we hold the lock
    staging.mkdir()
    try:
        return _run_and_publish(
            plan, out_dir, force, pool, limits, keep, data_dir, shared, on_event, signals
        )
    finally:
        with signals.deferred():
            shutil.rmtree(staging, ignore_errors=True)


def _run_and_publish(
    plan: Sequence[Report],
    out_dir: Path,
    force: bool,
    pool: Executor,
    limits: Mapping[str, Any],
    keep: int,
    data_dir: Path,
    shared: Mapping[str, str],
    on_event: Callable[[BuildEvent], None] | None,
    signals: _Signals,
) -> BuildSummary:
    started = _now()
    build_id = _new_run_id(started)
    staging = out_dir / _TMP
    emit = on_event or (lambda event: None)
    entries: dict[str, dict[str, Any]] = {}
    to_run: list[Job] = []
    for report in plan:
        inputs = input_hashes(report.notebook, report.parameters, shared)
        report_dir = out_dir / report.name
        last = None if force else _unchanged(report_dir, inputs)
        if last is not None:
            href = f"{report.name}/index.html"
            entries[report.name] = _entry(last, "skipped", href, report_dir)
            emit(BuildEvent("skipped", entry=entries[report.name]))
            continue
        run_id = _new_run_id(_now())
        to_run.append(
            Job(
                name=report.name,
                notebook=str(report.notebook),
                parameters=report.parameters,
                output_dir=str((staging / f"{run_id}-{report.name}").resolve()),
                workdir=str(report.workdir),
                run_id=run_id,
                inputs=inputs,
                env={"ROUNDUP_DATA_DIR": str(data_dir)},
                **limits,
            )
        )
    emit(BuildEvent("planned", total=len(to_run)))

    def snapshot() -> BuildSummary:
        ordered = [entries[r.name] for r in plan if r.name in entries]
        summary = BuildSummary(out_dir, build_id, ordered)
        build_info = {
            "id": build_id,
            "started": started.isoformat(timespec="seconds"),
            "finished": _now().isoformat(timespec="seconds"),
            "counts": summary.counts(),
        }
        write_index(out_dir, _merged_index(out_dir, ordered, build_info))
        return summary

    if to_run or not (out_dir / "datasets.html").is_file():
        write_data_dictionary(out_dir, data_dir)
    if to_run and limits["kernel_name"] == FORK_KERNEL and isinstance(pool, LocalExecutor):
        # one fork server for the whole build, shared by every worker; it stops with this
        # process. A no-change rebuild runs nothing and starts none.
        from analysis.reports.kernels import client

        client.ensure_server()
    results = pool.run(to_run)
    try:
        for job, record in results:
            with signals.deferred():
                entries[job.name] = _publish(out_dir, Path(job.output_dir), record, keep)
                snapshot()
            emit(BuildEvent("finished", entry=entries[job.name]))
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()  # stops the executor's workers if we leave early
    with signals.deferred():
        return snapshot()
