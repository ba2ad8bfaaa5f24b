"""The one chart that best shows a company profile of :func:`analysis.metrics.company_profile`."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from analysis.metrics import cumulative
from analysis.present.charts.bars import qualified_bars, threshold_bars
from analysis.present.charts.frame import (
    placeholder,
)
from analysis.present.charts.ownership import ownership
from analysis.present.charts.timeline import timeline
from analysis.present.formatting import (
    format_date,
    format_figure,
    in_words,
)


def profile_chart(profile: dict, *, sources: pd.DataFrame) -> Figure:
    """The chart that best shows one company of :func:`analysis.metrics.company_profile`.

    In order of preference: its user base against the review threshold known at the profile's
    ``as_of`` (``profile["review_threshold"]``; log scale; without a threshold known then, its
    user base alone); who backs it or whom it backs (ownership); its apps' downloads; its
    funding rounds; its regulatory events on a timeline. When the data holds none of these, a :func:`placeholder` saying so.
    ``sources`` is the sources dataset, for the source note.
    """
    for chart in (_users_chart, _owners_chart, _downloads_chart, _funding_chart, _events_chart):
        fig = chart(profile, profile["company"], sources)
        if fig is not None:
            return fig
    return placeholder(
        f"{profile['company']}: no chart",
        "Nothing in the data to chart for this company",
        "No user base, stake, download, funding or dated regulatory figure",
    )


def _users_chart(profile: dict, name: str, sources: pd.DataFrame) -> Figure | None:
    """User bases against the review threshold known at the profile's as_of, or alone."""
    users = profile["user_bases"]
    if not len(users):
        return None
    threshold = profile.get("review_threshold")
    if threshold is None:
        known = (
            f"known by {format_date(profile['as_of'])}" if profile.get("as_of") else "in the data"
        )
        return qualified_bars(
            users.assign(label=users["product"]),
            label="label",
            value="users",
            qualifier="qualifier",
            title=f"{name}: users",
            subtitle=f"Users; no review threshold {known}",
            sources=sources,
            source_ids=users["source_id"],
        )
    return threshold_bars(
        users.assign(label=users["product"]),
        label="label",
        value="users",
        qualifier="qualifier",
        threshold=threshold,
        threshold_label=f"Review threshold: more than {format_figure(threshold, short=True)} users",
        title=f"{name}: users against the review threshold",
        subtitle="Users (log scale)",
        sources=sources,
        source_ids=list(users["source_id"]) + ["tc-2021-07"],
    )


def _owners_chart(profile: dict, name: str, sources: pd.DataFrame) -> Figure | None:
    """Who backs the company, or whom it backs."""
    stakes = profile["stakes"]
    if not len(stakes):
        return None
    return ownership(
        stakes,
        title=f"{name}: who backs whom",
        subtitle="Stakes in percent where the source gives them",
        sources=sources,
        source_ids=stakes["source_id"],
    )


def _downloads_chart(profile: dict, name: str, sources: pd.DataFrame) -> Figure | None:
    """Cumulative downloads of the company's apps."""
    downloads = cumulative(profile["downloads"])
    downloads = downloads[downloads["measure"] == "downloads"]
    if not len(downloads):
        return None
    return qualified_bars(
        downloads,
        label="app",
        value="value",
        qualifier="qualifier",
        title=f"{name}: app downloads",
        subtitle="Cumulative downloads, App Store and Google Play",
        sources=sources,
        source_ids=downloads["source_id"],
    )


def _funding_chart(profile: dict, name: str, sources: pd.DataFrame) -> Figure | None:
    """Funding rounds with a known amount, labelled by round and date."""
    rounds = profile["funding_rounds"]
    rounds = rounds[rounds["amount_usd"].notna()]
    if not len(rounds):
        return None
    labels = [
        f"{in_words(t)}, {a}"
        for t, a in zip(
            rounds["round_type"], rounds["announced"].fillna("date unknown"), strict=True
        )
    ]
    return qualified_bars(
        rounds.assign(label=labels),
        label="label",
        value="amount_usd",
        qualifier="qualifier",
        unit="USD",
        title=f"{name}: funding rounds",
        subtitle="Amount raised, US dollars",
        sources=sources,
        source_ids=rounds["source_id"],
    )


def _events_chart(profile: dict, name: str, sources: pd.DataFrame) -> Figure | None:
    """Regulatory actions dated to the day, on a timeline."""
    events = profile["regulatory_events"]
    events = events[events["date_start"] == events["date_end"]]
    if not len(events):
        return None
    return timeline(
        events.assign(label=events["description"]),
        title=f"{name}: regulatory actions",
        subtitle="Dated actions of China's regulators",
        sources=sources,
        source_ids=events["source_id"],
    )
