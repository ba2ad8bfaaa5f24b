"""Figure-level differences between two data packages: what a reader would see change.

Two packages (folders holding ``datapackage.json`` and its CSV files, or a git revision of such a
folder) are compared resource by resource, row by row on each resource's primary key. The result
is a :class:`PackageDiff`: typed :class:`Change` records for figures (added, removed, changed) and
:class:`OtherChange` records for everything else (notes, descriptions, whole rows of resources
that hold no figure).

What a *figure* is, read from each package's own Table Schema:

* every field of type ``number`` or ``integer`` (``amount_usd``, ``users``, ``stake_pct``),
* with its qualifier field, paired by name: ``<stem>_qualifier`` where the figure is named
  ``<stem>`` or ``<stem>_<unit>`` (``valuation_usd`` -> ``valuation_qualifier``,
  ``investment_usd`` -> ``investment_qualifier``, ``price_usd`` -> ``price_qualifier``);
  otherwise the plain ``qualifier`` field goes with the row's first figure that has no qualifier
  of its own (``amount_usd``, ``stake_pct``, ``value``, ``users``); a figure left over has none,
* plus the row's ``source_id`` and ``as_of``.

A change of any of these is a figure change. Changes of other fields are "other changes"; so are
``source_id`` / ``as_of`` changes of a row that states no figure on either side. A build whose
data did not change, or changed only in notes, says "No change in figures."

Pure and fast: the standard ``csv`` module, no pandas (pandas loads only to render text).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

from analysis.data.pairing import figure_fields
from analysis.errors import RoundupError

__all__ = [
    "Change",
    "ChangesError",
    "OtherChange",
    "PackageDiff",
    "Snapshot",
    "Stated",
    "compare",
    "diff",
    "figure_fields",
    "read_folder",
    "read_revision",
    "resolve",
]

Kind = Literal["added", "removed", "changed"]

#: Units :func:`analysis.present.formatting.format_figure` knows; others render as plain numbers.
_UNITS = ("USD", "percent", "users", "downloads")
_CONTEXT = ("source_id", "as_of")


class ChangesError(RoundupError):
    """A package cannot be read for comparison: no such folder or revision, bad JSON or CSV."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Stated:
    """One side of a figure: the value with its qualifier, source and date.

    ``value``: int or float in the field's unit (USD, a count, percent 0-100); ``qualifier``:
    exact / approximate / at_least / at_most or ``None`` where the field has none or it is empty;
    ``unit``: "USD", "percent", "users", "downloads" or "" (from the schema's ``unit`` property,
    or the row's ``unit`` column where the schema defers to it).
    """

    value: int | float
    qualifier: str | None
    source_id: str | None
    as_of: str | None
    unit: str = ""

    def describe(self) -> str:
        """``$460M (exact, tc-2021-07, as of 2021-07)``."""
        return f"{_format_value(self.value, self.unit)} ({self._context()})"

    def _context(self) -> str:
        as_of = f"as of {self.as_of}" if self.as_of else None
        return ", ".join(p for p in (self.qualifier, self.source_id, as_of) if p) or "no source"


@dataclass(frozen=True)
class Change:
    """A figure added, removed or changed: ``old`` is ``None`` when added, ``new`` when removed.

    ``key`` is the row's primary key; a compound key's values are joined by "/".
    """

    dataset: str
    key: str
    field: str
    kind: Kind
    old: Stated | None
    new: Stated | None

    def describe(self) -> str:
        """One line: ``funding_rounds banma-2021 amount_usd: $460M (exact, ...) -> $500M (...)``."""
        head = f"{self.dataset} {self.key} {self.field}"
        if self.old is None:
            return f"{head}: added {self.new.describe()}"
        if self.new is None:
            return f"{head}: removed {self.old.describe()}"
        old, new = self.old.describe(), self.new.describe()
        if old == new:  # a difference the rounded form hides: show the exact numbers
            old = f"{_plain(self.old.value)} ({self.old._context()})"
            new = f"{_plain(self.new.value)} ({self.new._context()})"
        return f"{head}: {old} -> {new}"


@dataclass(frozen=True)
class OtherChange:
    """A change outside the figures: a field's text (``old`` -> ``new``, ``None`` = empty), or,
    with ``field=None``, a whole row that states no figure added or removed."""

    dataset: str
    key: str
    field: str | None
    kind: Kind
    old: str | None = None
    new: str | None = None

    def describe(self) -> str:
        """``funding_rounds banma-2021 note: changed`` / ``companies Meituan: row added``."""
        if self.field is None:
            return f"{self.dataset} {self.key}: row {self.kind}"
        return f"{self.dataset} {self.key} {self.field}: {self.kind}"


@dataclass(frozen=True)
class PackageDiff:
    """Everything that differs between two packages, figures first.

    ``old`` / ``new`` label the packages (a folder path or ``REV:path``); ``not_compared`` names
    resources without a primary key, which cannot be matched row by row.
    """

    old: str
    new: str
    changes: tuple[Change, ...] = ()
    other_changes: tuple[OtherChange, ...] = ()
    not_compared: tuple[str, ...] = ()

    @property
    def figures_changed(self) -> bool:
        """True when at least one figure was added, removed or changed."""
        return bool(self.changes)

    def to_dict(self) -> dict:
        """A JSON-ready dict: ``{"old", "new", "figures_changed", "changes": [{"dataset", "key",
        "field", "kind", "old": {"value", "qualifier", "source_id", "as_of", "unit"} | None,
        "new": ...}], "other_changes": [{"dataset", "key", "field", "kind", "old", "new"}],
        "not_compared": [...]}``."""
        return {
            "old": self.old,
            "new": self.new,
            "figures_changed": self.figures_changed,
            "changes": [asdict(c) for c in self.changes],
            "other_changes": [asdict(c) for c in self.other_changes],
            "not_compared": list(self.not_compared),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (UTF-8 safe, keys in a fixed order)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_text(self, *, other: bool = True) -> str:
        """Readable lines: each figure change, then (with ``other``) the other changes.

        Says "No change in figures." when no figure changed.
        """
        lines = [c.describe() for c in self.changes] or ["No change in figures."]
        if other and self.other_changes:
            lines += ["", f"Other changes ({len(self.other_changes)}):"]
            lines += ["  " + c.describe() for c in self.other_changes]
        if self.not_compared:
            lines += ["", "Not compared (no primary key): " + ", ".join(self.not_compared)]
        return "\n".join(lines)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Snapshot:
    """A package as read: its label, ``datapackage.json`` and each resource's rows.

    ``tables`` maps a resource name to its rows (dicts of CSV text, one per row, header order).
    """

    label: str
    descriptor: dict
    tables: dict[str, list[dict[str, str]]] = field(default_factory=dict)

    def resource(self, name: str) -> dict | None:
        """The resource descriptor called ``name``, or ``None``."""
        return next(
            (r for r in self.descriptor.get("resources", []) if r.get("name") == name), None
        )


def _read_package(label: str, read: Callable[[str], str]) -> Snapshot:
    """Parse ``datapackage.json`` and each tabular resource through ``read(relative path)``."""
    try:
        descriptor = json.loads(read("datapackage.json"))
    except json.JSONDecodeError as exc:
        raise ChangesError(f"{label}/datapackage.json is not valid JSON: {exc}") from None
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("resources"), list):
        raise ChangesError(f"{label}/datapackage.json has no list of resources")
    tables = {}
    for res in descriptor["resources"]:
        name, path = res.get("name"), res.get("path")
        if isinstance(name, str) and isinstance(path, str):
            text = read(path)
            tables[name] = list(csv.DictReader(io.StringIO(text, newline="")))
    return Snapshot(label, descriptor, tables)


def read_folder(folder: Path | str) -> Snapshot:
    """Read the package in ``folder`` (``datapackage.json`` plus the CSV files it names).

    Raises :class:`ChangesError` for a missing folder or file or bad JSON.
    """
    folder = Path(folder)

    def read(rel: str) -> str:
        try:
            return (folder / rel).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ChangesError(f"cannot read {folder / rel}: {exc}") from None

    if not (folder / "datapackage.json").is_file():
        raise ChangesError(f"{folder} holds no datapackage.json")
    return _read_package(str(folder), read)


def _git(data_dir: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(data_dir), *args], capture_output=True, check=False, timeout=60
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ChangesError(f"cannot run git in {data_dir}: {exc}") from None


def read_revision(rev: str, data_dir: Path | str) -> Snapshot:
    """Read the package as it was at git revision ``rev`` of the folder ``data_dir``.

    ``data_dir`` is a folder of a git work tree (today's ``data/``); each file is read with
    ``git show REV:./<file>`` from there, so the package is taken from the same path at ``rev``.
    Raises :class:`ChangesError` when ``rev`` is not a commit or the package is missing there.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ChangesError(
            f"{data_dir} is not a folder, so {rev!r} cannot be read from its history"
        )
    if (
        rev.startswith("-")
        or _git(data_dir, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode
    ):
        raise ChangesError(f"{rev!r} is neither a folder nor a git revision of {data_dir}")
    label = f"{rev}:{data_dir.name}"

    def read(rel: str) -> str:
        done = _git(data_dir, "show", f"{rev}:./{rel}")
        if done.returncode:
            raise ChangesError(f"{label}/{rel} does not exist at revision {rev!r}")
        return done.stdout.decode("utf-8-sig", errors="replace")

    return _read_package(label, read)


def resolve(spec: str | Path, data_dir: Path | str) -> Snapshot:
    """``spec`` as a package: a folder if one exists at that path, else a git revision of
    ``data_dir`` (the project's data folder). Raises :class:`ChangesError` if it is neither."""
    if Path(spec).is_dir():
        return read_folder(spec)
    return read_revision(str(spec), data_dir)


# --------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class _Side:
    """One resource of one package, ready to compare."""

    where: str
    rows: dict[str, dict[str, str]]
    figures: dict[str, str | None]
    units: dict[str, str]
    missing: frozenset[str]


def _primary_key(res: dict | None) -> list[str]:
    """The resource's primary key fields (a Table Schema ``primaryKey``: a name or a list)."""
    key = ((res or {}).get("schema") or {}).get("primaryKey")
    return [key] if isinstance(key, str) else list(key or [])


def _side(snap: Snapshot, name: str, key_fields: list[str]) -> _Side | None:
    """Resource ``name`` of ``snap`` keyed by ``key_fields``; ``None`` if ``snap`` lacks it."""
    res = snap.resource(name)
    if res is None or name not in snap.tables:
        return None
    schema = res.get("schema") or {}
    fields = schema.get("fields", [])
    rows: dict[str, dict[str, str]] = {}
    for line, row in enumerate(snap.tables[name], start=2):
        absent = [k for k in key_fields if row.get(k) is None]
        if absent:
            raise ChangesError(f"{snap.label}/{res['path']}: no primary key column {absent[0]!r}")
        key = "/".join(row[k] for k in key_fields)
        if key in rows:
            raise ChangesError(
                f"{snap.label}/{res['path']} line {line}: primary key {key!r} repeats"
            )
        rows[key] = row
    return _Side(
        where=f"{snap.label}/{res['path']}",
        rows=rows,
        figures=figure_fields(schema),
        units={f["name"]: str(f.get("unit", "")) for f in fields if "name" in f},
        missing=frozenset(schema.get("missingValues", [""])),
    )


def _stated(side: _Side, row: dict[str, str], name: str, key: str) -> Stated | None:
    """The figure ``name`` of ``row``, or ``None`` where the row leaves it empty."""
    text = row.get(name)
    if text is None or text in side.missing:
        return None
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise ChangesError(f"{side.where} row {key!r} {name}: {text!r} is not a number")
    value = int(number) if number == number.to_integral_value() else float(number)
    qual_field = side.figures.get(name)
    unit = side.units.get(name, "")
    unit = unit if unit in _UNITS else row.get("unit", "") if row.get("unit") in _UNITS else ""
    return Stated(
        value=value,
        qualifier=_text(side, row, qual_field) if qual_field else None,
        source_id=_text(side, row, "source_id"),
        as_of=_text(side, row, "as_of"),
        unit=unit,
    )


def _text(side: _Side, row: dict[str, str], name: str) -> str | None:
    text = row.get(name)
    return None if text is None or text in side.missing else text


@dataclass
class _Out:
    figures: list[Change] = field(default_factory=list)
    other: list[OtherChange] = field(default_factory=list)


def _kind(before: object, after: object) -> Kind:
    return "added" if before is None else "removed" if after is None else "changed"


def _compare_rows(dataset: str, key: str, old: _Side | None, new: _Side | None, out: _Out) -> None:
    """Append the changes of one row (present on at least one side) to ``out``."""
    o_row = old.rows.get(key) if old else None
    n_row = new.rows.get(key) if new else None
    names = list(dict.fromkeys([*(new.figures if new else ()), *(old.figures if old else ())]))
    quals = {q for s in (old, new) if s for q in s.figures.values() if q}
    stated = False
    for name in names:
        before = _stated(old, o_row, name, key) if o_row else None
        after = _stated(new, n_row, name, key) if n_row else None
        stated = stated or before is not None or after is not None
        if before != after:
            out.figures.append(Change(dataset, key, name, _kind(before, after), before, after))
    if o_row is None or n_row is None:
        if not stated:
            out.other.append(OtherChange(dataset, key, None, _kind(o_row, n_row)))
        return
    skip = set(names) | quals | (set(_CONTEXT) if stated else set())
    for name in dict.fromkeys([*n_row, *o_row]):
        if name in skip or name is None:  # None: cells beyond the header (csv.DictReader)
            continue
        before, after = _text(old, o_row, name), _text(new, n_row, name)
        if before != after:
            out.other.append(OtherChange(dataset, key, name, _kind(before, after), before, after))


def compare(old: Snapshot, new: Snapshot) -> PackageDiff:
    """Every difference between two packages, matched by resource name and primary key.

    Resources in the order of ``new`` (then those only in ``old``), rows in file order (then rows
    only in ``old``). A resource present on one side only counts as all added / all removed.
    Raises :class:`ChangesError` for a repeated primary key or a figure that is not a number.
    """
    out, not_compared = _Out(), []
    names = [r.get("name") for r in (*new.descriptor["resources"], *old.descriptor["resources"])]
    for name in dict.fromkeys(n for n in names if isinstance(n, str)):
        key_fields = _primary_key(new.resource(name)) or _primary_key(old.resource(name))
        if not key_fields:
            not_compared.append(name)
            continue
        before, after = _side(old, name, key_fields), _side(new, name, key_fields)
        keys = [*(after.rows if after else ()), *(before.rows if before else ())]
        for key in dict.fromkeys(keys):
            _compare_rows(name, key, before, after, out)
    return PackageDiff(
        old.label, new.label, tuple(out.figures), tuple(out.other), tuple(not_compared)
    )


def diff(old: str | Path, new: str | Path, data_dir: Path | str) -> PackageDiff:
    """:func:`compare` two packages given as folders or git revisions of ``data_dir``
    (see :func:`resolve`): what ``roundup diff OLD NEW`` prints."""
    return compare(resolve(old, data_dir), resolve(new, data_dir))


# --------------------------------------------------------------------------- rendering


def _plain(value: float) -> str:
    """The exact number with thousands separators: 460400000 -> "460,400,000"."""
    return f"{value:,}"


def _format_value(value: float, unit: str) -> str:
    """ "$460M", "17.2%", "3.0B downloads", "500M users" (no qualifier mark: the word follows)."""
    from analysis.present.formatting import format_figure  # pandas: only when text is asked for

    return format_figure(value, "exact", unit if unit in _UNITS else "")
