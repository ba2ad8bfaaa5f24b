"""Typed, validated loading of the curated data package.

The package is a Frictionless Data Package (``datapackage.json`` + one CSV per resource) in
:func:`analysis.paths.data_dir` (``data/`` or ``$ROUNDUP_DATA_DIR``). Each resource's Table
Schema is turned into a pandera schema; loading parses every cell by its field type, checks the
schema's constraints, the primary and foreign keys and the project's qualifier rules, and raises
one :class:`DataError` naming every bad cell (file, CSV line, column, value, rule).

Typed columns: ``string`` fields -> pandas ``string``; ``number`` -> ``Float64``; ``integer`` ->
``Int64``; ``boolean`` -> ``boolean``; empty cells -> ``<NA>`` (unknown is empty, never zero).
Partial ISO dates (``2021-07-02``, ``2021-07``, ``2018``; fields such as ``as_of`` and ``date``)
keep their text and gain two ``datetime64`` columns, ``<field>_start`` and ``<field>_end``: the
first and last day of the period the date names.
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import pandas as pd

from analysis import paths

__all__ = [
    "DataError",
    "Problem",
    "catalog",
    "dictionary",
    "load",
    "package",
    "package_path",
    "validate",
]

PARTIAL_DATE_PATTERN = r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"
QUALIFIERS = ("exact", "approximate", "at_least", "at_most")

_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_INTEGER = re.compile(r"^-?\d+$")
_TRUE = {"true", "True", "TRUE", "1"}
_FALSE = {"false", "False", "FALSE", "0"}


@dataclass(frozen=True)
class Problem:
    """One broken rule in one cell (or row, or file) of a data package.

    ``line`` is the physical line of the CSV file where the record starts (1 = header), or
    ``None`` for a problem with the whole file; ``column`` is the field name or ``None``.
    """

    file: str
    line: int | None
    column: str | None
    value: str | None
    rule: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}, line {self.line}"
        if self.column:
            where += f", column '{self.column}'"
        shown = "" if self.value is None else f" (value: {self.value!r})"
        return f"{where}: {self.rule}{shown}"


class DataError(ValueError):
    """A data file breaks its schema. ``problems`` lists every broken rule found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        head = "; ".join(str(p) for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{len(self.problems)} problem(s) in the data package: {head}{more}")


# --------------------------------------------------------------------------- package


def _package_path(data_dir: Path | None) -> Path:
    return (Path(data_dir) if data_dir else paths.data_dir()) / "datapackage.json"


_FIELD_TYPES = {"string", "number", "integer", "boolean", "date"}


@lru_cache(maxsize=16)
def _read_package(path: Path, mtime_ns: int) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            pkg = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise DataError([Problem(path.name, line, None, None, f"not valid JSON: {exc}")]) from None
    problems = _package_problems(pkg, path.name)
    if problems:
        raise DataError(problems)
    return pkg


def _package_problems(pkg: object, label: str) -> list[Problem]:
    """What makes a datapackage.json unusable here: its shape and field types."""
    if not isinstance(pkg, dict) or not isinstance(pkg.get("resources"), list):
        return [Problem(label, None, None, None, "no list of resources")]
    problems = []
    for res in pkg["resources"]:
        name = res.get("name", "?") if isinstance(res, dict) else "?"
        fields = res.get("schema", {}).get("fields") if isinstance(res, dict) else None
        if not isinstance(fields, list) or not res.get("path"):
            problems.append(
                Problem(label, None, name, None, "resource needs a path and schema fields")
            )
            continue
        for field in fields:
            ftype = field.get("type", "string")
            if ftype not in _FIELD_TYPES:
                problems.append(
                    Problem(
                        label,
                        None,
                        f"{name}.{field.get('name')}",
                        ftype,
                        f"unknown field type (supported: {', '.join(sorted(_FIELD_TYPES))})",
                    )
                )
    return problems


def package_path(data_dir: Path | str | None = None) -> Path:
    """Path of the active ``datapackage.json`` (or that of ``data_dir``)."""
    return _package_path(Path(data_dir) if data_dir else None)


def package(data_dir: Path | str | None = None) -> dict:
    """The parsed ``datapackage.json`` of ``data_dir`` (default: the active data folder).

    Raises ``FileNotFoundError`` if there is no ``datapackage.json`` there, and
    :class:`DataError` if it is not valid JSON or has a field type this loader does not know.
    """
    path = _package_path(Path(data_dir) if data_dir else None)
    if not path.is_file():
        raise FileNotFoundError(f"no datapackage.json in {path.parent}")
    return _read_package(path, path.stat().st_mtime_ns)


def _resource(pkg: dict, name: str) -> dict:
    for res in pkg["resources"]:
        if res["name"] == name:
            return res
    names = ", ".join(r["name"] for r in pkg["resources"])
    raise KeyError(f"no dataset named {name!r}; the package has: {names}")


def catalog(data_dir: Path | str | None = None) -> pd.DataFrame:
    """One row per dataset of the package.

    Columns: ``name`` (string), ``title`` (string), ``rows`` (Int64, data rows in the CSV),
    ``description`` (string), ``path`` (string, file name in the data folder).
    """
    base = _package_path(Path(data_dir) if data_dir else None).parent
    rows = []
    for res in package(data_dir)["resources"]:
        try:
            n = len(load(res["name"], data_dir=data_dir))
        except DataError:
            n = None
        rows.append(
            {
                "name": res["name"],
                "title": res.get("title", res["name"]),
                "rows": n,
                "description": res.get("description", ""),
                "path": str(base / res["path"]),
            }
        )
    df = pd.DataFrame(rows)
    return df.astype({"name": "string", "title": "string", "rows": "Int64"}).astype(
        {"description": "string", "path": "string"}
    )


# --------------------------------------------------------------------------- reading


def _read_records(path: Path, label: str) -> tuple[list[str], list[tuple[int, list[str]]], list]:
    """Header, [(line, cells)] and problems of one CSV file (UTF-8, BOM and CRLF allowed)."""
    problems: list[Problem] = []
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column, value = _locate_bad_bytes(raw, exc.start)
        return [], [], [Problem(label, line, column, value, "not UTF-8 text (save as UTF-8)")]
    if not text.strip():
        return [], [], [Problem(label, None, None, None, "empty file: no header row")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    header: list[str] = []
    prev = 0
    try:
        for cells in reader:
            start = prev + 1
            prev = reader.line_num
            if not header:
                header = [c.strip() for c in cells]
                continue
            records.append((start, cells))
    except csv.Error as exc:
        problems.append(Problem(label, prev + 1, None, None, f"malformed CSV: {exc}"))
    # a trailing blank line is only the file's final newline: ignore it
    while records and records[-1][1] == []:
        records.pop()
    return header, records, problems


def _locate_bad_bytes(raw: bytes, offset: int) -> tuple[str | None, str]:
    """Column name and cell text (undecodable bytes shown as U+FFFD) holding ``raw[offset]``."""
    marked = raw[:offset] + b"\x00MARK\x00" + raw[offset:]
    text = marked.decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = [h.strip() for h in rows[0]] if rows else []
    for cells in rows:
        for i, cell in enumerate(cells):
            if "\x00MARK\x00" in cell:
                name = header[i] if i < len(header) and cells is not rows[0] else None
                return name, cell.replace("\x00MARK\x00", "")
    return None, repr(raw[offset : offset + 4])


def _is_partial_date(field: dict) -> bool:
    return field.get("constraints", {}).get("pattern") == PARTIAL_DATE_PATTERN


def _partial_date_bounds(text: str) -> tuple[date, date]:
    """First and last day of the period a partial ISO date names; ValueError if impossible."""
    parts = [int(p) for p in text.split("-")]
    if len(parts) == 1:
        return date(parts[0], 1, 1), date(parts[0], 12, 31)
    if len(parts) == 2:
        y, m = parts
        return date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1])
    d = date(*parts)
    return d, d


_RULES = {
    "number": "not a number: write plain digits in base units, without currency symbols, "
    "thousands separators or suffixes (e.g. 460000000)",
    "integer": "not an integer: write plain digits without separators (e.g. 3000000)",
    "boolean": "not a boolean: write true or false",
    "date": "not a calendar date in ISO 8601 form (YYYY-MM-DD)",
    "partial_date": "impossible date (no such day in that month)",
}


@lru_cache(maxsize=4096)
def _partial_date_bounds_or_none(text: str) -> tuple[date, date] | None:
    if not re.match(PARTIAL_DATE_PATTERN, text):
        return None
    try:
        return _partial_date_bounds(text)
    except ValueError:
        return None


def _parse_column(field: dict, texts: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Typed values of one column of stripped cell texts, and a mask of cells that failed to parse.

    Empty cells become <NA>. The returned Series has the field's pandas dtype.
    """
    ftype = field.get("type", "string")
    empty = texts == ""
    present = texts.where(~empty)
    if ftype in ("number", "integer"):
        pattern = _NUMBER if ftype == "number" else _INTEGER
        ok = texts.str.fullmatch(pattern.pattern) | empty
        values = pd.to_numeric(present.where(ok), errors="coerce")
        return values.astype("Float64" if ftype == "number" else "Int64"), ~ok
    if ftype == "boolean":
        mapped = present.map(lambda t: True if t in _TRUE else False if t in _FALSE else None)
        bad = ~empty & mapped.isna()
        return mapped.astype("boolean"), bad
    if ftype == "date":
        parsed = pd.to_datetime(present, format="%Y-%m-%d", errors="coerce")
        bad = ~empty & parsed.isna()
        return pd.Series(
            [None if pd.isna(v) else v.date() for v in parsed], index=texts.index, dtype=object
        ), bad
    bad = pd.Series(False, index=texts.index)
    if _is_partial_date(field):
        # well-formed but impossible dates ("2021-02-30"); malformed ones fail the pattern check
        uniq = {t for t in present.dropna().unique() if re.match(PARTIAL_DATE_PATTERN, t)}
        impossible = {t for t in uniq if _partial_date_bounds_or_none(t) is None}
        if impossible:
            bad = present.isin(impossible)
    return present.where(~bad).astype("string"), bad


_DTYPES = {"number": "Float64", "integer": "Int64", "boolean": "boolean", "date": "object"}


def _pandera_schema(schema: dict):
    """pandera DataFrameSchema for the constraints of a Table Schema (types already parsed)."""
    import pandera.pandas as pa

    columns = {}
    for field in schema["fields"]:
        cons = field.get("constraints", {})
        checks = []
        if "enum" in cons:
            allowed = cons["enum"]
            checks.append(
                pa.Check.isin(allowed, error=f"not one of {', '.join(map(str, allowed))}")
            )
        if "minimum" in cons:
            checks.append(
                pa.Check.ge(cons["minimum"], error=f"below the minimum {cons['minimum']}")
            )
        if "maximum" in cons:
            checks.append(
                pa.Check.le(cons["maximum"], error=f"above the maximum {cons['maximum']}")
            )
        if "pattern" in cons:
            pattern = cons["pattern"]
            rule = (
                "not an ISO date (YYYY-MM-DD, YYYY-MM or YYYY)"
                if pattern == PARTIAL_DATE_PATTERN
                else f"does not match the pattern {pattern}"
            )
            checks.append(pa.Check.str_matches(pattern, error=rule))
        columns[field["name"]] = pa.Column(
            _DTYPES.get(field.get("type", "string"), "string"),
            checks=checks,
            nullable=not cons.get("required", False),
            unique=bool(cons.get("unique", False)),
            required=True,
        )
    return pa.DataFrameSchema(columns, strict=True)


_PANDERA_RULES = {
    "not_nullable": "required: the cell is empty",
    "field_uniqueness": "duplicate value",
}


@dataclass
class _Parsed:
    frame: pd.DataFrame  # typed, indexed by CSV line
    problems: list[Problem]


@lru_cache(maxsize=64)
def _parse_resource_cached(path: Path, mtime_ns: int, size: int, res_json: str) -> _Parsed:
    return _parse_resource(path, json.loads(res_json))


def _parse_resource(path: Path, res: dict) -> _Parsed:
    """Read, type and check one resource by itself (no foreign keys)."""
    import pandera.pandas as pa

    label = path.name
    schema = res["schema"]
    fields = schema["fields"]
    names = [f["name"] for f in fields]
    if not path.is_file():
        return _Parsed(
            pd.DataFrame(columns=names), [Problem(label, None, None, None, "file not found")]
        )
    header, records, problems = _read_records(path, label)
    if problems and not header:
        return _Parsed(pd.DataFrame(columns=names), problems)
    missing = [n for n in names if n not in header]
    unknown = [h for h in header if h not in names]
    for n in missing:
        problems.append(Problem(label, 1, n, None, "missing column (the schema requires it)"))
    for h in unknown:
        problems.append(
            Problem(label, 1, h or "(blank)", None, "unknown column (not in the schema)")
        )
    dup = {h for h in header if header.count(h) > 1}
    for h in sorted(dup):
        problems.append(Problem(label, 1, h, None, "column appears more than once"))
    if missing or unknown or dup:
        return _Parsed(pd.DataFrame(columns=names), problems)
    if not records:
        problems.append(Problem(label, None, None, None, "no data rows (header only)"))
        return _Parsed(pd.DataFrame(columns=names), problems)

    order = [header.index(n) for n in names]
    lines: list[int] = []
    rows: list[list[str]] = []
    width = len(header)
    for line, cells in records:
        if not cells or all(c.strip() == "" for c in cells) and len(cells) <= 1:
            problems.append(Problem(label, line, None, None, "blank line inside the data"))
            continue
        if len(cells) != width:
            problems.append(
                Problem(
                    label, line, None, None, f"row has {len(cells)} cells; the header has {width}"
                )
            )
            continue
        lines.append(line)
        rows.append(cells)
    index = pd.Index(lines, name="line")
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    typed = {}
    raw_text: dict[str, pd.Series] = {}
    unparsed: set[tuple[int, str]] = set()  # cells already reported: no follow-on problems
    for field, i in zip(fields, order, strict=True):
        texts = pd.Series(columns[i], index=index, dtype=object).str.strip()
        values, bad = _parse_column(field, texts)
        if bad.any():
            rule = _RULES["partial_date" if _is_partial_date(field) else field.get("type")]
            for line in index[bad.to_numpy()]:
                problems.append(Problem(label, int(line), field["name"], texts[line], rule))
                unparsed.add((int(line), field["name"]))
        typed[field["name"]] = values
        raw_text[field["name"]] = texts
    frame = pd.DataFrame(typed, index=index)
    try:
        _pandera_schema(schema).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        for case in exc.failure_cases.itertuples(index=False):
            check = str(case.check)
            if check.startswith("column_in_dataframe") or check.startswith("dtype("):
                continue
            line = None if pd.isna(case.index) else int(case.index)
            if (line, case.column) in unparsed:
                continue  # the cell's text was reported already; its empty value says nothing new
            if line is not None and case.column in raw_text:
                value = raw_text[case.column][line] or None  # as written, not as parsed
            else:
                value = None if pd.isna(case.failure_case) else str(case.failure_case)
            problems.append(
                Problem(label, line, case.column, value, _PANDERA_RULES.get(check, check))
            )
    problems.extend(
        p for p in _row_rules(label, frame, fields) if not _follows_from(p, unparsed, fields)
    )
    return _Parsed(frame, problems)


def _follows_from(problem: Problem, unparsed: set[tuple[int, str]], fields: list[dict]) -> bool:
    """A row rule broken only because a cell it reads could not be parsed (reported already)."""
    if problem.line is None:
        return False
    if (problem.line, problem.column) in unparsed:
        return True
    figure = next((_figure_of(f)[0] for f in fields if f["name"] == problem.column), None)
    return figure is not None and (problem.line, figure) in unparsed


def _figure_of(field: dict) -> tuple[str | None, str]:
    """The figure a field goes with and how: ("amount_usd", "qualifier"), ("value", "evidence")."""
    if field.get("qualifies"):
        return field["qualifies"], "qualifier"
    if field.get("evidences"):  # the source's own phrase stating the figure
        return field["evidences"], "evidence"
    return None, ""


def _row_rules(label: str, frame: pd.DataFrame, fields: list[dict]) -> list[Problem]:
    """Project rules a Table Schema cannot express: a qualifier and evidence go with each figure;
    dates are consistent."""
    problems = []
    for field in fields:
        figure, kind = _figure_of(field)
        if not figure:
            continue
        q = frame[field["name"]]
        v = frame[figure]
        for line in frame.index[v.notna() & q.isna()]:
            problems.append(
                Problem(
                    label,
                    line,
                    field["name"],
                    None,
                    f"{'a ' if kind == 'qualifier' else ''}{kind} is required when {figure} is given",
                )
            )
        for line in frame.index[v.isna() & q.notna()]:
            problems.append(
                Problem(label, line, field["name"], q[line], f"{kind} given but {figure} is empty")
            )
    partial = [f["name"] for f in fields if _is_partial_date(f)]
    if "as_of" in partial:
        as_of_end = _bounds(frame["as_of"], end=True)
        for name in partial:
            if name == "as_of":
                continue
            start = _bounds(frame[name], end=False)
            late = start.notna() & as_of_end.notna() & (start > as_of_end)
            for line in frame.index[late]:
                problems.append(
                    Problem(
                        label, line, name, frame.at[line, name], "date is after the row's as_of"
                    )
                )
        today = pd.Timestamp(date.today())
        for line in frame.index[_bounds(frame["as_of"], end=False) > today]:
            problems.append(
                Problem(label, line, "as_of", frame.at[line, "as_of"], "as_of is in the future")
            )
    return problems


def _bounds(series: pd.Series, end: bool) -> pd.Series:
    """datetime64 first (or last) day of each partial ISO date; NaT where empty or invalid."""
    i = 1 if end else 0
    lookup = {}
    for text in series.dropna().unique():
        b = _partial_date_bounds_or_none(str(text))
        lookup[text] = None if b is None else b[i]
    return pd.Series(pd.to_datetime(series.map(lookup)), index=series.index).astype(
        "datetime64[ns]"
    )


def _foreign_key_problems(pkg: dict, name: str, frame: pd.DataFrame, data_dir: Path | None, seen):
    res = _resource(pkg, name)
    label = res["path"]
    problems = []
    for fk in res["schema"].get("foreignKeys", []):
        field = fk["fields"] if isinstance(fk["fields"], str) else fk["fields"][0]
        ref = fk["reference"]
        ref_field = ref["fields"] if isinstance(ref["fields"], str) else ref["fields"][0]
        ref_name = ref.get("resource") or name
        if ref_name == name:
            keys = frame[ref_field]
        else:
            keys = _parsed(pkg, ref_name, data_dir).frame[ref_field]
        keyset = set(keys.dropna())
        col = frame[field]
        bad = col.notna() & ~col.isin(keyset)
        for line in frame.index[bad]:
            problems.append(
                Problem(label, line, field, col[line], f"not found in {ref_name}.{ref_field}")
            )
    return problems


def _parsed(pkg: dict, name: str, data_dir: Path | None) -> _Parsed:
    res = _resource(pkg, name)
    base = _package_path(data_dir).parent
    path = base / res["path"]
    try:
        st = path.stat()
        key = (st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        key = (0, 0)
    return _parse_resource_cached(path, *key, json.dumps(res, sort_keys=True))


def _finish(frame: pd.DataFrame, fields: list[dict]) -> pd.DataFrame:
    out = frame.copy()
    for f in fields:
        if _is_partial_date(f):
            out[f"{f['name']}_start"] = _bounds(out[f["name"]], end=False)
            out[f"{f['name']}_end"] = _bounds(out[f["name"]], end=True)
    return out.reset_index(drop=True)


def load(name: str, data_dir: Path | str | None = None) -> pd.DataFrame:
    """Load one dataset as a typed DataFrame validated against its Table Schema.

    ``name`` is a resource name of the package (see :func:`catalog`): ``sources``,
    ``companies``, ``downloads``, ``funding_rounds``, ``stakes``, ``user_bases``,
    ``regulatory_events`` or ``listings``. Columns are the schema's fields in schema order, typed
    as described in the module docstring, plus ``<field>_start`` / ``<field>_end`` for partial
    dates. Units are in the field names or the schema (``amount_usd`` in US dollars,
    ``stake_pct`` in percent 0-100, ``users`` a count).

    Raises ``KeyError`` for an unknown name and :class:`DataError` (naming file, line, column,
    value and rule of every problem, foreign keys included) if the file breaks its schema.
    """
    base = Path(data_dir) if data_dir else None
    pkg = package(base)
    res = _resource(pkg, name)
    parsed = _parsed(pkg, name, base)
    problems = list(parsed.problems)
    if not problems:
        problems = _foreign_key_problems(pkg, name, parsed.frame, base, set())
    if problems:
        raise DataError(problems)
    return _finish(parsed.frame, res["schema"]["fields"])


def validate(data_dir: Path | str | None = None) -> list[Problem]:
    """Check every resource of the package, foreign keys included; every problem, not just the first.

    Returns the problems found (an empty list when the package is valid), in resource order.
    Raises ``FileNotFoundError`` if ``data_dir`` has no ``datapackage.json``.
    """
    base = Path(data_dir) if data_dir else None
    try:
        pkg = package(base)
    except DataError as exc:  # the package description itself is broken
        return exc.problems
    problems: list[Problem] = []
    for res in pkg["resources"]:
        parsed = _parsed(pkg, res["name"], base)
        problems.extend(parsed.problems)
        if parsed.frame.empty:
            continue
        problems.extend(_foreign_key_problems(pkg, res["name"], parsed.frame, base, set()))
    return problems


def _constraint_text(field: dict) -> str:
    cons = field.get("constraints", {})
    parts = []
    if cons.get("required"):
        parts.append("required")
    if cons.get("unique"):
        parts.append("unique")
    if "enum" in cons:
        parts.append("one of " + ", ".join(map(str, cons["enum"])))
    if "minimum" in cons:
        parts.append(f">= {cons['minimum']}")
    if "maximum" in cons:
        parts.append(f"<= {cons['maximum']}")
    if cons.get("pattern") == PARTIAL_DATE_PATTERN:
        parts.append("ISO date: YYYY-MM-DD, YYYY-MM or YYYY")
    elif "pattern" in cons:
        parts.append(f"matches {cons['pattern']}")
    figure, kind = _figure_of(field)
    if figure:
        parts.append(f"{kind} of {figure}")
    return "; ".join(parts)


def dictionary(data_dir: Path | str | None = None) -> pd.DataFrame:
    """The data dictionary: one row per field of every dataset of the package.

    Columns (all string but ``rows``): ``dataset``, ``field``, ``type`` (Table Schema type),
    ``unit`` (e.g. USD, users, percent; empty where none), ``constraints`` (in words),
    ``key`` ("primary", "-> resource.field" for a foreign key, or empty), ``description``,
    ``rows`` (Int64: rows in the dataset, <NA> if the file is invalid), ``sources`` (source ids
    its rows cite, separated by ", ").
    """
    rows = []
    for res in package(data_dir)["resources"]:
        schema = res["schema"]
        try:
            df = load(res["name"], data_dir=data_dir)
            n = len(df)
            cited = ", ".join(sorted(set(df["source_id"].dropna()))) if "source_id" in df else ""
        except DataError:
            n, cited = None, ""
        fks = {
            (fk["fields"] if isinstance(fk["fields"], str) else fk["fields"][0]): fk["reference"]
            for fk in schema.get("foreignKeys", [])
        }
        for field in schema["fields"]:
            name = field["name"]
            key = ""
            if name in schema.get("primaryKey", []):
                key = "primary"
            elif name in fks:
                ref = fks[name]
                ref_field = ref["fields"] if isinstance(ref["fields"], str) else ref["fields"][0]
                key = f"-> {ref.get('resource') or res['name']}.{ref_field}"
            rows.append(
                {
                    "dataset": res["name"],
                    "field": name,
                    "type": field.get("type", "string"),
                    "unit": field.get("unit", ""),
                    "constraints": _constraint_text(field),
                    "key": key,
                    "description": field.get("description", ""),
                    "rows": n,
                    "sources": cited,
                }
            )
    df = pd.DataFrame(rows)
    return df.astype({c: "string" for c in df.columns if c != "rows"} | {"rows": "Int64"})
