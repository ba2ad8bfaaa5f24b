"""What makes a report a publication: its data, its sources, how to cite it, what changed.

* :func:`data_zip` packs a data package (``datapackage.json`` and the files its resources name)
  into a deterministic zip: sorted names, fixed timestamps and permissions, so identical data
  gives an identical archive (and sha256). Each run keeps it as ``data.zip``.
* :func:`data_as_of` is the date the data runs to: the latest ``as_of`` of every CSV.
* :func:`sources` lists the sources the package cites (``sources.csv``).
* :func:`citation` makes a plain-text citation and a BibTeX entry.
* :func:`report_changes` compares the data of a report's previous good run with this run's
  (:mod:`analysis.reports.changes`) as the report page and ``changes.html`` show it.

Standard library only (``csv``, ``zipfile``): a no-change rebuild reads these too.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.reports import changes
from analysis.reports.publish import DATA_ZIP

__all__ = [
    "DATA_ZIP",
    "DataArchive",
    "citation",
    "data_as_of",
    "data_zip",
    "diff_summary",
    "page_extras",
    "package_files",
    "read_zip",
    "report_changes",
    "sources",
]

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class DataArchive:
    """A packed data package: the zip's ``content``, its ``sha256`` (hex) and size in bytes."""

    content: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.content)

    def to_dict(self) -> dict[str, Any]:
        """What run.json records: ``{"file": "data.zip", "sha256", "bytes"}``."""
        return {"file": DATA_ZIP, "sha256": self.sha256, "bytes": self.size}


def _descriptor(data_dir: Path) -> dict[str, Any]:
    with open(Path(data_dir) / "datapackage.json", encoding="utf-8") as fh:
        return json.load(fh)


def package_files(data_dir: Path) -> list[str]:
    """``datapackage.json`` and every resource path it names (relative, sorted).

    Raises ``OSError``/``ValueError`` for a missing or malformed ``datapackage.json``."""
    paths = {"datapackage.json"}
    for res in _descriptor(data_dir).get("resources", []):
        if isinstance(res.get("path"), str):
            paths.add(res["path"])
    return sorted(paths)


def data_zip(data_dir: Path) -> DataArchive:
    """The data package at ``data_dir`` as a deterministic zip (see the module docstring).

    Raises ``OSError`` for a missing file and ``ValueError`` for a malformed descriptor."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in package_files(data_dir):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, (Path(data_dir) / name).read_bytes())
    content = buffer.getvalue()
    return DataArchive(content, hashlib.sha256(content).hexdigest())


def read_zip(path: Path) -> changes.Snapshot:
    """The data package packed in the zip at ``path`` (as :func:`data_zip` writes it), read for
    :func:`analysis.reports.changes.compare`. Raises :class:`changes.ChangesError` when it
    cannot be read."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise changes.ChangesError(f"cannot read {path}: {exc}") from None

    def read(name: str) -> str:
        try:
            return archive.read(name).decode("utf-8-sig")
        except (KeyError, UnicodeDecodeError) as exc:
            raise changes.ChangesError(f"cannot read {name} in {path}: {exc}") from None

    with archive:
        return changes._read_package(str(path), read)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def data_as_of(data_dir: Path) -> str:
    """The latest ``as_of`` (ISO date text, e.g. ``2021-07-30``) of every CSV of the package at
    ``data_dir`` that has an ``as_of`` column; ``""`` when none does. Dates known only to the
    month or year (``2021-07``) compare as text, which orders ISO dates correctly."""
    latest = ""
    for name in package_files(data_dir):
        if name.endswith(".csv"):
            for row in _rows(Path(data_dir) / name):
                latest = max(latest, (row.get("as_of") or "").strip())
    return latest


def sources(data_dir: Path) -> list[dict[str, str]]:
    """The sources the package cites, from its ``sources`` resource, in file order:
    ``{"id", "publisher", "producer", "title", "date", "url", "local_copy"}`` (texts, "" when
    empty). ``[]`` when the package has no ``sources`` resource."""
    resource = next(
        (r for r in _descriptor(data_dir).get("resources", []) if r.get("name") == "sources"),
        None,
    )
    if resource is None or not isinstance(resource.get("path"), str):
        return []
    keys = {"id": "source_id", "date": "date_published", "local_copy": "local_copy"}
    keys.update({k: k for k in ("publisher", "producer", "title", "url")})
    return [
        {out: (row.get(col) or "").strip() for out, col in keys.items()}
        for row in _rows(Path(data_dir) / resource["path"])
    ]


def citation(
    title: str, report: str, run_date: str, site_url: str, publisher: str
) -> dict[str, str]:
    """How to cite a report: ``{"url", "text", "bibtex"}``.

    ``run_date`` is the run's ISO time (its date part is used); ``url`` is
    ``<site_url>/<report>/`` (``site_url`` from the plan's ``[site] url``).
    """
    day = run_date[:10]
    url = f"{site_url.rstrip('/')}/{report}/"
    text = f"{publisher}. “{title}”. {day}. {url}"
    key = re.sub(r"[^A-Za-z0-9]+", "-", f"{report}-{day}").strip("-")

    def bib(value: str) -> str:
        return re.sub(r"([{}\\&%$#_])", r"\\\1", value)

    bibtex = (
        f"@misc{{{key},\n  title = {{{bib(title)}}},\n  author = {{{bib(publisher)}}},\n"
        f"  year = {{{day[:4]}}},\n  date = {{{day}}},\n  url = {{{url}}},\n"
        f"  note = {{Report run {day}}}\n}}"
    )
    return {"url": url, "text": text, "bibtex": bibtex}


def _change_row(change: changes.Change) -> dict[str, Any]:
    return {
        "dataset": change.dataset,
        "key": change.key,
        "field": change.field,
        "kind": change.kind,
        "old": change.old.describe() if change.old else None,
        "new": change.new.describe() if change.new else None,
        "text": change.describe(),
    }


def diff_summary(diff: changes.PackageDiff) -> dict[str, Any]:
    """What pages show of a package diff: ``{"figures_changed", "changes": [{"dataset", "key",
    "field", "kind", "old", "new", "text"}], "other_changes": n}`` (old/new as readable texts,
    None for an added/removed side)."""
    return {
        "figures_changed": diff.figures_changed,
        "changes": [_change_row(c) for c in diff.changes],
        "other_changes": len(diff.other_changes),
    }


def report_changes(
    previous: Mapping[str, Any] | None, previous_zip: Path | None, data_dir: Path
) -> dict[str, Any]:
    """What changed in a report's figures since its previous good run.

    ``previous`` is that run's record as a dict (or None), ``previous_zip`` its ``data.zip``.
    Returns ``{"first": bool, "since_run_id", "since", "figures_changed", "changes": [...],
    "other_changes": n}``; ``first`` (no earlier version to compare) when there is no previous
    run or it kept no data package. Raises :class:`changes.ChangesError` for an unreadable
    package.
    """
    if not previous or previous_zip is None or not Path(previous_zip).is_file():
        return {"first": True, "since_run_id": None, "since": None, "figures_changed": False,
                "changes": [], "other_changes": 0}  # fmt: skip
    return {
        "first": False,
        "since_run_id": previous.get("run_id"),
        "since": previous.get("finished"),
        **_summary_since(Path(previous_zip), Path(data_dir)),
    }


_SUMMARIES: dict[tuple, dict[str, Any]] = {}  # a build's reports mostly share one previous zip


def _summary_since(previous_zip: Path, data_dir: Path) -> dict[str, Any]:
    """:func:`diff_summary` of the package in ``previous_zip`` against ``data_dir``, computed
    once per pair of packages (the zip's sha256; the folder's files' sizes and mtimes)."""
    try:
        stats = [(f, (data_dir / f).stat()) for f in package_files(data_dir)]
        state = tuple((f, st.st_size, st.st_mtime_ns) for f, st in stats)
        key = (hashlib.sha256(previous_zip.read_bytes()).hexdigest(), str(data_dir), state)
    except (OSError, ValueError):  # compare says what is wrong
        key = None
    if key is None or key not in _SUMMARIES:
        diff = changes.compare(read_zip(previous_zip), changes.read_folder(data_dir))
        if key is None:
            return diff_summary(diff)
        if len(_SUMMARIES) > 8:
            _SUMMARIES.clear()
        _SUMMARIES[key] = diff_summary(diff)
    return copy.deepcopy(_SUMMARIES[key])


def _since_text(iso: Any) -> str:
    """'2026-11-29T18:45:07+00:00' -> '29 Nov 2026, 18:45 UTC' (the site's way to say when)."""
    from analysis.reports.site import when

    return when(iso)


def page_extras(
    report: Any,
    run_started: str,
    archive: DataArchive,
    as_of: str,
    cited: list[dict[str, str]],
    changed: dict[str, Any],
) -> dict[str, Any]:
    """What a report's page shows beyond its notebook (JSON values, for
    :attr:`analysis.reports.job.Job.page`): ``title``, ``description``, ``section``,
    ``data`` (``{"file", "href", "sha256", "bytes", "kb"}``), ``as_of``, ``sources`` (as
    :func:`sources`), ``citation`` (:func:`citation`) and ``changes`` (:func:`report_changes`,
    plus ``since_text``). ``report`` is a :class:`analysis.reports.plan.Report`."""
    title = report.heading
    return {
        "title": title,
        "description": report.description,
        "section": report.section,
        "data": {**archive.to_dict(), "href": DATA_ZIP, "kb": max(1, round(archive.size / 1024))},
        "as_of": as_of,
        "sources": cited,
        "citation": citation(
            title, report.name, run_started, report.site.url, report.site.publisher
        ),  # fmt: skip
        "changes": {**changed, "since_text": _since_text(changed.get("since"))},
    }
