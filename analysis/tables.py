"""Tables written for readers: figures in human units with their qualifier, dates in words, a source line.

Nothing here imports matplotlib. :class:`ReaderTable` renders as HTML in notebooks and reports
(a pandas Styler with a fixed id, so stored outputs do not change between runs) and as plain
text elsewhere (its ``repr`` is the table itself, never an object address).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping

import pandas as pd

__all__ = [
    "QUALIFIER_MARKS",
    "ReaderTable",
    "format_date",
    "format_figure",
    "in_words",
    "reader_table",
    "source_note",
]

#: Mark shown before a figure for each qualifier ("≥ 3.0B downloads", "~500M users").
QUALIFIER_MARKS = {"exact": "", "approximate": "~", "at_least": "≥ ", "at_most": "≤ "}

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _human(value: float, digits: int) -> str:
    """1234567 -> '1.2M'; 460e6 -> '460M'; 3e9 -> '3.0B' (one decimal below 10)."""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            scaled = value / size
            text = f"{scaled:.{digits}f}" if abs(scaled) < 10 else f"{scaled:.0f}"
            return text + suffix
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.{digits}f}"


def format_figure(value, qualifier: str | None = "exact", unit: str = "", digits: int = 1) -> str:
    """A figure as a reader should see it, with its qualifier mark.

    ``unit``: "" (a count), "USD" ("$460M"), "percent" ("17.2%"), "users" ("~500M users"),
    "downloads" ("≥ 3.0B downloads"). Empty values give "–". Never scientific notation.
    Raises ``ValueError`` for an unknown qualifier or unit.

    >>> format_figure(3e9, "at_least", "downloads")
    '≥ 3.0B downloads'
    >>> format_figure(460e6, "exact", "USD")
    '$460M'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "–"
    qualifier = "exact" if qualifier is None or pd.isna(qualifier) else str(qualifier)
    if qualifier not in QUALIFIER_MARKS:
        raise ValueError(f"unknown qualifier {qualifier!r}")
    value = float(value)
    if unit == "USD":
        body = "$" + _human(value, digits)
    elif unit == "percent":
        body = (
            f"{value:.{digits}f}%".replace(".0%", "%")
            if value.is_integer()
            else f"{value:.{digits}f}%"
        )
    elif unit in ("", "users", "downloads"):
        body = _human(value, digits) + (f" {unit}" if unit else "")
    else:
        raise ValueError(f"unknown unit {unit!r}; expected '', USD, percent, users or downloads")
    return QUALIFIER_MARKS[qualifier] + body


def in_words(code) -> str:
    """A vocabulary code as a reader reads it: "app_removal_ordered" -> "App removal ordered"."""
    return "–" if code is None or pd.isna(code) else str(code).replace("_", " ").capitalize()


def format_date(text) -> str:
    """A partial ISO date in words: '2021-07-02' -> '2 Jul 2021', '2021-07' -> 'Jul 2021', '2018'.

    Also takes a ``datetime``/``Timestamp`` (formatted to the day). Empty gives "–".
    Raises ``ValueError`` for text that is not a partial ISO date.
    """
    if text is None or pd.isna(text):
        return "–"
    if not isinstance(text, str):
        ts = pd.Timestamp(text)
        return f"{ts.day} {_MONTHS[ts.month - 1]} {ts.year}"
    m = re.fullmatch(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", text.strip())
    if not m:
        raise ValueError(f"not an ISO date: {text!r}")
    year, month, day = m.groups()
    if month is None:
        return year
    if day is None:
        return f"{_MONTHS[int(month) - 1]} {year}"
    return f"{int(day)} {_MONTHS[int(month) - 1]} {year}"


def source_note(source_ids: Iterable[str], sources: pd.DataFrame | None = None) -> str:
    """The source line for a chart or table: 'Source: Sensor Tower via TechCrunch, Jul 2021'.

    ``sources`` is the sources dataset (default ``datasets.load("sources")``); ids are looked
    up there, duplicates dropped, order kept. Raises ``KeyError`` for an id not in sources.
    """
    if sources is None:
        from analysis import datasets

        sources = datasets.load("sources")
    by_id = sources.set_index("source_id")
    parts: list[str] = []
    for sid in dict.fromkeys(s for s in source_ids if isinstance(s, str) and s):
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
        return ""
    return ("Sources: " if len(parts) > 1 else "Source: ") + "; ".join(parts)


class ReaderTable:
    """A formatted table: HTML (pandas Styler, fixed id, no index) in notebooks, text elsewhere.

    ``frame`` holds the display strings; ``caption`` is the title; ``note`` the source line.
    """

    def __init__(
        self, frame: pd.DataFrame, caption: str = "", note: str = "", table_id: str = "table"
    ):
        self.frame = frame
        self.caption = caption
        self.note = note
        self.table_id = re.sub(r"[^A-Za-z0-9_-]+", "-", table_id)

    def to_html(self) -> str:
        """HTML of the table: caption, body and source note; all text escaped."""
        if self.frame.empty:
            what = html.escape(self.caption or "Table")
            return f'<p class="reader-table-empty"><em>{what}: none in the data.</em></p>'
        styler = (
            self.frame.style.hide(axis="index")
            .set_uuid(self.table_id)
            .set_caption(html.escape(self.caption))
            .format(escape="html")
            .set_table_attributes('class="reader-table"')
            .set_table_styles(
                [
                    {"selector": "th, td", "props": "text-align: left; padding: 4px 10px;"},
                    {"selector": "caption", "props": "text-align: left; font-weight: bold;"},
                ]
            )
        )
        body = styler.to_html()
        note = (
            f'<p class="source-note"><small>{html.escape(self.note)}</small></p>'
            if self.note
            else ""
        )
        return f'<div class="reader-table-wrap">{body}{note}</div>'

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        lines = [self.caption] if self.caption else []
        if self.frame.empty:
            lines = [f"{self.caption or 'Table'}: none in the data."]
        else:
            lines.append(self.frame.to_string(index=False))
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)

    def __len__(self) -> int:
        return len(self.frame)


def reader_table(
    df: pd.DataFrame,
    columns: Mapping[str, str],
    *,
    figures: Mapping[str, tuple[str | None, str]] | None = None,
    dates: Iterable[str] = (),
    caption: str = "",
    source_ids: Iterable[str] | None = None,
    table_id: str = "table",
) -> ReaderTable:
    """Turn a dataset slice into a :class:`ReaderTable`.

    ``columns`` maps source column -> header shown (order kept). ``figures`` maps a figure column
    to ``(qualifier column or None, unit)`` to format it with :func:`format_figure`; ``dates``
    names partial-date columns to format with :func:`format_date`. ``source_ids`` defaults to
    the ``source_id`` column of ``df``. Raises ``KeyError`` for a column not in ``df``.
    """
    figures = dict(figures or {})
    dates = set(dates)
    out = pd.DataFrame(index=df.index)
    for col, header in columns.items():
        if col not in df.columns:
            raise KeyError(
                f"column {col!r} not in the table (has: {', '.join(map(str, df.columns))})"
            )
        if col in figures:
            qcol, unit = figures[col]
            quals = df[qcol] if qcol else ["exact"] * len(df)
            out[header] = [format_figure(v, q, unit) for v, q in zip(df[col], quals, strict=True)]
        elif col in dates:
            out[header] = [format_date(v) for v in df[col]]
        else:
            out[header] = ["–" if pd.isna(v) else str(v) for v in df[col]]
    if source_ids is None:
        source_ids = list(df["source_id"]) if "source_id" in df.columns else []
    note = source_note(source_ids) if source_ids else ""
    return ReaderTable(out.reset_index(drop=True), caption=caption, note=note, table_id=table_id)


# --------------------------------------------------------------------------- dataset tables
# One function per dataset: the columns a reader wants, in words, with the source line.


def events_table(events: pd.DataFrame, caption: str = "Regulatory events") -> ReaderTable:
    """Regulatory events (rows of ``datasets.load("regulatory_events")``) as a reader table."""
    df = events.sort_values("date_start").copy()
    df["event"] = df["event_type"].map(in_words)
    return reader_table(
        df,
        {
            "date": "Date",
            "agency": "Agency",
            "event": "Action",
            "company": "Company",
            "description": "What happened",
        },
        dates=["date"],
        caption=caption,
        table_id="events",
    )


def downloads_table(
    downloads: pd.DataFrame, caption: str = "App downloads and spending"
) -> ReaderTable:
    """Rows of ``datasets.load("downloads")`` with each figure in its unit ("≥ 3.0B downloads")."""
    df = downloads.copy()
    df["figure"] = [
        format_figure(v, q, "USD" if u == "USD" else "downloads")
        for v, q, u in zip(df["value"], df["qualifier"], df["unit"], strict=True)
    ]
    df["measure"] = df["measure"].map(in_words)
    columns = {"app": "App", "company": "Owner", "measure": "Measure"}
    if "period" in df.columns:  # a quarter's installs are not a lifetime total
        df["period"] = df["period"].map(in_words)
        columns["period"] = "Period"
    return reader_table(
        df,
        columns | {"figure": "Figure", "as_of": "As of"},
        dates=["as_of"],
        caption=caption,
        table_id="downloads",
    )


def funding_table(rounds: pd.DataFrame, caption: str = "Funding rounds") -> ReaderTable:
    """Rows of ``datasets.load("funding_rounds")``: amount and valuation with their qualifiers."""
    df = rounds.copy()
    df["round"] = df["round_type"].map(in_words)
    return reader_table(
        df,
        {
            "company": "Company",
            "announced": "Announced",
            "round": "Round",
            "amount_usd": "Raised",
            "valuation_usd": "Valuation",
        },
        figures={
            "amount_usd": ("qualifier", "USD"),
            "valuation_usd": ("valuation_qualifier", "USD"),
        },
        dates=["announced"],
        caption=caption,
        table_id="funding",
    )


def stakes_table(stakes: pd.DataFrame, caption: str = "Stakes and backers") -> ReaderTable:
    """Rows of ``datasets.load("stakes")``: who holds what share of whom, and what they paid."""
    df = stakes.copy()
    df["relation"] = (
        df["relation"].str.replace("_", " ").str.replace("joint venture", "joint-venture")
    )
    return reader_table(
        df,
        {
            "investor": "Investor",
            "company": "Company",
            "relation": "Relation",
            "stake_pct": "Stake",
            "investment_usd": "Invested",
            "as_of": "As of",
        },
        figures={
            "stake_pct": ("qualifier", "percent"),
            "investment_usd": ("investment_qualifier", "USD"),
        },
        dates=["as_of"],
        caption=caption,
        table_id="stakes",
    )


def user_bases_table(users: pd.DataFrame, caption: str = "User bases") -> ReaderTable:
    """Rows of ``datasets.load("user_bases")`` (or :func:`metrics.review_exposure`) with users in words."""
    df = users.copy()
    if "metric" in df:
        df["metric"] = df["metric"].map(in_words)
    cols = {
        "company": "Company",
        "product": "Product",
        "metric": "Counted",
        "users": "Users",
        "as_of": "As of",
    }
    cols = {k: v for k, v in cols.items() if k in df.columns}
    return reader_table(
        df,
        cols,
        figures={"users": ("qualifier", "users")},
        dates=[c for c in ("as_of",) if c in df.columns],
        caption=caption,
        table_id="users",
    )


def listings_table(listings: pd.DataFrame, caption: str = "Listings") -> ReaderTable:
    """Rows of ``datasets.load("listings")``: venue, status and amount raised."""
    df = listings.copy()
    df["status"] = df["status"].str.capitalize()
    return reader_table(
        df,
        {
            "company": "Company",
            "venue": "Venue",
            "status": "Status",
            "listing_date": "Listed",
            "amount_raised_usd": "Raised",
        },
        figures={"amount_raised_usd": ("qualifier", "USD")},
        dates=["listing_date"],
        caption=caption,
        table_id="listings",
    )


def exposure_table(
    exposure: pd.DataFrame, threshold: int, caption: str | None = None
) -> ReaderTable:
    """:func:`analysis.metrics.review_exposure` as a reader table."""
    df = exposure.copy()
    df["under_review"] = ["yes" if v else "no" for v in df["under_review"]]
    caption = (
        caption or f"Over the review threshold of {format_figure(threshold, 'exact', 'users')}?"
    )
    ids = [s for s in df["source_id"] if isinstance(s, str)] + ["tc-2021-07"]
    return reader_table(
        df,
        {
            "company": "Company",
            "users": "Users",
            "over_threshold": "Over threshold",
            "overseas_listing": "Overseas listing",
            "under_review": "Under review",
        },
        figures={"users": ("qualifier", "users")},
        caption=caption,
        source_ids=ids,
        table_id="exposure",
    )


def key_figures_table(figures: pd.DataFrame, caption: str = "Key figures") -> ReaderTable:
    """:func:`analysis.metrics.key_figures` as a reader table, each figure with its qualifier mark."""
    df = figures.copy()
    df["figure"] = [
        format_figure(v, q, u)
        for v, q, u in zip(df["value"], df["qualifier"], df["unit"], strict=True)
    ]
    return reader_table(
        df,
        {"subject": "Who", "measure": "Measure", "figure": "Figure", "as_of": "As of"},
        dates=["as_of"],
        caption=caption,
        table_id="key-figures",
    )


def profile_header(profile: Mapping) -> ReaderTable:
    """The identity card of :func:`analysis.metrics.company_profile`: names, description, source."""
    row = profile["companies"].iloc[0]
    aliases = ", ".join(row["aliases"]) if len(row["aliases"]) else "–"
    fields = {
        "Company": row["company"],
        "Chinese name": row["name_zh"] if pd.notna(row["name_zh"]) else "–",
        "Also known as": aliases,
        "Parent": row["parent"] if pd.notna(row["parent"]) else "–",
        "Described as": row["description"] if pd.notna(row["description"]) else "–",
    }
    frame = pd.DataFrame({"Field": list(fields), "Value": list(fields.values())})
    return ReaderTable(
        frame,
        caption=str(row["company"]),
        note=source_note([row["source_id"]]),
        table_id="profile",
    )


def sensitivity_table(grid: pd.DataFrame, caption: str = "Over the threshold?") -> ReaderTable:
    """:func:`analysis.metrics.threshold_sensitivity` with thresholds as "> 1.0M users" headers."""
    df = grid.copy()
    df["users_text"] = [
        format_figure(v, q, "users") for v, q in zip(df["users"], df["qualifier"], strict=True)
    ]
    columns = {"company": "Company", "users_text": "Users"}
    for col in grid.columns:
        if str(col).isdigit():
            columns[col] = "> " + format_figure(int(col), "exact", "users")
    return reader_table(
        df,
        columns,
        caption=caption,
        source_ids=[s for s in df["source_id"] if isinstance(s, str)] + ["tc-2021-07"],
        table_id="sensitivity",
    )


def club_table(club: pd.DataFrame, milestone: float, caption: str | None = None) -> ReaderTable:
    """:func:`analysis.metrics.milestone_club` as a ranked table ("=1" where ranks are tied)."""
    df = club.copy()
    counts = df["rank"].value_counts()
    df["place"] = [f"={r}" if counts[r] > 1 else str(r) for r in df["rank"]]
    df["reached"] = df["reached"].map({"yes": "yes", "undetermined": "maybe"})
    caption = caption or f"Apps past {format_figure(milestone, 'exact', 'downloads')}"
    return reader_table(
        df,
        {
            "place": "Rank",
            "app": "App",
            "company": "Owner",
            "downloads": "Downloads",
            "reached": "Past it",
        },
        figures={"downloads": ("qualifier", "downloads")},
        caption=caption,
        table_id="club",
    )
