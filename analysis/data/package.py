"""The curated data package, opened from its folder: typed, validated datasets and their catalog.

A Frictionless Data Package is a folder holding ``datapackage.json`` and one CSV per resource.
:class:`Package` reads it: ``Package.open()`` opens the active folder (``data/`` or
``$ROUNDUP_DATA_DIR``, read by :mod:`analysis.paths`), ``Package(folder)`` any other. Loading
parses every cell by its field type (:mod:`analysis.data.schema`), checks the schema's
constraints, the primary and foreign keys and the project's qualifier rules, and raises one
:class:`~analysis.data.problems.DataError` naming every bad cell (file, CSV line, column,
value, rule). Parsed files are cached by path, modification time and size: a changed file is
read again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from analysis.data.pairing import evidence_fields
from analysis.data.problems import DataError, Problem
from analysis.data.schema import (
    Parsed,
    constraint_text,
    descriptor_problems,
    parse_resource,
    with_date_bounds,
)

__all__ = ["Package"]


@lru_cache(maxsize=16)
def _read_descriptor(path: Path, mtime_ns: int) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            pkg = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise DataError([Problem(path.name, line, None, None, f"not valid JSON: {exc}")]) from None
    problems = descriptor_problems(pkg, path.name)
    if problems:
        raise DataError(problems)
    return pkg


@lru_cache(maxsize=64)
def _parse_cached(path: Path, mtime_ns: int, size: int, res_json: str) -> Parsed:
    return parse_resource(path, json.loads(res_json))


def _first(fields: str | list[str]) -> str:
    """The (single) field name of a key given as a name or a list of names."""
    return fields if isinstance(fields, str) else fields[0]


@dataclass(frozen=True, init=False)
class Package:
    """The data package in folder ``path`` (which holds ``datapackage.json``).

    Opening is cheap and reads nothing; each method reads what it needs. Two Packages of the
    same folder are equal.
    """

    path: Path

    def __init__(self, path: Path | str):
        object.__setattr__(self, "path", Path(path).expanduser())

    @classmethod
    def open(cls, path: Path | str | None = None) -> Package:
        """The package in ``path``, or in the active data folder (:func:`analysis.paths.data_dir`)."""
        from analysis import paths

        return cls(path if path else paths.data_dir())

    @property
    def descriptor_path(self) -> Path:
        """Path of the package's ``datapackage.json``."""
        return self.path / "datapackage.json"

    def descriptor(self) -> dict:
        """The parsed ``datapackage.json``.

        Raises ``FileNotFoundError`` if the folder has no ``datapackage.json``, and
        :class:`DataError` if it is not valid JSON or has a field type this loader does not know.
        """
        path = self.descriptor_path
        if not path.is_file():
            raise FileNotFoundError(f"no datapackage.json in {path.parent}")
        return _read_descriptor(path, path.stat().st_mtime_ns)

    def names(self) -> list[str]:
        """Resource names in package order (``sources``, ``companies``, ...)."""
        return [res["name"] for res in self.descriptor()["resources"]]

    def _resource(self, name: str) -> dict:
        resources = self.descriptor()["resources"]
        for res in resources:
            if res["name"] == name:
                return res
        names = ", ".join(r["name"] for r in resources)
        raise KeyError(f"no dataset named {name!r}; the package has: {names}")

    def _parsed(self, name: str) -> Parsed:
        res = self._resource(name)
        path = self.path / res["path"]
        try:
            st = path.stat()
            key = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            key = (0, 0)
        return _parse_cached(path, *key, json.dumps(res, sort_keys=True))

    def _foreign_key_problems(self, name: str, frame: pd.DataFrame) -> list[Problem]:
        res = self._resource(name)
        problems = []
        for fk in res["schema"].get("foreignKeys", []):
            field = _first(fk["fields"])
            ref = fk["reference"]
            ref_field = _first(ref["fields"])
            ref_name = ref.get("resource") or name
            keys = frame[ref_field] if ref_name == name else self._parsed(ref_name).frame[ref_field]
            keyset = set(keys.dropna())
            col = frame[field]
            for line in frame.index[col.notna() & ~col.isin(keyset)]:
                problems.append(
                    Problem(
                        res["path"], line, field, col[line], f"not found in {ref_name}.{ref_field}"
                    )
                )
        return problems

    def load(self, name: str) -> pd.DataFrame:
        """One dataset as a typed DataFrame validated against its Table Schema.

        ``name`` is a resource name of the package (see :meth:`catalog`): ``sources``,
        ``companies``, ``downloads``, ``funding_rounds``, ``stakes``, ``user_bases``,
        ``regulatory_events`` or ``listings``. Columns are the schema's fields in schema order,
        typed as :mod:`analysis.data.schema` describes, plus ``<field>_start`` / ``<field>_end``
        (datetime64) for partial dates. Units are in the field names or the schema
        (``amount_usd`` in US dollars, ``stake_pct`` in percent 0-100, ``users`` a count).

        Raises ``KeyError`` for an unknown name, ``FileNotFoundError`` without a
        ``datapackage.json``, and :class:`DataError` (naming file, line, column, value and rule
        of every problem, foreign keys included) if the file breaks its schema.
        """
        res = self._resource(name)
        parsed = self._parsed(name)
        problems = list(parsed.problems)
        if not problems:
            problems = self._foreign_key_problems(name, parsed.frame)
        if problems:
            raise DataError(problems)
        return with_date_bounds(parsed.frame, res["schema"]["fields"])

    def validate(self, project_root: Path | None = None) -> list[Problem]:
        """Every problem of every resource, foreign keys and evidence included, in resource order.

        Evidence (:mod:`analysis.data.checks`): each figure given has its evidence, the phrase
        reads as the stored value, qualifier and unit, and occurs in its source's local copy
        when the copy is on this machine (``local_copy`` resolved against the data folder, the
        folders above it, ``project_root`` (default: the checkout) and the folders above that).
        Copies not found are listed in :attr:`missing_copies` afterwards, not as problems.
        Returns an empty list when the package is valid. Raises ``FileNotFoundError`` if the
        folder has no ``datapackage.json``.
        """
        from analysis import paths
        from analysis.data.checks import Copies, evidence_problems

        try:
            resources = self.descriptor()["resources"]
        except DataError as exc:  # the package description itself is broken
            return exc.problems
        copies = Copies(self.path.resolve(), project_root or paths.PROJECT_ROOT)
        local = self._local_copies(resources)
        problems: list[Problem] = []
        for res in resources:
            parsed = self._parsed(res["name"])
            problems.extend(parsed.problems)
            if not parsed.frame.empty:
                problems.extend(self._foreign_key_problems(res["name"], parsed.frame))
                label = Path(res["path"]).name
                problems.extend(
                    evidence_problems(label, res["schema"], parsed.frame, local, copies)
                )
        object.__setattr__(self, "_missing_copies", sorted(copies.missing))
        return problems

    @property
    def missing_copies(self) -> list[str]:
        """Sources' ``local_copy`` paths the last :meth:`validate` did not find on this machine
        (their evidence was not looked up in them)."""
        return list(getattr(self, "_missing_copies", []))

    def _local_copies(self, resources: list[dict]) -> dict[str, str]:
        """source_id -> local_copy as written in sources.csv, for the sources that have one."""
        if not any(r["name"] == "sources" for r in resources):
            return {}
        frame = self._parsed("sources").frame
        if frame.empty or "local_copy" not in frame or "source_id" not in frame:
            return {}
        given = frame[frame["local_copy"].notna() & frame["source_id"].notna()]
        return dict(zip(given["source_id"], given["local_copy"], strict=True))

    def _load_or_none(self, name: str) -> pd.DataFrame | None:
        try:
            return self.load(name)
        except DataError:
            return None

    def catalog(self) -> pd.DataFrame:
        """One row per dataset of the package.

        Columns: ``name`` (string), ``title`` (string), ``rows`` (Int64, data rows in the CSV,
        <NA> if the file is invalid), ``description`` (string), ``path`` (string, the file's
        path in the data folder). Raises as :meth:`descriptor` does.
        """
        rows = []
        for res in self.descriptor()["resources"]:
            df = self._load_or_none(res["name"])
            rows.append(
                {
                    "name": res["name"],
                    "title": res.get("title", res["name"]),
                    "rows": None if df is None else len(df),
                    "description": res.get("description", ""),
                    "path": str(self.path / res["path"]),
                }
            )
        df = pd.DataFrame(rows)
        return df.astype({"name": "string", "title": "string", "rows": "Int64"}).astype(
            {"description": "string", "path": "string"}
        )

    def dictionary(self) -> pd.DataFrame:
        """The data dictionary: one row per field of every dataset of the package.

        Columns (all string but ``rows``): ``dataset``, ``field``, ``type`` (Table Schema type),
        ``unit`` (e.g. USD, users, percent; empty where none), ``constraints`` (in words; an
        evidence field says which figure it states),
        ``key`` ("primary", "-> resource.field" for a foreign key, or empty), ``description``,
        ``rows`` (Int64: rows in the dataset, <NA> if the file is invalid), ``sources`` (source
        ids its rows cite, separated by ", "). Raises as :meth:`descriptor` does.
        """
        rows = []
        for res in self.descriptor()["resources"]:
            df = self._load_or_none(res["name"])
            n = None if df is None else len(df)
            cited = ""
            if df is not None and "source_id" in df:
                cited = ", ".join(sorted(set(df["source_id"].dropna())))
            evidence = {e: f for f, e in evidence_fields(res["schema"]).items()}
            for field in res["schema"]["fields"]:
                said = evidence.get(field["name"])
                rows.append(
                    {
                        "dataset": res["name"],
                        "field": field["name"],
                        "type": field.get("type", "string"),
                        "unit": field.get("unit", ""),
                        "constraints": "; ".join(
                            t
                            for t in (
                                constraint_text(field),
                                f"evidence of {said}: the source's words stating it"
                                if said
                                else "",
                            )
                            if t
                        ),
                        "key": _key_text(res, field["name"]),
                        "description": field.get("description", ""),
                        "rows": n,
                        "sources": cited,
                    }
                )
        df = pd.DataFrame(rows)
        return df.astype({c: "string" for c in df.columns if c != "rows"} | {"rows": "Int64"})


def _key_text(res: dict, name: str) -> str:
    """ "primary", "-> resource.field" for a foreign key, or "" for field ``name`` of ``res``."""
    schema = res["schema"]
    if name in schema.get("primaryKey", []):
        return "primary"
    for fk in schema.get("foreignKeys", []):
        if _first(fk["fields"]) == name:
            ref = fk["reference"]
            return f"-> {ref.get('resource') or res['name']}.{_first(ref['fields'])}"
    return ""
