"""Tables written for readers: figures in human units with their qualifier, dates in words, a source line.

Each function receives the rows to show and the ``sources`` dataset (for the source line) as
DataFrames; nothing here loads data or imports matplotlib. Each returns a :class:`ReaderTable`
(:mod:`analysis.present.reader`: HTML in notebooks and reports, plain text elsewhere). The
tables of what was known when (sources that differ, who backs each figure, a company's
history) live in :mod:`analysis.present.history_tables` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from analysis.present.formatting import format_figure, in_words, source_note
from analysis.present.history_tables import (
    backing_table,
    history_table,
    producer_of,
    sources_differ_table,
)
from analysis.present.reader import ReaderTable, reader_table

__all__ = [
    "ReaderTable",
    "backing_table",
    "club_table",
    "downloads_table",
    "events_table",
    "exposure_table",
    "funding_table",
    "history_table",
    "key_figures_table",
    "listings_table",
    "profile_header",
    "reader_table",
    "sensitivity_table",
    "sources_differ_table",
    "stakes_table",
    "user_bases_table",
]


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
    """:func:`analysis.metrics.key_figures` as a reader table, each figure with its qualifier mark.

    Columns shown: Who, Measure, Figure (the one the rule chose), As of, Other sources say (the
    figures other sources gave for that date where they read differently, each with who
    produced it; "–" where none). The note names every source, the alternatives' included.
    """
    by_id = sources.set_index("source_id")
    df = figures.copy()
    df["figure"] = [
        format_figure(v, q, u)
        for v, q, u in zip(df["value"], df["qualifier"], df["unit"], strict=True)
    ]
    df["also"] = [
        "; ".join(
            f"{_apart(v, q, u, value, shown)} ({producer_of(by_id, s)})" for v, q, _d, s in alts
        )
        or "–"
        for alts, u, value, shown in zip(
            df["alternatives"], df["unit"], df["value"], df["figure"], strict=True
        )
    ]
    ids = list(df["source_id"]) + [s for alts in df["alternatives"] for *_f, s in alts]
    return reader_table(
        df,
        {
            "subject": "Who",
            "measure": "Measure",
            "figure": "Figure",
            "as_of": "As of",
            "also": "Other sources say",
        },
        dates=["as_of"],
        sources=sources,
        caption=caption,
        source_ids=ids,
        table_id="key-figures",
    )


def _apart(value: float, qualifier: str, unit: str, shown_value: float, shown: str) -> str:
    """An alternative figure written so that it reads apart from the one shown (``shown``).

    "$4.22B" beside "$4.2B" (one more digit); where digits do not tell them apart (205.4M and
    205.0M both read "205M"), the whole numbers: "205,400,000, not 205,000,000".
    """
    for digits in (1, 2):
        text = format_figure(value, qualifier, unit, digits)
        if text != shown:
            return text
    return f"{value:,.0f}, not {shown_value:,.0f}"


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
