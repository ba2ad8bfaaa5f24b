"""Evidence checks: every figure of the package stated by its source's own words.

For each row of a resource whose schema pairs figures with evidence fields
(:func:`analysis.data.pairing.evidence_fields`), each figure that has a value must have its
evidence, a phrase that reads (:func:`analysis.data.evidence.read_figure`) as the stored value,
qualifier and unit (:func:`analysis.data.evidence.check`), and that occurs in the source's local
copy when one is on this machine (as :func:`analysis.data.evidence.occurs_in` finds it:
both :func:`~analysis.data.evidence.normalise`-d, the copy once). Each broken rule is
one :class:`~analysis.data.problems.Problem` naming file, CSV line and the evidence column.

Fast on large files: a phrase is read once per unit (readings are cached by phrase), a local
copy is read once, a (phrase, copy) pair is looked up once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from analysis.data.evidence import EvidenceError, Reading, check, normalise, read_figure
from analysis.data.pairing import evidence_fields, figure_fields
from analysis.data.problems import Problem

__all__ = ["Copies", "evidence_problems", "figure_text", "reader_unit"]

_ELISION = re.compile(r"\s*(?:…|\.\.\.)\s*")


def reader_unit(unit: str | None) -> str | None:
    """The evidence reader's unit for a schema or row unit: "USD" for ``USD`` (also "USD per
    share or ADS"), "percent", "count" for users, downloads and other counts; None if unknown."""
    text = (unit or "").strip().lower()
    if text.startswith("usd"):
        return "USD"
    if text.startswith("percent") or text == "%":
        return "percent"
    if text in {"users", "downloads", "count", "people", "apps", "companies"}:
        return "count"
    return None


def figure_text(value: float, unit: str | None, qualifier: str | None) -> str:
    """A figure as a problem message says it: ``$460,000,000 (exact)``, ``17.2% (exact)``,
    ``3,000,000 (at_least)``; the qualifier left out when None."""
    number = f"{float(value):,.6f}".rstrip("0").rstrip(".")
    shown = {"USD": f"${number}", "percent": f"{number}%", "count": number}.get(
        unit or "", f"{number} {unit}" if unit else number
    )
    return f"{shown} ({qualifier})" if qualifier else shown


@lru_cache(maxsize=65536)
def _read(phrase: str, unit: str | None) -> Reading | str:
    """The reading of ``phrase`` (of ``unit`` when it states several figures), or why none.

    A phrase with no figure in ``unit`` but one figure in another unit reads as that one, so
    that the check can say the units differ.
    """
    try:
        return read_figure(phrase, unit)
    except EvidenceError as exc:
        if unit is not None:
            try:
                return read_figure(phrase)
            except EvidenceError:
                pass
        reason = str(exc).removeprefix(f"evidence {phrase!r}").lstrip(": ")
        return reason


@dataclass
class Copies:
    """Sources' local copies, found and read once per validation.

    ``local_copy`` (sources.csv) is absolute, or relative to the data folder or a folder above
    it, or to the project's folder or one above it (``shared/sources/...`` beside the
    checkout). ``missing`` collects the copies not on this machine (their occurrence checks
    are skipped).
    """

    data_dir: Path
    project_root: Path
    missing: set[str] = field(default_factory=set)
    _texts: dict[str, str | None] = field(default_factory=dict)
    _found: dict[tuple[str, str], bool] = field(default_factory=dict)
    _normalised: dict[str, str] = field(default_factory=dict)

    def resolve(self, local_copy: str) -> Path | None:
        """The file ``local_copy`` names, or None when it is not on this machine."""
        path = Path(local_copy).expanduser()
        if path.is_absolute():
            return path if path.is_file() else None
        bases = [
            self.data_dir,
            *self.data_dir.parents,
            self.project_root,
            *self.project_root.parents,
        ]
        return next((b / path for b in bases if (b / path).is_file()), None)

    def text(self, local_copy: str) -> str | None:
        """The copy's text (UTF-8), or None when absent or unreadable (noted in ``missing``)."""
        if local_copy not in self._texts:
            path = self.resolve(local_copy)
            try:
                self._texts[local_copy] = None if path is None else path.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                self._texts[local_copy] = None
            if self._texts[local_copy] is None:
                self.missing.add(local_copy)
        return self._texts[local_copy]

    def occurs(self, phrase: str, local_copy: str) -> bool | None:
        """Whether ``phrase`` occurs in the copy (normalised; "…" or "..." in the phrase stands
        for words left out); None when the copy is absent."""
        text = self.text(local_copy)
        if text is None:
            return None
        key = (phrase, local_copy)
        if key not in self._found:
            # occurs_in(phrase, text) is not None, with the copy normalised once, not per phrase;
            # an elision ("…" or "...") stands for any words: the parts occur in order
            flat, at = self._flat(local_copy, text), 0
            parts = [normalise(p) for p in _ELISION.split(phrase)]
            for part in (p for p in parts if p):
                found = flat.find(part, at)
                at = -1 if found < 0 else found + len(part)
                if at < 0:
                    break
            self._found[key] = any(parts) and at >= 0
        return self._found[key]

    def _flat(self, local_copy: str, text: str) -> str:
        if local_copy not in self._normalised:
            self._normalised[local_copy] = normalise(text)
        return self._normalised[local_copy]


def _row_unit(field_unit: str | None, frame: pd.DataFrame) -> Callable[[int], str | None]:
    """The reader unit of a figure on CSV line ``line``: the field's, or the row's ``unit``
    column where the field's unit says "see unit" (downloads: downloads or USD)."""
    unit = reader_unit(field_unit)
    if "see unit" in (field_unit or "") and "unit" in frame:
        units = frame["unit"]
        return lambda line: reader_unit(None if pd.isna(units[line]) else str(units[line]))
    return lambda line: unit


def _cell_problem(
    label: str,
    line: int,
    column: str,
    phrase: str,
    value: float,
    qualifier: str | None,
    unit: str | None,
) -> Problem | None:
    """What is wrong with one evidence phrase against its figure (None when it states it)."""
    reading = _read(phrase, unit)
    if isinstance(reading, str):
        return Problem(label, line, column, phrase, f"the words state no single figure: {reading}")
    try:
        wrong = check(reading, value, qualifier or reading.qualifier, unit)
    except EvidenceError:  # a qualifier outside the four: the schema's enum reports it
        return None
    if wrong is None:
        return None
    said = figure_text(reading.value, reading.unit, reading.qualifier)
    stored = figure_text(value, unit or reading.unit, qualifier)
    return Problem(label, line, column, phrase, f"the words read as {said}, the row says {stored}")


def evidence_problems(
    label: str, schema: dict, frame: pd.DataFrame, local_copies: dict[str, str], copies: Copies
) -> list[Problem]:
    """Every evidence problem of one parsed resource.

    ``label``: the CSV file's name; ``frame``: the typed rows indexed by CSV line (as
    :func:`analysis.data.schema.parse_resource` gives them); ``local_copies``: source_id ->
    local_copy (as written in sources.csv) for the sources that have one. Returns [] for a
    resource without evidence fields or rows.
    """
    if frame.empty:
        return []
    qualifiers = figure_fields(schema)
    units = {f["name"]: f.get("unit") for f in schema.get("fields", [])}
    problems: list[Problem] = []
    for figure, column in evidence_fields(schema).items():
        if figure not in frame or column not in frame:
            continue
        given = frame[figure].notna()
        qual = qualifiers.get(figure)
        unit_of = _row_unit(units.get(figure), frame)
        for line in frame.index[given & frame[column].isna()]:
            rule = f"evidence required: {figure} is given (quote the source's words stating it)"
            problems.append(Problem(label, int(line), column, None, rule))
        rows = frame.loc[given & frame[column].notna()]
        none = [None] * len(rows)
        quals = rows[qual].astype(object).where(rows[qual].notna(), None).tolist() if qual else none
        cited = rows["source_id"].tolist() if "source_id" in rows else none
        lines, values, texts = rows.index.tolist(), rows[figure].tolist(), rows[column].tolist()
        cells = zip(lines, values, texts, quals, cited, strict=True)
        for line, value, text, q, source in cells:
            phrase = str(text)
            wrong = _cell_problem(label, int(line), column, phrase, value, q, unit_of(line))
            if wrong is not None:
                problems.append(wrong)
                continue
            copy = local_copies.get(source)
            if copy and copies.occurs(phrase, copy) is False:
                rule = f"the words are not in the source's local copy {copy}"
                problems.append(Problem(label, int(line), column, phrase, rule))
    return sorted(problems, key=lambda p: (p.line or 0, p.column or ""))
