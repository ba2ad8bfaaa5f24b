"""The report plan: which notebook runs with which parameters, under which report name.

``reports/plan.toml`` holds one ``[[report]]`` table per report (and optionally a top-level
``notebooks = "<folder>"``, relative to the plan file, default: the project's ``notebooks/``)::

    [[report]]
    name = "roundup"                    # report name (slugified: lowercase, [a-z0-9-])
    notebook = "01-roundup.ipynb"       # relative to the notebooks folder
    parameters = {}                     # passed to the notebook's `parameters` cell

    [[report]]
    name = "company-{company}"          # a template over the grid's parameters
    notebook = "02-company-profile.ipynb"
    parameters = {}
    [report.grid]
    company = "companies"               # a list of values, or "companies" (every company)

Optional keys of a report: ``title`` (default: the notebook's first markdown heading; for a
grid, followed by its values), ``description`` (one line; default: the first paragraph after
that heading) -- both templates over the grid like ``name`` -- and ``section``
(``overview`` | ``topics`` | ``companies``; default ``companies`` for a grid, else ``topics``),
the front page's section. An optional top-level ``[site]`` table holds ``url`` (the address
citations use) and ``publisher`` (see :class:`Site`).

An optional top-level ``[notify]`` table names who hears about a build (see
:func:`analysis.reports.notify.notify_settings`; ``roundup list`` never shows it)::

    [notify]
    urls = ["mailto://..."]             # Apprise URLs; keep credentials out of the repository
    on_change = true                    # also tell when figures changed (default: failures only)

A grid expands into one report per combination of its values (cartesian product, in the order
written). ``"companies"`` stands for ``Package.load("companies")["company"]``.

Every parameter is checked against the notebook's ``parameters`` cell before any kernel starts
(:func:`analysis.reports.parameters.check_parameters`): unknown names and values of the wrong
type raise :class:`~analysis.reports.parameters.ParameterError`, a :class:`PlanError`.
Report names are slugs of at most :data:`MAX_NAME` characters (see :func:`report_name`).
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import itertools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from analysis import paths
from analysis.errors import RoundupError

__all__ = [
    "MAX_NAME",
    "SECTIONS",
    "Site",
    "PlanError",
    "Report",
    "adhoc_report",
    "load_plan",
    "report_name",
    "resolve_notebook",
    "select",
    "slugify",
]

_REPORT_KEYS = {"name", "notebook", "parameters", "grid", "title", "description", "section"}
_SITE_KEYS = {"url", "publisher"}
#: The front page's sections, in order.
SECTIONS = ("overview", "topics", "companies")
#: Longest report name: a report's folder and files are named after it, and file systems
#: refuse names over 255 bytes; a longer name is cut and made unique by a hash (report_name).
MAX_NAME = 80


class PlanError(RoundupError, ValueError):
    """The plan, a report's notebook or a parameter is invalid; the message says which and why."""


@dataclass(frozen=True)
class Site:
    """Where the site is published (the plan's ``[site]`` table): ``url`` (the address reports
    are cited under, a placeholder by default) and ``publisher`` (who publishes them)."""

    url: str = "https://example.org/china-tech-roundup"
    publisher: str = "China tech roundup"


@dataclass(frozen=True)
class Report:
    """One report: a notebook run with checked parameters, published under ``name``.

    ``notebook`` and ``workdir`` are absolute paths; ``workdir`` is the kernel's working folder
    (the plan's notebooks folder, or the notebook's own folder when it lies outside). ``parameters`` holds JSON-compatible values only (str, int,
    float, bool, None, lists and dicts of those), already checked by
    :func:`analysis.reports.parameters.check_parameters`.
    """

    name: str
    notebook: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    workdir: Path = field(default_factory=paths.notebooks_dir)
    title: str = ""
    description: str = ""
    section: str = "topics"
    site: Site = field(default_factory=Site)

    @property
    def heading(self) -> str:
        """The title readers see: ``title``, or the report's name when it has none."""
        return self.title or self.name

    @property
    def notebook_label(self) -> str:
        """The notebook's path relative to ``workdir`` (or absolute when outside it)."""
        try:
            return self.notebook.relative_to(self.workdir).as_posix()
        except ValueError:
            return str(self.notebook)


def slugify(text: str) -> str:
    """``text`` lowercased, every run of characters outside ``[a-z0-9]`` replaced by one ``-``.

    Leading and trailing dashes are dropped: ``"company-Full Truck Alliance"`` ->
    ``"company-full-truck-alliance"``. May return ``""`` (e.g. for text in Chinese characters).
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def report_name(text: str) -> str:
    """``text`` slugified (:func:`slugify`) and, when longer than :data:`MAX_NAME` characters,
    cut and ended by ``-`` and 8 hex digits of the full slug's SHA-256, so that two long names
    differing only past the cut stay different. May return ``""`` as :func:`slugify` does.
    """
    slug = slugify(text)
    return slug if len(slug) <= MAX_NAME else _ended_by_digest(slug, slug)


def _ended_by_digest(name: str, whole: str) -> str:
    """``name`` cut to fit :data:`MAX_NAME` with ``-`` and 8 hex digits of ``whole``'s SHA-256."""
    digest = hashlib.sha256(whole.encode("utf-8")).hexdigest()[:8]
    return f"{name[: MAX_NAME - len(digest) - 1].rstrip('-')}-{digest}"


# --------------------------------------------------------------------------- plan


def _grid_values(report: str, key: str, spec: Any, data_dir: Path) -> list[Any]:
    """Values of one grid axis: a non-empty list, or "companies" (every company's name in the
    data package at ``data_dir``)."""
    if spec == "companies":
        try:
            return _company_names(data_dir)
        except (OSError, ValueError, KeyError) as exc:
            raise PlanError(f"report {report!r}: grid {key!r} needs the companies: {exc}") from None
    if isinstance(spec, list) and spec:
        return list(spec)
    raise PlanError(
        f'report {report!r}: grid {key!r} must be a non-empty list of values or "companies", '
        f"got {spec!r}"
    )


def _company_names(package_dir: Path) -> list[str]:
    """The key column of the data package's ``companies`` resource, read with :mod:`csv`.

    Expanding a plan needs only the names; a full typed load would import pandas and pandera,
    which a no-change rebuild never needs. The build validates the whole package before any
    report runs. Raises ``OSError``, ``ValueError`` or ``KeyError`` for a missing or
    malformed package.
    """
    import csv
    import json

    with open(package_dir / "datapackage.json", encoding="utf-8") as fh:
        package = json.load(fh)
    resource = next((r for r in package["resources"] if r["name"] == "companies"), None)
    if resource is None:
        raise KeyError("the data package has no 'companies' resource")
    key = resource["schema"]["primaryKey"][0]
    with open(package_dir / resource["path"], encoding="utf-8-sig", newline="") as fh:
        return [row[key].strip() for row in csv.DictReader(fh) if (row.get(key) or "").strip()]


def notebook_heading(notebook: Path) -> tuple[str, str]:
    """The notebook's first markdown heading (``# ...``, without the marks) and the first
    paragraph after it (lines joined by spaces); ``("", "")`` when it has none. Read with
    :mod:`json` (no nbformat): expanding the plan stays cheap."""
    import json

    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError):
        return "", ""
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        match = re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
        if not match:
            continue
        after = text[match.end() :].strip().split("\n\n")[0]
        paragraph = "" if after.startswith("#") else " ".join(after.split())
        return match.group(1).strip(), paragraph
    return "", ""


def _texts(entry: Mapping[str, Any], label: str, notebook: Path) -> dict[str, str]:
    """The report's ``title``, ``description`` (templates over the grid's values) and
    ``section`` (checked), defaulting to the notebook's heading and first paragraph."""
    for key in ("title", "description", "section"):
        if key in entry and not isinstance(entry[key], str):
            raise PlanError(f"report {label!r}: {key!r} must be a string")
    section = entry.get("section") or ("companies" if entry.get("grid") else "topics")
    if section not in SECTIONS:
        raise PlanError(
            f"report {label!r}: section {section!r} must be one of {', '.join(SECTIONS)}"
        )
    heading, paragraph = (
        t.replace("{", "{{").replace("}", "}}") for t in notebook_heading(notebook)
    )
    title = entry.get("title")
    if title is None:
        grid = " ".join(f"{{{key}}}" for key in entry.get("grid", {}))
        title = f"{heading}: {grid}" if heading and grid else heading or grid
    description = entry.get("description", paragraph)
    return {"title": title, "description": description, "section": section}


def _format(template: str, what: str, label: str, point: Mapping[str, Any]) -> str:
    """``template`` with the grid's values filled in (PlanError for a bad template)."""
    try:
        return template.format(**{k: _label(v) for k, v in point.items()})
    except (KeyError, IndexError, ValueError) as exc:
        raise PlanError(
            f"report {label!r}: bad {what} template (grid parameters: "
            f"{', '.join(point) or 'none'}): {exc!r}"
        ) from None


def _expand(
    entry: Mapping[str, Any], index: int, notebooks_dir: Path, data_dir: Path, site: Site
) -> list[Report]:
    """The reports of one ``[[report]]`` table (several when it has a grid)."""
    # they import PlanError from here
    from analysis.reports.parameters import check_parameters, notebook_parameters

    label = entry.get("name", f"#{index + 1}")
    unknown = set(entry) - _REPORT_KEYS
    if unknown:
        raise PlanError(
            f"report {label!r}: unknown key(s) {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(sorted(_REPORT_KEYS))})"
        )
    for key in ("name", "notebook"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise PlanError(f"report {label!r}: {key!r} is required and must be a string")
    parameters = entry.get("parameters", {})
    grid = entry.get("grid", {})
    for key, value in (("parameters", parameters), ("grid", grid)):
        if not isinstance(value, dict):
            raise PlanError(f"report {label!r}: {key!r} must be a table, got {value!r}")
    notebook = (notebooks_dir / entry["notebook"]).resolve()
    if not notebook.is_file():
        raise PlanError(f"report {label!r}: notebook not found: {notebook}")

    texts = _texts(entry, label, notebook)
    axes = [(key, _grid_values(label, key, spec, data_dir)) for key, spec in grid.items()]
    combos = itertools.product(*(values for _, values in axes)) if axes else [()]
    specs: Any = ...  # the parameters cell, read once for every report of a grid
    workdir = _workdir(notebook, notebooks_dir)
    reports = []
    for combo in combos:
        point = dict(zip([k for k, _ in axes], combo, strict=True))
        raw_name = _format(entry["name"], "name", label, point)
        name = report_name(raw_name)
        if not name:
            raise PlanError(f"report {label!r}: name {raw_name!r} has no letters or digits a-z 0-9")
        if specs is ... and (parameters or point):
            specs = notebook_parameters(notebook)
        checked = check_parameters(notebook, {**parameters, **point}, name, specs=specs)
        report = Report(
            name,
            notebook,
            checked,
            workdir,
            title=_format(texts["title"], "title", label, point),
            description=_format(texts["description"], "description", label, point),
            section=texts["section"],
            site=site,
        )
        reports.append(report)
    return reports


def _workdir(notebook: Path, notebooks_dir: Path) -> Path:
    """The kernel's working folder: ``notebooks_dir``, or the notebook's own folder when the
    notebook lies outside it (so relative paths in a notebook always resolve the same way)."""
    notebooks_dir = notebooks_dir.resolve()
    return notebooks_dir if notebook.is_relative_to(notebooks_dir) else notebook.parent


def _label(value: Any) -> str:
    """Text of a grid value inside a report name (dates as ISO strings)."""
    return value.isoformat() if isinstance(value, date) else str(value)


def load_plan(
    path: Path | None = None, notebooks_dir: Path | None = None, data_dir: Path | None = None
) -> list[Report]:
    """Read, expand and check the plan at ``path`` (default ``reports/plan.toml``).

    A ``"companies"`` grid expands over the companies of the data package at ``data_dir``
    (default :func:`analysis.paths.data_dir`).

    Notebook paths are relative to ``notebooks_dir``; by default the plan's optional top-level
    ``notebooks = "<folder>"`` (relative to the plan file), else the project's ``notebooks/``.
    Returns the reports in plan order (grids expanded in place).
    Raises :class:`PlanError` for a missing or malformed file, unknown keys, a missing notebook,
    a bad grid or name template, duplicate report names and every parameter error of
    :func:`check_parameters`.
    """
    path = Path(path) if path else paths.plan_file()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"plan not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{path}: not valid TOML: {exc}") from None
    extra = set(data) - {"report", "notebooks", "site", "notify"}
    if extra:
        raise PlanError(f"{path}: unknown top-level key(s): {', '.join(sorted(extra))}")
    if notebooks_dir is None:
        folder = data.get("notebooks")
        if folder is not None and not isinstance(folder, str):
            raise PlanError(f"{path}: 'notebooks' must be a path (relative to the plan file)")
        notebooks_dir = (path.parent / folder).resolve() if folder else paths.notebooks_dir()
    notebooks_dir = Path(notebooks_dir)
    data_dir = Path(data_dir) if data_dir else paths.data_dir()
    entries = data.get("report", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise PlanError(f"{path}: 'report' must be an array of tables ([[report]])")
    site = _site(path, data.get("site", {}))
    reports: list[Report] = []
    seen: dict[str, str] = {}
    for index, entry in enumerate(entries):
        for report in _expand(entry, index, notebooks_dir, data_dir, site):
            if report.name in seen:
                raise PlanError(
                    f"{path}: duplicate report name {report.name!r} "
                    f"(from {seen[report.name]} and {report.notebook_label})"
                )
            seen[report.name] = report.notebook_label
            reports.append(report)
    return reports


def _site(path: Path, table: Any) -> Site:
    """The plan's ``[site]`` table (``url``, ``publisher``; both optional strings)."""
    if not isinstance(table, dict):
        raise PlanError(f"{path}: 'site' must be a table ([site])")
    unknown = set(table) - _SITE_KEYS
    if unknown:
        raise PlanError(
            f"{path}: unknown key(s) in [site]: {', '.join(sorted(unknown))} "
            f"(allowed: {', '.join(sorted(_SITE_KEYS))})"
        )
    bad = [k for k, v in table.items() if not isinstance(v, str) or not v]
    if bad:
        raise PlanError(f"{path}: [site] {', '.join(bad)} must be non-empty strings")
    return Site(**table)


# --------------------------------------------------------------------------- selection


def resolve_notebook(ref: str, notebooks_dir: Path | None = None) -> Path | None:
    """The notebook ``ref`` names (``02-company-profile`` or ``02-company-profile.ipynb``, in
    ``notebooks_dir`` or as a path), or None when there is no such file."""
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else paths.notebooks_dir()
    names = [ref] if ref.endswith(".ipynb") else [f"{ref}.ipynb"]
    for name in names:
        for candidate in (notebooks_dir / name, Path(name)):
            if candidate.is_file():
                return candidate.resolve()
    return None


def _adhoc_name(stem: str, parameters: Mapping[str, Any]) -> str:
    """``stem`` and the parameter values as :func:`report_name` makes them; where a value has
    characters a slug cannot spell (Chinese characters, other non-ASCII text), ended by 8 hex
    digits of the values' SHA-256 so that such runs do not share a name."""
    labels = [_label(v) for v in parameters.values()]
    readable = report_name("-".join([stem, *labels]))
    if all(label.isascii() for label in labels):
        return readable
    return _ended_by_digest(readable, "\x00".join(labels))


def adhoc_report(
    notebook: Path,
    parameters: Mapping[str, Any],
    notebooks_dir: Path | None = None,
    name: str | None = None,
) -> Report:
    """A report outside the plan: ``notebook`` with ``parameters`` (checked).

    Its default name is the notebook's stem followed by the parameter values, as
    :func:`report_name` makes it (slugified, at most :data:`MAX_NAME` characters):
    ``02-company-profile`` with ``company="Tencent"`` -> ``02-company-profile-tencent``; a value
    a slug cannot spell adds a hash (``company="滴滴"`` -> ``02-company-profile-<8 hex digits>``).
    An explicit ``name`` must already be a slug (``[a-z0-9-]``) of at most :data:`MAX_NAME`
    characters. Raises :class:`PlanError` for an empty or invalid name, and as
    :func:`analysis.reports.parameters.check_parameters` does.
    """
    from analysis.reports.parameters import check_parameters  # it imports PlanError from here

    notebook = Path(notebook).resolve()
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else paths.notebooks_dir()
    if name is None:
        name = _adhoc_name(notebook.stem, parameters)
    elif name != slugify(name) or len(name) > MAX_NAME:
        raise PlanError(
            f"report name {name!r} must be lowercase letters, digits and single dashes "
            f"([a-z0-9-]), at most {MAX_NAME} characters; e.g. {report_name(name) or 'my-report'!r}"
        )
    if not name:
        raise PlanError(f"cannot name an ad-hoc report of {notebook.name}")
    checked = check_parameters(notebook, parameters, name)
    heading, paragraph = notebook_heading(notebook)
    workdir = _workdir(notebook, notebooks_dir)
    return Report(name, notebook, checked, workdir, title=heading, description=paragraph)


def select(
    plan: Sequence[Report], patterns: Iterable[str], notebooks_dir: Path | None = None
) -> list[Report]:
    """The reports of ``plan`` matching ``patterns`` (names or shell patterns like
    ``company-*``), in plan order; every report when ``patterns`` is empty.

    A pattern matching no report but naming a notebook (see :func:`resolve_notebook`) adds an
    ad-hoc report of that notebook with its default parameters.
    Raises :class:`PlanError` for a pattern that matches nothing (suggesting a close name).
    """
    patterns = list(patterns)
    if not patterns:
        return list(plan)
    chosen: set[str] = set()
    extra: list[Report] = []
    names = [r.name for r in plan]
    for pattern in patterns:
        matched = fnmatch.filter(names, pattern)
        if matched:
            chosen.update(matched)
            continue
        notebook = resolve_notebook(pattern, notebooks_dir)
        if notebook is not None:
            extra.append(adhoc_report(notebook, {}, notebooks_dir))
            continue
        close = difflib.get_close_matches(pattern, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise PlanError(f"no report or notebook named {pattern!r}{hint}")
    return [r for r in plan if r.name in chosen] + extra
