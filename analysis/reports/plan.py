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

A grid expands into one report per combination of its values (cartesian product, in the order
written). ``"companies"`` stands for ``Package.load("companies")["company"]``.

Every parameter is checked against the notebook's ``parameters`` cell before any kernel starts
(:func:`check_parameters`): unknown names and values of the wrong type raise :class:`PlanError`.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import itertools
import math
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from analysis import paths

__all__ = [
    "PlanError",
    "Report",
    "adhoc_report",
    "check_parameters",
    "load_plan",
    "notebook_parameters",
    "resolve_notebook",
    "select",
    "slugify",
]

_REPORT_KEYS = {"name", "notebook", "parameters", "grid"}
_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
}
_OPTIONAL = re.compile(r"^(?:(?:typing\.)?Optional\[(\w+)\]|(\w+)\s*\|\s*None|None\s*\|\s*(\w+))$")


class PlanError(ValueError):
    """The plan, a report's notebook or a parameter is invalid; the message says which and why."""


@dataclass(frozen=True)
class Report:
    """One report: a notebook run with checked parameters, published under ``name``.

    ``notebook`` and ``workdir`` are absolute paths; ``workdir`` is the kernel's working folder
    (the plan's notebooks folder, or the notebook's own folder when it lies outside). ``parameters`` holds JSON-compatible values only (str, int,
    float, bool, None, lists and dicts of those), already checked by :func:`check_parameters`.
    """

    name: str
    notebook: Path
    parameters: dict[str, Any] = field(default_factory=dict)
    workdir: Path = field(default_factory=paths.notebooks_dir)

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


# --------------------------------------------------------------------------- parameters


def notebook_parameters(notebook: Path) -> dict[str, dict[str, str]]:
    """The parameters declared in ``notebook``'s cell tagged ``parameters``.

    Returns ``{name: {"name", "inferred_type_name", "default", "help"}}`` in the shape of
    papermill's parameter inspection (``default`` is source text, e.g. ``'"Didi"'``; the type
    name is the annotation or ``"None"``), read with :mod:`ast` (papermill's line-based reader
    misses some valid declarations, and importing it costs a no-change rebuild a second);
    ``{}`` when the notebook has no parameters cell.
    Raises :class:`PlanError` if the notebook is missing or not a notebook.
    """
    from analysis.reports.run import read_notebook_json

    try:
        nb = read_notebook_json(notebook)
    except FileNotFoundError:
        raise PlanError(f"notebook not found: {notebook}") from None
    except (OSError, ValueError) as exc:
        raise PlanError(f"cannot read notebook {notebook}: {exc}") from None
    cell = next(
        (
            c
            for c in nb["cells"]
            if c.get("cell_type") == "code"
            and "parameters" in c.get("metadata", {}).get("tags", [])
        ),
        None,
    )
    if cell is None:
        return {}
    source = cell.get("source", "")
    return _assigned_names("".join(source) if isinstance(source, list) else source)


def _assigned_names(source: str) -> dict[str, dict[str, str]]:
    """Top-level assignments of a parameters cell, read with :mod:`ast` (annotated ones such as
    ``as_of: str | None = None`` and multi-line values included). ``{}`` if it does not parse.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    found: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            annotation = ast.get_source_segment(source, node.annotation) or "None"
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            annotation = "None"
            targets = [t for t in node.targets if isinstance(t, ast.Name)]
            value = node.value
        else:
            continue
        default = ast.get_source_segment(source, value) if value is not None else "None"
        for target in targets:
            found[target.id] = {
                "name": target.id,
                "inferred_type_name": annotation,
                "default": default or "None",
                "help": "",
            }
    return found


def _expected_type(spec: Mapping[str, str]) -> tuple[type | None, bool]:
    """(type the value must have or None for any, whether None is accepted) for one parameter."""
    annotation = spec.get("inferred_type_name", "None").strip()
    allow_none = False
    optional = _OPTIONAL.match(annotation)
    if optional:
        annotation = next(g for g in optional.groups() if g)
        allow_none = True
    annotation = annotation.split("[", 1)[0]  # list[str] -> list
    try:
        default = ast.literal_eval(spec.get("default", ""))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        default = ...  # an expression: its type is unknown
    if default is None:
        allow_none = True
    if annotation in _TYPES:
        return _TYPES[annotation], allow_none
    if type(default) in _TYPES.values():
        return type(default), allow_none
    return None, True


def _plain(value: Any, where: str) -> Any:
    """``value`` as a JSON-compatible Python value, or raise PlanError.

    numpy scalars become Python scalars; ``datetime.date``/``datetime`` become ISO strings;
    lists and dicts are converted element by element; tuples, sets, NaN and infinities and
    other objects are refused.
    """
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic):
        value = value.item()
    if isinstance(value, date):  # datetime is a date too; both travel as ISO strings
        return value.isoformat()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PlanError(f"{where}: {value!r} is not a finite number (NaN and inf are refused)")
        return value
    if isinstance(value, tuple):
        raise PlanError(f"{where}: got a tuple {value!r}; use a list")
    if isinstance(value, list):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise PlanError(f"{where}: dict keys must be strings, got {key!r}")
            out[key] = _plain(v, f"{where}[{key!r}]")
        return out
    raise PlanError(
        f"{where}: unsupported value {value!r} of type {type(value).__name__} "
        "(use str, int, float, bool, None, a list or a dict)"
    )


def check_parameters(notebook: Path, parameters: Mapping[str, Any], report: str) -> dict[str, Any]:
    """Check ``parameters`` against ``notebook``'s parameters cell; return them normalised.

    Normalised values are JSON-compatible (see :func:`_plain`): dates become ISO strings, numpy
    scalars Python scalars, an int given for a float parameter becomes a float. The expected type
    is the annotation (``as_of: str = ...``) or else the type of the literal default; a default
    of ``None`` or ``Optional[T]`` also accepts None; an expression default accepts anything.

    Raises :class:`PlanError` naming the report and parameter for an unknown name (with the
    closest known name), a value of the wrong type, NaN/inf, a tuple or an unsupported object,
    and for a missing or unreadable notebook.
    """
    specs = notebook_parameters(notebook)
    checked: dict[str, Any] = {}
    for name, raw in parameters.items():
        if name not in specs:
            known = sorted(specs)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            listing = ", ".join(known) if known else "none (no cell tagged 'parameters')"
            raise PlanError(
                f"report {report!r}: {notebook.name} has no parameter {name!r}{hint} "
                f"(its parameters: {listing})"
            )
        where = f"report {report!r}, parameter {name!r}"
        value = _plain(raw, where)
        expected, allow_none = _expected_type(specs[name])
        default = specs[name].get("default", "")
        if value is None:
            if not allow_none:
                raise PlanError(
                    f"{where}: got None; expected {expected.__name__} (default {default})"
                )
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif expected is not None and not (
            isinstance(value, expected) and (expected is bool or not isinstance(value, bool))
        ):
            raise PlanError(
                f"{where}: expected {expected.__name__} (default {default}), "
                f"got {type(value).__name__} {value!r}"
            )
        checked[name] = value
    return checked


# --------------------------------------------------------------------------- plan


def _grid_values(report: str, key: str, spec: Any) -> list[Any]:
    """Values of one grid axis: a non-empty list, or "companies" (every company's name)."""
    if spec == "companies":
        try:
            return _company_names()
        except (OSError, ValueError, KeyError) as exc:
            raise PlanError(f"report {report!r}: grid {key!r} needs the companies: {exc}") from None
    if isinstance(spec, list) and spec:
        return list(spec)
    raise PlanError(
        f'report {report!r}: grid {key!r} must be a non-empty list of values or "companies", '
        f"got {spec!r}"
    )


def _company_names() -> list[str]:
    """The key column of the data package's ``companies`` resource, read with :mod:`csv`.

    Expanding a plan needs only the names; a full typed load would import pandas and pandera,
    which a no-change rebuild never needs. The build validates the whole package before any
    report runs. Raises ``OSError``, ``ValueError`` or ``KeyError`` for a missing or
    malformed package.
    """
    import csv
    import json

    package_dir = paths.data_dir()
    with open(package_dir / "datapackage.json", encoding="utf-8") as fh:
        package = json.load(fh)
    resource = next((r for r in package["resources"] if r["name"] == "companies"), None)
    if resource is None:
        raise KeyError("the data package has no 'companies' resource")
    key = resource["schema"]["primaryKey"][0]
    with open(package_dir / resource["path"], encoding="utf-8-sig", newline="") as fh:
        return [row[key].strip() for row in csv.DictReader(fh) if (row.get(key) or "").strip()]


def _expand(entry: Mapping[str, Any], index: int, notebooks_dir: Path) -> list[Report]:
    """The reports of one ``[[report]]`` table (several when it has a grid)."""
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

    axes = [(key, _grid_values(label, key, spec)) for key, spec in grid.items()]
    combos = itertools.product(*(values for _, values in axes)) if axes else [()]
    reports = []
    for combo in combos:
        point = dict(zip([k for k, _ in axes], combo, strict=True))
        try:
            raw_name = entry["name"].format(**{k: _label(v) for k, v in point.items()})
        except (KeyError, IndexError, ValueError) as exc:
            raise PlanError(
                f"report {label!r}: bad name template (grid parameters: "
                f"{', '.join(point) or 'none'}): {exc!r}"
            ) from None
        name = slugify(raw_name)
        if not name:
            raise PlanError(f"report {label!r}: name {raw_name!r} has no letters or digits a-z 0-9")
        checked = check_parameters(notebook, {**parameters, **point}, name)
        reports.append(Report(name, notebook, checked, _workdir(notebook, notebooks_dir)))
    return reports


def _workdir(notebook: Path, notebooks_dir: Path) -> Path:
    """The kernel's working folder: ``notebooks_dir``, or the notebook's own folder when the
    notebook lies outside it (so relative paths in a notebook always resolve the same way)."""
    notebooks_dir = notebooks_dir.resolve()
    return notebooks_dir if notebook.is_relative_to(notebooks_dir) else notebook.parent


def _label(value: Any) -> str:
    """Text of a grid value inside a report name (dates as ISO strings)."""
    return value.isoformat() if isinstance(value, date) else str(value)


def load_plan(path: Path | None = None, notebooks_dir: Path | None = None) -> list[Report]:
    """Read, expand and check the plan at ``path`` (default ``reports/plan.toml``).

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
    extra = set(data) - {"report", "notebooks"}
    if extra:
        raise PlanError(f"{path}: unknown top-level key(s): {', '.join(sorted(extra))}")
    if notebooks_dir is None:
        folder = data.get("notebooks")
        if folder is not None and not isinstance(folder, str):
            raise PlanError(f"{path}: 'notebooks' must be a path (relative to the plan file)")
        notebooks_dir = (path.parent / folder).resolve() if folder else paths.notebooks_dir()
    notebooks_dir = Path(notebooks_dir)
    entries = data.get("report", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise PlanError(f"{path}: 'report' must be an array of tables ([[report]])")
    reports: list[Report] = []
    seen: dict[str, str] = {}
    for index, entry in enumerate(entries):
        for report in _expand(entry, index, notebooks_dir):
            if report.name in seen:
                raise PlanError(
                    f"{path}: duplicate report name {report.name!r} "
                    f"(from {seen[report.name]} and {report.notebook_label})"
                )
            seen[report.name] = report.notebook_label
            reports.append(report)
    return reports


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


def adhoc_report(
    notebook: Path,
    parameters: Mapping[str, Any],
    notebooks_dir: Path | None = None,
    name: str | None = None,
) -> Report:
    """A report outside the plan: ``notebook`` with ``parameters`` (checked).

    Its default name is the notebook's stem followed by the parameter values, slugified:
    ``02-company-profile`` with ``company="Tencent"`` -> ``02-company-profile-tencent``.
    Raises :class:`PlanError` as :func:`check_parameters` does, or for an empty name.
    """
    notebook = Path(notebook).resolve()
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else paths.notebooks_dir()
    if name is None:
        name = slugify("-".join([notebook.stem, *(_label(v) for v in parameters.values())]))
    if not name:
        raise PlanError(f"cannot name an ad-hoc report of {notebook.name}")
    checked = check_parameters(notebook, parameters, name)
    return Report(name, notebook, checked, _workdir(notebook, notebooks_dir))


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
