"""Tables written for readers: figures in human units with their qualifier, dates in words, a source line.

Each function receives the rows to show and the ``sources`` dataset (for the source line) as
DataFrames; nothing here loads data or imports matplotlib. :class:`ReaderTable` renders as HTML in notebooks and reports
(a pandas Styler with a fixed id, so stored outputs do not change between runs) and as plain
text elsewhere (its ``repr`` is the table itself, never an object address).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping

import pandas as pd

from analysis.present.formatting import format_date, format_figure, in_words, source_note

__all__ = [
    "ReaderTable",
    "club_table",
    "downloads_table",
    "events_table",
    "exposure_table",
    "funding_table",
    "key_figures_table",
    "listings_table",
    "profile_header",
    "reader_table",
    "sensitivity_table",
    "stakes_table",
    "user_bases_table",
]


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
    sources: pd.DataFrame,
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
    the ``source_id`` column of ``df``; the note names them from ``sources`` (the sources
    dataset). Raises ``KeyError`` for a column not in ``df`` or a source id not in ``sources``.
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
    note = source_note(source_ids, sources) if source_ids else ""
    return ReaderTable(out.reset_index(drop=True), caption=caption, note=note, table_id=table_id)


# --------------------------------------------------------------------------- dataset tables
# One function per dataset: the columns a reader wants, in words, with the source line.


def events_table(
    events: pd.DataFrame, *, sources: pd.DataFrame, caption: str = "Regulatory events"
) -> ReaderTable:
    """Regulatory events (rows of ``pkg.load("regulatory_events")``) as a reader table."""
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
        sources=sources,
        caption=caption,
        table_id="events",
    )


def downloads_table(
    downloads: pd.DataFrame,
    *,
    sources: pd.DataFrame,
    caption: str = "App downloads and spending",
) -> ReaderTable:
    """Rows of ``pkg.load("downloads")`` with each figure in its unit ("≥ 3.0B downloads")."""
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
        sources=sources,
        caption=caption,
        table_id="downloads",
    )


def funding_table(
    rounds: pd.DataFrame, *, sources: pd.DataFrame, caption: str = "Funding rounds"
) -> ReaderTable:
    """Rows of ``pkg.load("funding_rounds")``: amount and valuation with their qualifiers."""
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
        sources=sources,
        caption=caption,
        table_id="funding",
    )


def stakes_table(
    stakes: pd.DataFrame, *, sources: pd.DataFrame, caption: str = "Stakes and backers"
) -> ReaderTable:
    """Rows of ``pkg.load("stakes")``: who holds what share of whom, and what they paid."""
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
        sources=sources,
        caption=caption,
        table_id="stakes",
    )


def user_bases_table(
    users: pd.DataFrame, *, sources: pd.DataFrame, caption: str = "User bases"
) -> ReaderTable:
    """Rows of ``pkg.load("user_bases")`` (or :func:`metrics.review_exposure`) with users in words."""
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
        sources=sources,
        caption=caption,
        table_id="users",
    )


def listings_table(
    listings: pd.DataFrame, *, sources: pd.DataFrame, caption: str = "Listings"
) -> ReaderTable:
    """Rows of ``pkg.load("listings")``: venue, status and amount raised."""
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
        sources=sources,
        caption=caption,
        table_id="listings",
    )


def exposure_table(
    exposure: pd.DataFrame,
    threshold: int,
    *,
    sources: pd.DataFrame,
    caption: str | None = None,
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
        sources=sources,
        caption=caption,
        source_ids=ids,
        table_id="exposure",
    )


def key_figures_table(
    figures: pd.DataFrame, *, sources: pd.DataFrame, caption: str = "Key figures"
) -> ReaderTable:
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
        sources=sources,
        caption=caption,
        table_id="key-figures",
    )


def profile_header(profile: Mapping, *, sources: pd.DataFrame) -> ReaderTable:
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
        note=source_note([row["source_id"]], sources),
        table_id="profile",
    )


def sensitivity_table(
    grid: pd.DataFrame, *, sources: pd.DataFrame, caption: str = "Over the threshold?"
) -> ReaderTable:
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
        sources=sources,
        caption=caption,
        source_ids=[s for s in df["source_id"] if isinstance(s, str)] + ["tc-2021-07"],
        table_id="sensitivity",
    )


def club_table(
    club: pd.DataFrame, milestone: float, *, sources: pd.DataFrame, caption: str | None = None
) -> ReaderTable:
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
        sources=sources,
        caption=caption,
        table_id="club",
    )
