"""Publishing runs into the site folder: atomic, with history, retention and links.

Layout of a report's folder in ``out_dir``::

    <report>/runs/<run-id>/       every run, good or failed: index.html, <report>.ipynb,
                                  run.json, kernel.log (if any), <report>.pdf (if made)
    <report>/latest -> runs/<run-id>       symbolic link to the last good run
    <report>/index.html -> latest/index.html, <report>/run.json -> latest/run.json,
    <report>/<report>.ipynb -> latest/<report>.ipynb,
    <report>/data.zip -> latest/data.zip   what readers open (fixed links)
    <report>/<report>.pdf -> latest/<report>.pdf           what readers open (fixed links)
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
runs are renamed into ``.tmp/`` before they are deleted. A killed build leaves ``.tmp/`` and
hidden ``.*.tmp`` links, which :func:`sweep` removes at the next build.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from types import EllipsisType
from typing import Any

from analysis.reports.fingerprint import last_good
from analysis.reports.options import KEEP_RUNS
from analysis.reports.record import RECORD_FILE, RunError, RunRecord

__all__ = [
    "LATEST",
    "STAGING",
    "index_entry",
    "publish",
    "read_json",
    "sweep",
    "unpublished_entry",
    "write_json_atomic",
    "write_text_atomic",
]

#: The staging folder of a build, under ``out_dir``.
STAGING = ".tmp"
#: A run's data package (see :mod:`analysis.reports.publication`), linked when the run has one.
DATA_ZIP = "data.zip"
#: The link to a report's last good run, under ``<report>/``.
LATEST = "latest"


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _tmp_name(path: Path) -> Path:
    """A hidden sibling of ``path`` for writing aside (``.<name>.<hex>.tmp``)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` in one ``rename``: readers see the old or the new."""
    tmp = _tmp_name(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def index_entry(
    record: RunRecord,
    status: str,
    href: str,
    report_dir: Path,
    good: RunRecord | None | EllipsisType = ...,
) -> dict[str, Any]:
    """A report's entry in ``index.json``: this build's run (``status`` ok, failed or skipped,
    ``href`` its page relative to the site), the run readers see (``last_good_*``, null if
    none), the report's ``title``, ``description``, ``section``, ``data`` (its data.zip) and
    ``changes``/``figures_changed`` (what changed in its figures in this build: none when
    skipped) and ``pdf_href`` its PDF (null if none). ``good``: the report's last good record
    when the caller has it (a skipped report's own record), else it is read."""
    if good is ...:
        good = last_good(report_dir)
    changes = record.changes if status != "skipped" else None
    return {
        "name": record.report,
        "notebook": record.notebook,
        "parameters": record.parameters,
        "status": status,
        "run_id": record.run_id,
        "finished": record.finished,
        "duration_s": record.duration_s,
        "href": href,
        "error": record.error.to_dict() if record.error else None,
        "last_good_href": f"{report_dir.name}/index.html" if good else None,
        "last_good_run_id": good.run_id if good else None,
        "last_good_finished": good.finished if good else None,
        "title": record.title or record.report,
        "description": record.description,
        "section": record.section or "topics",
        "data": record.data,
        "changes": changes,
        "figures_changed": bool(changes and changes.get("figures_changed")),
        "pdf_href": f"{report_dir.name}/{good.pdf}" if good and good.pdf else None,
    }


def unpublished_entry(out_dir: Path, record: RunRecord, exc: OSError) -> dict[str, Any]:
    """The index entry of a run that could not be published (``exc``): failed, with error type
    ``PublishError`` saying why, ``published`` False (there is no page of this run to link);
    ``href`` is the last good page (None if there is none)."""
    report_dir = out_dir / record.report
    reason = f"could not publish report {record.report} into {report_dir}: {exc}"
    failed = dataclasses.replace(record, status="failed", error=RunError("PublishError", reason))
    entry = index_entry(failed, "failed", "", report_dir)
    entry["href"] = entry["last_good_href"]
    entry["published"] = False
    return entry


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
    record = report_dir / RECORD_FILE
    if record.is_symlink() or not record.is_file():
        return
    legacy = RunRecord.read(record)
    run_id = legacy.run_id if legacy else None
    if not run_id or (report_dir / "runs" / run_id).exists():
        return
    copy = staging / f"legacy-{report_dir.name}-{secrets.token_hex(3)}"
    copy.mkdir()
    stem = report_dir.name
    for name in ("index.html", RECORD_FILE, f"{stem}.ipynb", "kernel.log", f"{stem}.pdf"):
        if (report_dir / name).is_file():
            shutil.copy2(report_dir / name, copy / name)
    os.replace(copy, report_dir / "runs" / str(run_id))


def _prune(report_dir: Path, keep: int, staging: Path) -> None:
    """Delete all but the newest ``keep`` runs (never the one ``latest`` points to); each is
    renamed into ``staging`` first, so no half-deleted run is ever visible."""
    runs = report_dir / "runs"
    latest = report_dir / LATEST
    current = Path(os.readlink(latest)).name if latest.is_symlink() else None
    found = sorted(p.name for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))
    for name in found[: max(len(found) - keep, 0)]:
        if name == current:
            continue
        aside = staging / f"pruned-{report_dir.name}-{name}"
        os.replace(runs / name, aside)
        shutil.rmtree(aside, ignore_errors=True)


def publish(
    out_dir: Path, staged: Path, record: RunRecord, keep: int = KEEP_RUNS
) -> dict[str, Any]:
    """Move a finished run from ``staged`` (in ``.tmp``) to ``<report>/runs/<run-id>/``; a good
    run becomes ``latest`` (see the module docstring); then prune to ``keep`` runs. Returns the
    report's index entry (:func:`index_entry`). Raises ``OSError`` when ``out_dir`` cannot be
    written."""
    name, run_id = record.report, record.run_id
    report_dir = out_dir / name
    staging = out_dir / STAGING
    (report_dir / "runs").mkdir(parents=True, exist_ok=True)
    os.replace(staged, report_dir / "runs" / run_id)
    if record.ok:
        _adopt_legacy(report_dir, staging)
        _symlink_atomic(report_dir / LATEST, f"runs/{run_id}", staging)
        for file in ("index.html", RECORD_FILE, f"{name}.ipynb", DATA_ZIP):
            if file != DATA_ZIP or (report_dir / "runs" / run_id / file).is_file():
                _symlink_atomic(report_dir / file, f"{LATEST}/{file}", staging)
        pdf_link = report_dir / f"{name}.pdf"
        if record.pdf:
            _symlink_atomic(pdf_link, f"{LATEST}/{record.pdf}", staging)
        elif pdf_link.is_symlink():  # a run made without PDF: no link to an older run's
            pdf_link.unlink()
        href = f"{name}/index.html"
    else:
        href = f"{name}/runs/{run_id}/index.html"
    _prune(report_dir, keep, staging)
    return index_entry(record, "ok" if record.ok else "failed", href, report_dir)


def sweep(out_dir: Path) -> str | None:
    """Remove what a killed build left: ``.tmp/`` and hidden ``.*.tmp`` files and links in
    ``out_dir`` and in every report folder (only while holding the lock).

    Returns when the killed build left them (ISO 8601 UTC, the newest leftover's modification
    time), or None when there was nothing to sweep."""
    leftovers = [*out_dir.glob(".*.tmp"), *out_dir.glob("*/.*.tmp")]
    staged = out_dir / STAGING
    if staged.is_dir():
        leftovers.append(staged)
    times = [p.lstat().st_mtime for p in leftovers if p.exists() or p.is_symlink()]
    when = datetime.fromtimestamp(max(times), UTC).isoformat(timespec="seconds") if times else None
    shutil.rmtree(staged, ignore_errors=True)
    for leftover in leftovers:
        with contextlib.suppress(OSError):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
    return when
