"""The one way the project writes figures, dates and source lines for readers.

Tables and charts both use it, so a figure reads the same wherever it appears: human units
(K/M/B/T, never scientific notation) after the qualifier's mark ("≥ 3.0B", "~500M", "≤ 1.0M"),
dates in words independent of the locale ("2 Jul 2021", "Jul 2021", "2018") and source lines
naming who measured and who published ("Source: Sensor Tower via TechCrunch, Jul 2021").
Nothing here loads data or imports matplotlib.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import pandas as pd

__all__ = [
    "MONTHS",
    "QUALIFIER_KEY",
    "QUALIFIER_MARKS",
    "UNITS",
    "format_date",
    "format_day",
    "format_figure",
    "in_words",
    "source_note",
]

#: Mark shown before a figure for each qualifier ("≥ 3.0B downloads", "~500M users").
QUALIFIER_MARKS = {"exact": "", "approximate": "~", "at_least": "≥ ", "at_most": "≤ "}
#: Each qualifier's mark explained, for a chart's key.
QUALIFIER_KEY = {
    "exact": "exact",
    "approximate": "~ approximate",
    "at_least": "≥ at least (or more)",
    "at_most": "≤ at most (or less)",
}
#: Units :func:`format_figure` knows: a count, US dollars, percent 0-100, users, downloads.
UNITS = ("", "USD", "percent", "users", "downloads")
#: Month abbreviations, so that dates read the same under any locale.
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _human(value: float, digits: int) -> str:
    """1234567 -> '1.2M'; 460e6 -> '460M'; 3e9 -> '3.0B' (one decimal below 10)."""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            scaled = value / size
            text = f"{scaled:.{digits}f}" if abs(scaled) < 10 else f"{scaled:.0f}"
            return text + suffix
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.{digits}f}"


def format_figure(
    value, qualifier: str | None = "exact", unit: str = "", digits: int = 1, *, short: bool = False
) -> str:
    """A figure as a reader should see it, with its qualifier mark.

    ``value`` is in base units (USD, a count, or percent 0-100 for ``unit="percent"``);
    ``qualifier`` one of exact / approximate / at_least / at_most (``None`` means exact);
    ``unit`` one of :data:`UNITS`: "" (a count), "USD" ("$460M"), "percent" ("17.2%"),
    "users" ("~500M users"), "downloads" ("≥ 3.0B downloads"). ``short`` leaves out the unit
    word ("~500M"), for charts whose subtitle names the unit. Empty values give "–".
    Raises ``ValueError`` for an unknown qualifier or unit.

    >>> format_figure(3e9, "at_least", "downloads")
    '≥ 3.0B downloads'
    >>> format_figure(460e6, "exact", "USD")
    '$460M'
    """
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(map(repr, UNITS))}")
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "–"
    qualifier = "exact" if qualifier is None or pd.isna(qualifier) else str(qualifier)
    if qualifier not in QUALIFIER_MARKS:
        raise ValueError(f"unknown qualifier {qualifier!r}")
    value = float(value)
    if unit == "USD":
        body = "$" + _human(value, digits)
    elif unit == "percent":
        body = f"{value:.{digits}f}%"
        body = body.replace(".0%", "%") if value.is_integer() else body
    else:
        body = _human(value, digits) + (f" {unit}" if unit and not short else "")
    return QUALIFIER_MARKS[qualifier] + body


def in_words(code) -> str:
    """A vocabulary code as a reader reads it: "app_removal_ordered" -> "App removal ordered"."""
    return "–" if code is None or pd.isna(code) else str(code).replace("_", " ").capitalize()


def format_day(day, with_year: bool = True) -> str:
    """A day in words, '2 Jul 2021' (or '2 Jul' without ``with_year``); any date-like value."""
    ts = pd.Timestamp(day)
    text = f"{ts.day} {MONTHS[ts.month - 1]}"
    return f"{text} {ts.year}" if with_year else text


def format_date(text) -> str:
    """A partial ISO date in words: '2021-07-02' -> '2 Jul 2021', '2021-07' -> 'Jul 2021', '2018'.

    Also takes a ``datetime``/``Timestamp`` (formatted to the day). Empty gives "–".
    Raises ``ValueError`` for text that is not a partial ISO date.
    """
    if text is None or pd.isna(text):
        return "–"
    if not isinstance(text, str):
        return format_day(text)
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", text.strip())
    if not m:
        raise ValueError(f"not an ISO date: {text!r}")
    year, month, day = m.groups()
    if month is None:
        return year
    if day is None:
        return f"{MONTHS[int(month) - 1]} {year}"
    return f"{int(day)} {MONTHS[int(month) - 1]} {year}"


def source_note(
    source_ids: str | Iterable[str], sources: pd.DataFrame, *, required: bool = False
) -> str:
    """The source line of a chart or table: ``"Source: Sensor Tower via TechCrunch, Jul 2021"``.

    ``source_ids`` is one id or several (empty ones and duplicates dropped, order kept); each
    names a row of ``sources`` (the ``sources`` dataset: ``source_id``, ``publisher``,
    ``producer``, ``date_published``) and reads "producer via publisher" when they differ, then
    the publication date ("Jul 2021"). Several sources are joined with "; " after "Sources:".
    No id gives "" (``required``: a ``ValueError``). Raises ``KeyError`` for an id not in
    ``sources``.
    """
    ids = [source_ids] if isinstance(source_ids, str) else list(source_ids)
    by_id = sources.set_index("source_id")
    parts: list[str] = []
    for sid in dict.fromkeys(s for s in ids if isinstance(s, str) and s):
        if sid not in by_id.index:
            raise KeyError(f"source_id {sid!r} is not in the sources table")
        row = by_id.loc[sid]
        who = row["publisher"]
        if pd.notna(row["producer"]) and row["producer"] != row["publisher"]:
            who = f"{row['producer']} via {row['publisher']}"
        when = format_date(row["date_published"]) if pd.notna(row["date_published"]) else ""
        part = f"{who}, {when}" if when else who
        if part not in parts:
            parts.append(part)
    if not parts:
        if required:
            raise ValueError("no source ids: every chart must name its source (sources.source_id)")
        return ""
    return ("Sources: " if len(parts) > 1 else "Source: ") + "; ".join(parts)
