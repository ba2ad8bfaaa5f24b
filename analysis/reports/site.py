"""The site's own pages: the front page (``index.html`` + ``index.json``), ``build.html``,
``changes.html`` and ``datasets.html``.

``index.json``: ``{"generated", "build": {"id", "started", "finished", "counts"},
"reports": [{"name", "notebook", "parameters", "status": "ok" | "failed" | "skipped",
"run_id", "finished", "duration_s", "href", "error", "last_good_href", "last_good_run_id",
"last_good_finished", "title", "description", "section", "data", "changes",
"figures_changed", "pdf_href"}], "data": {"as_of", "href", "sha256", "bytes"}, "changes": {...}}``; ``href`` is the run's page (a failed run's page under ``runs/``),
``last_good_*`` describe the run readers see and ``pdf_href`` its PDF (null if none). Entries of reports not selected in
a build are kept from the previous index (:func:`merged_index`). ``builds`` is the run history
``build.html`` shows: this build and the ones before it, newest first, at most
:data:`BUILD_HISTORY`, each ``{"id", "started", "finished", "counts"}`` as ``build`` is.

Pages are rendered from the Jinja templates in ``analysis/templates/`` (``index.html.j2``,
``datasets.html.j2``, sharing ``page.html.j2`` and ``site.css``); every text is escaped with
:func:`html.escape`. Files are written atomically (:mod:`analysis.reports.publish`).
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.reports.plan import SECTIONS
from analysis.reports.publish import read_json, write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    import jinja2

__all__ = ["BUILD_HISTORY", "build_history", "merged_index", "write_data_dictionary", "write_index"]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
#: Builds ``build.html`` lists (and ``index.json`` keeps under ``builds``), this one included.
BUILD_HISTORY = 10


def when(iso: Any) -> str:
    """'2026-11-29T18:45:07+00:00' -> '29 Nov 2026, 18:45 UTC' (empty stays empty)."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(str(iso)).astimezone(UTC)
    except ValueError:
        return str(iso)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def _seconds(value: Any) -> str:
    return f"{value:.1f} s" if isinstance(value, int | float) else ""


def _took(started: Any, finished: Any) -> str:
    """How long from ``started`` to ``finished`` (ISO 8601): ``'42.0 s'``, ``'3 min 05 s'``;
    empty when either is missing or unreadable."""
    try:
        seconds = (
            datetime.fromisoformat(finished) - datetime.fromisoformat(started)
        ).total_seconds()
    except (TypeError, ValueError):
        return ""
    if seconds < 60:
        return _seconds(seconds)
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


@functools.cache
def _templates() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=False,  # the templates escape every value with `esc` (html.escape)
        keep_trailing_newline=True,
        undefined=jinja2.Undefined,
        # compiled templates kept between runs (a no-change build renders three pages: compiling
        # their templates cost more than the rest of it); keyed by template source and Python
        bytecode_cache=jinja2.FileSystemBytecodeCache(),
    )
    env.filters.update(
        esc=_esc,
        when=when,
        seconds=_seconds,
        took=_took,
        json=lambda v: json.dumps(v, ensure_ascii=False),
    )
    return env


def _render(template: str, **values: Any) -> str:
    return _templates().get_template(template).render(**values)


def write_index(out_dir: Path, index: Mapping[str, Any]) -> None:
    """Write ``index.json`` and the pages made from it, atomically, every text escaped:
    ``index.html`` (the front page: reports by section), ``build.html`` (durations, run ids,
    parameters, errors; the recent builds of ``index["builds"]``) and ``changes.html`` (what
    changed in the figures in this build)."""
    counts = index["build"]["counts"]
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    sections = [
        (name, [e for e in index["reports"] if e.get("section", "topics") == name])
        for name in SECTIONS
    ]
    values = {"index": index, "summary": summary, "sections": sections}
    write_json_atomic(out_dir / "index.json", index)
    for page in ("build", "changes", "index"):  # the front page last: it links the others
        write_text_atomic(out_dir / f"{page}.html", _render(f"{page}.html.j2", **values))


def merged_index(
    out_dir: Path, entries: Iterable[Mapping[str, Any]], build: Mapping[str, Any]
) -> dict[str, Any]:
    """The index to write: this build's entries first (plan order), then earlier entries of
    ``out_dir/index.json`` whose folder still exists; ``builds``: see :func:`build_history`."""
    current = {e["name"]: dict(e) for e in entries}
    previous_index = read_json(out_dir / "index.json") or {}
    previous = previous_index.get("reports", [])
    kept = [
        {**e, "changes": None, "figures_changed": False}  # nothing of them changed now
        for e in previous
        if isinstance(e, dict)
        and e.get("name") not in current
        and (out_dir / str(e.get("name"))).is_dir()
    ]
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "build": dict(build),
        "reports": list(current.values()) + kept,
        "builds": build_history(build, previous_index),
    }


def build_history(build: Mapping[str, Any], previous: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``build`` then the builds before it, newest first, at most :data:`BUILD_HISTORY`: those
    ``previous`` (the site's last ``index.json``) keeps under ``builds``, or its ``build`` for an
    index written before the history was kept. A build written again (the index is rewritten as
    reports finish) counts once, by ``id``."""
    earlier = previous.get("builds")
    if not isinstance(earlier, list):
        earlier = [previous.get("build")]
    kept = [dict(b) for b in earlier if isinstance(b, dict) and b.get("id") != build.get("id")]
    return [dict(build), *kept][:BUILD_HISTORY]


def _who(source: Mapping[str, Any]) -> str:
    publisher = str(source.get("publisher") or source.get("title") or "")
    producer = str(source.get("producer") or publisher)
    return publisher if producer == publisher else f"{producer} via {publisher}"


def _web_url(url: Any) -> str | None:
    """``url`` when it is an http(s) address a reader can follow, else None (not linked)."""
    text = url.strip() if isinstance(url, str) else ""  # <NA> for an empty cell
    return text if text.lower().startswith(("https://", "http://")) else None


def _datasets(data_dir: Path) -> list[dict[str, Any]]:
    """What ``datasets.html`` shows of each dataset: name, title, description, rows, its
    sources (``{"id", "who", "url"}``, ``who`` None for an unknown source, ``url`` None
    without a web address) and its fields (rows of
    field, type, unit, constraints, key, description as texts)."""
    import pandas as pd

    from analysis.data import Package

    package = Package(data_dir)
    catalog = package.catalog()
    fields = package.dictionary()
    sources = (
        {r["source_id"]: r for r in package.load("sources").to_dict("records")}
        if "sources" in set(catalog["name"])
        else {}
    )
    columns = ("field", "type", "unit", "constraints", "key", "description")
    shown = []
    for ds in catalog.to_dict("records"):
        rows = fields[fields["dataset"] == ds["name"]]
        cited = [s for s in str(rows["sources"].iloc[0] or "").split(", ") if s]
        shown.append(
            {
                "name": ds["name"],
                "title": ds["title"],
                "description": ds["description"],
                "rows": ds["rows"],
                "sources": [
                    {
                        "id": s,
                        "who": _who(sources[s]) if s in sources else None,
                        "url": _web_url(sources.get(s, {}).get("url")),
                    }
                    for s in cited
                ],
                "fields": [
                    ["" if pd.isna(r[c]) else str(r[c]) for c in columns]
                    for r in rows.to_dict("records")
                ],
            }
        )
    return shown


def write_data_dictionary(out_dir: Path, data_dir: Path) -> None:
    """Write ``datasets.html``: every dataset of the package with its fields, units, constraints,
    keys, row count and sources (from :meth:`analysis.data.Package.dictionary`), all text escaped.

    Raises what :meth:`analysis.data.Package.catalog` raises for a package it cannot read."""
    page = _render("datasets.html.j2", datasets=_datasets(data_dir))
    write_text_atomic(out_dir / "datasets.html", page)
