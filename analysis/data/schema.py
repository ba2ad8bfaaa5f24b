"""A Table Schema turned into checks: typed parsing of cells, pandera constraints, project rules.

One resource at a time, without its foreign keys (:mod:`analysis.data.package` checks those).

Typed columns: ``string`` fields -> pandas ``string``; ``number`` -> ``Float64``; ``integer`` ->
``Int64``; ``boolean`` -> ``boolean``; empty cells -> ``<NA>`` (unknown is empty, never zero).
Partial ISO dates (``2021-07-02``, ``2021-07``, ``2018``; fields such as ``as_of`` and ``date``)
keep their text and gain two ``datetime64`` columns, ``<field>_start`` and ``<field>_end``: the
first and last day of the period the date names.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import pandas as pd

from analysis.data.csvfile import Records, read_records
from analysis.data.problems import Problem

__all__ = [
    "FIELD_TYPES",
    "PARTIAL_DATE_PATTERN",
    "Parsed",
    "constraint_text",
    "date_bounds",
    "descriptor_problems",
    "is_partial_date",
    "parse_resource",
    "partial_date_bounds",
    "with_date_bounds",
]

PARTIAL_DATE_PATTERN = r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$"
FIELD_TYPES = {"string", "number", "integer", "boolean", "date"}

_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_INTEGER = re.compile(r"^-?\d+$")
_TRUE = {"true", "True", "TRUE", "1"}
_FALSE = {"false", "False", "FALSE", "0"}
_DTYPES = {"number": "Float64", "integer": "Int64", "boolean": "boolean", "date": "object"}

_RULES = {
    "number": "not a number: write plain digits in base units, without currency symbols, "
    "thousands separators or suffixes (e.g. 460000000)",
    "integer": "not an integer: write plain digits without separators (e.g. 3000000)",
    "boolean": "not a boolean: write true or false",
    "date": "not a calendar date in ISO 8601 form (YYYY-MM-DD)",
    "partial_date": "impossible date (no such day in that month)",
}
_PANDERA_RULES = {
    "not_nullable": "required: the cell is empty",
    "field_uniqueness": "duplicate value",
}


def descriptor_problems(pkg: object, label: str) -> list[Problem]:
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
            if ftype not in FIELD_TYPES:
                problems.append(
                    Problem(
                        label,
                        None,
                        f"{name}.{field.get('name')}",
                        ftype,
                        f"unknown field type (supported: {', '.join(sorted(FIELD_TYPES))})",
                    )
                )
    return problems


# --------------------------------------------------------------------------- partial dates


def is_partial_date(field: dict) -> bool:
    """Whether a Table Schema field holds a partial ISO date (by its pattern constraint)."""
    return field.get("constraints", {}).get("pattern") == PARTIAL_DATE_PATTERN


def partial_date_bounds(text: str) -> tuple[date, date]:
    """First and last day of the period a partial ISO date names; ValueError if impossible."""
    parts = [int(p) for p in text.split("-")]
    if len(parts) == 1:
        return date(parts[0], 1, 1), date(parts[0], 12, 31)
    if len(parts) == 2:
        y, m = parts
        return date(y, m, 1), date(y, m, calendar.monthrange(y, m)[1])
    d = date(*parts)
    return d, d


@lru_cache(maxsize=4096)
def _partial_date_bounds_or_none(text: str) -> tuple[date, date] | None:
    if not re.match(PARTIAL_DATE_PATTERN, text):
        return None
    try:
        return partial_date_bounds(text)
    except ValueError:
        return None


def date_bounds(series: pd.Series, end: bool) -> pd.Series:
    """datetime64 first (or last) day of each partial ISO date; NaT where empty or invalid."""
    i = 1 if end else 0
    lookup = {}
    for text in series.dropna().unique():
        b = _partial_date_bounds_or_none(str(text))
        lookup[text] = None if b is None else b[i]
    return pd.Series(pd.to_datetime(series.map(lookup)), index=series.index).astype(
        "datetime64[ns]"
    )


def with_date_bounds(frame: pd.DataFrame, fields: list[dict]) -> pd.DataFrame:
    """``frame`` plus ``<field>_start`` / ``<field>_end`` for each partial date, index 0..n-1."""
    out = frame.copy()
    for f in fields:
        if is_partial_date(f):
            out[f"{f['name']}_start"] = date_bounds(out[f["name"]], end=False)
            out[f"{f['name']}_end"] = date_bounds(out[f["name"]], end=True)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- typed cells


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
    if is_partial_date(field):
        # well-formed but impossible dates ("2021-02-30"); malformed ones fail the pattern check
        uniq = {t for t in present.dropna().unique() if re.match(PARTIAL_DATE_PATTERN, t)}
        impossible = {t for t in uniq if _partial_date_bounds_or_none(t) is None}
        if impossible:
            bad = present.isin(impossible)
    return present.where(~bad).astype("string"), bad


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


# --------------------------------------------------------------------------- one resource


@dataclass
class Parsed:
    """One resource read and checked by itself: ``frame`` typed, indexed by CSV line."""

    frame: pd.DataFrame
    problems: list[Problem]


def _header_problems(label: str, header: list[str], names: list[str]) -> list[Problem]:
    """Columns missing, unknown or repeated in the header, against the schema's field names."""
    problems = [
        Problem(label, 1, n, None, "missing column (the schema requires it)")
        for n in names
        if n not in header
    ]
    problems += [
        Problem(label, 1, h or "(blank)", None, "unknown column (not in the schema)")
        for h in header
        if h not in names
    ]
    dup = {h for h in header if header.count(h) > 1}
    problems += [Problem(label, 1, h, None, "column appears more than once") for h in sorted(dup)]
    return problems


def _complete_rows(
    label: str, records: Records, width: int, problems: list[Problem]
) -> tuple[list[int], list[list[str]]]:
    """Lines and cells of the records with one cell per column; others reported in ``problems``."""
    lines: list[int] = []
    rows: list[list[str]] = []
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
    return lines, rows


def _pandera_problems(
    label: str,
    schema: dict,
    frame: pd.DataFrame,
    raw_text: dict[str, pd.Series],
    unparsed: set[tuple[int, str]],
) -> list[Problem]:
    """The schema's constraints (enum, range, pattern, required, unique) checked by pandera."""
    import pandera.pandas as pa

    try:
        _pandera_schema(schema).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    else:
        return []
    problems = []
    for case in failures.itertuples(index=False):
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
        problems.append(Problem(label, line, case.column, value, _PANDERA_RULES.get(check, check)))
    return problems


def parse_resource(path: Path, res: dict) -> Parsed:
    """Read, type and check one resource by itself (no foreign keys); every problem found."""
    label = path.name
    schema = res["schema"]
    fields = schema["fields"]
    names = [f["name"] for f in fields]
    empty = pd.DataFrame(columns=names)
    if not path.is_file():
        return Parsed(empty, [Problem(label, None, None, None, "file not found")])
    header, records, problems = read_records(path, label)
    if problems and not header:
        return Parsed(empty, problems)
    header_problems = _header_problems(label, header, names)
    if header_problems:
        return Parsed(empty, problems + header_problems)
    if not records:
        problems.append(Problem(label, None, None, None, "no data rows (header only)"))
        return Parsed(empty, problems)
    lines, rows = _complete_rows(label, records, len(header), problems)
    index = pd.Index(lines, name="line")
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    typed = {}
    raw_text: dict[str, pd.Series] = {}
    unparsed: set[tuple[int, str]] = set()  # cells already reported: no follow-on problems
    for field in fields:
        texts = pd.Series(columns[header.index(field["name"])], index=index, dtype=object)
        texts = texts.str.strip()
        values, bad = _parse_column(field, texts)
        rule = (
            _RULES["partial_date" if is_partial_date(field) else field.get("type")]
            if bad.any()
            else ""
        )
        for line in index[bad.to_numpy()]:
            problems.append(Problem(label, int(line), field["name"], texts[line], rule))
            unparsed.add((int(line), field["name"]))
        typed[field["name"]] = values
        raw_text[field["name"]] = texts
    frame = pd.DataFrame(typed, index=index)
    problems += _pandera_problems(label, schema, frame, raw_text, unparsed)
    problems += [
        p for p in _row_rules(label, frame, fields) if not _follows_from(p, unparsed, fields)
    ]
    return Parsed(frame, problems)


# --------------------------------------------------------------------------- project rules


def _follows_from(problem: Problem, unparsed: set[tuple[int, str]], fields: list[dict]) -> bool:
    """A row rule broken only because a cell it reads could not be parsed (reported already)."""
    if problem.line is None:
        return False
    if (problem.line, problem.column) in unparsed:
        return True
    figure = next((figure_of(f)[0] for f in fields if f["name"] == problem.column), None)
    return figure is not None and (problem.line, figure) in unparsed


def figure_of(field: dict) -> tuple[str | None, str]:
    """The figure a field goes with and how, from the schema's ``qualifies`` / ``evidences``
    properties: ("amount_usd", "qualifier"), ("value", "evidence"), or (None, "")."""
    if field.get("qualifies"):
        return field["qualifies"], "qualifier"
    if field.get("evidences"):  # the source's own phrase stating the figure
        return field["evidences"], "evidence"
    return None, ""


def _row_rules(label: str, frame: pd.DataFrame, fields: list[dict]) -> list[Problem]:
    """Project rules a Table Schema cannot express: a qualifier and evidence go with each figure;
    dates are consistent."""
    return _qualifier_rules(label, frame, fields) + _date_rules(label, frame, fields)


def _qualifier_rules(label: str, frame: pd.DataFrame, fields: list[dict]) -> list[Problem]:
    """A figure has a qualifier and evidence, and a qualifier or evidence has a figure."""
    problems = []
    for field in fields:
        figure, kind = figure_of(field)
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
    return problems


def _date_rules(label: str, frame: pd.DataFrame, fields: list[dict]) -> list[Problem]:
    """No date after the row's ``as_of``; no ``as_of`` in the future."""
    partial = [f["name"] for f in fields if is_partial_date(f)]
    if "as_of" not in partial:
        return []
    problems = []
    as_of_end = date_bounds(frame["as_of"], end=True)
    for name in partial:
        if name == "as_of":
            continue
        start = date_bounds(frame[name], end=False)
        late = start.notna() & as_of_end.notna() & (start > as_of_end)
        for line in frame.index[late]:
            problems.append(
                Problem(label, line, name, frame.at[line, name], "date is after the row's as_of")
            )
    today = pd.Timestamp(date.today())
    for line in frame.index[date_bounds(frame["as_of"], end=False) > today]:
        problems.append(
            Problem(label, line, "as_of", frame.at[line, "as_of"], "as_of is in the future")
        )
    return problems


def constraint_text(field: dict) -> str:
    """A field's constraints in words, for the data dictionary ("required; >= 0; ...")."""
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
    figure, kind = figure_of(field)
    if figure:
        parts.append(f"{kind} of {figure}")
    return "; ".join(parts)
