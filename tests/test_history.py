"""The one rule (latest reported, then producer rank, as_of cut), sources that differ, series.

Each test adds a few rows to a private copy of the data package (``data_copy``), so the rule is
tested on figures whose answer is known, whatever data/ holds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from analysis import history, metrics
from analysis.data import Package

APP = "Fixture App"  # an app of the tests only, so the live data cannot change the answers

SOURCES = [
    ("h-sensortower", "Sensor Tower"),
    ("h-press", "Some Newspaper"),
    ("h-filing", "Seeking Alpha (from ExampleCo's F-1/A)"),
    ("h-company", "ByteDance (company statement)"),
]


def add_rows(folder: Path, dataset: str, rows: list[dict]) -> None:
    """Append ``rows`` to ``folder/<dataset>.csv``; columns the rows lack stay empty."""
    path = folder / f"{dataset}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    extra = pd.DataFrame(rows, dtype=str)
    if "period" in df.columns and "period" not in extra.columns and dataset == "downloads":
        extra["period"] = "cumulative"  # release 2 names the period; these rows are cumulative
    if "evidence" in df.columns and "evidence" not in extra.columns and "value" in extra:
        extra["evidence"] = [evidence(r["value"], r["qualifier"]) for r in rows]
    out = pd.concat([df, extra], ignore_index=True).reindex(columns=df.columns).fillna("")
    out.to_csv(path, index=False)


WORDS = {"exact": "reached {} downloads", "at_least": "surpassed {} downloads"}


def evidence(value: str, qualifier: str) -> str:
    """The source's phrase for a test figure, as release 2 requires: "surpassed 1.6 billion downloads"."""
    text = WORDS.get(qualifier, "about {} downloads")
    return text.format(f"{float(value) / 1e9:g} billion")


def add_sources(folder: Path) -> None:
    add_rows(
        folder,
        "sources",
        [
            {"source_id": s, "publisher": "Test", "title": "Test", "producer": p, "licence": "test"}
            for s, p in SOURCES
        ],
    )


def tiktok(value, as_of, source, qualifier="at_least", measure="downloads", app=APP) -> dict:
    """A downloads row of ``app`` (owned by ByteDance): a fixture app unless told otherwise."""
    return {
        "record_id": f"t-{app}-{measure}-{as_of}-{source}",
        "app": app,
        "company": "ByteDance",
        "measure": measure,
        "value": str(value),
        "unit": "USD" if measure == "consumer_spending" else "downloads",
        "as_of": as_of,
        "qualifier": qualifier,
        "source_id": source,
    }


@pytest.fixture
def pkg(data_copy: Path) -> Package:
    add_sources(data_copy)
    add_rows(
        data_copy,
        "downloads",
        [
            tiktok(1_000_000_000, "2019-02", "h-press"),
            tiktok(1_000_000_000, "2019-02", "h-sensortower"),
            tiktok(1_500_000_000, "2019-11", "h-press", "exact"),
            tiktok(1_600_000_000, "2019-11", "h-company", "exact"),
            tiktok(2_000_000_000, "2020-04", "h-sensortower"),
            tiktok(2_000_000_000, "2020-04", "h-press", "approximate"),
            tiktok(3_000_000_000, "2021-07", "h-sensortower"),
            # TikTok's 2 billion of Apr 2020 (Sensor Tower), as release 2 of the data has it
            tiktok(2_000_000_000, "2020-04", "h-sensortower", app="TikTok"),
        ],
    )
    return Package(data_copy)


# --------------------------------------------------------------------------- producers


@pytest.mark.parametrize(
    ("producer", "own", "kind"),
    [
        ("Sensor Tower", (), "measurement"),
        ("Seeking Alpha (from Kanzhun's F-1/A)", (), "filing"),
        ("EqualOcean (citing DiDi's prospectus)", (), "filing"),
        ("Didi (company statement, via Reuters)", (), "company"),
        ("Meituan (Q2 2021 results)", (), "company"),
        ("Banma", ("Banma", None), "company"),
        ("Banma", ("Didi", None), "press"),
        ("The Wall Street Journal", (), "press"),
        (None, (), "press"),
    ],
)
def test_producer_kind_reads_the_keyword_table(producer, own, kind):
    assert history.producer_kind(producer, own) == kind


def test_producer_ranks_filing_company_measurement_press():
    rank = history.PRODUCER_RANK
    assert rank["filing"] < rank["company"] < rank["measurement"] < rank["press"]


# --------------------------------------------------------------------------- the rule


def test_latest_reported_wins(pkg):
    chosen, others = history.figure_as_of(pkg, APP, "downloads")
    assert chosen["as_of"] == "2021-07"
    assert chosen["value"] == 3e9
    assert set(others["as_of"]) >= {"2020-04", "2019-11", "2019-02"}
    assert list(others["as_of_end"]) == sorted(others["as_of_end"], reverse=True)


def test_as_of_cuts_what_was_known(pkg):
    chosen, others = history.figure_as_of(pkg, "fixture app", "downloads", as_of="2020-06-30")
    assert (chosen["value"], chosen["as_of"]) == (2e9, "2020-04")
    assert (others["as_of_end"] <= pd.Timestamp("2020-06-30")).all()
    none, empty = history.figure_as_of(pkg, APP, "downloads", as_of="2018-12-31")
    assert none is None and empty.empty


def test_producer_breaks_ties_on_the_same_date(pkg):
    chosen, _ = history.figure_as_of(pkg, APP, "downloads", as_of="2020-04-30")
    assert chosen["source_id"] == "h-sensortower"  # measurement firm over the press
    chosen, others = history.figure_as_of(pkg, APP, "downloads", as_of="2019-12")
    assert chosen["source_id"] == "h-company" and chosen["value"] == 1.6e9
    assert others["source_id"].iloc[0] == "h-press"  # same date, the alternative comes next


def _latest_downloads(data_copy, rows):
    """``figure_as_of`` of the app's downloads, today, after adding ``rows`` to a copy."""
    add_sources(data_copy)
    add_rows(data_copy, "downloads", rows)
    return history.figure_as_of(Package(data_copy), APP, "downloads")


def test_a_day_inside_a_month_is_the_same_date_for_the_rule(data_copy):
    chosen, others = _latest_downloads(
        data_copy,
        [
            tiktok(3_000_000_000, "2021-07", "h-filing"),
            tiktok(3_100_000_000, "2021-07-12", "h-press", "exact"),
            tiktok(3_200_000_000, "2021-07-20", "h-press", "exact"),
            tiktok(2_900_000_000, "2021-06-30", "h-company", "exact"),
        ],
    )
    # 12 and 20 Jul may each be before or after the end of July: the filing decides
    assert (chosen["as_of"], chosen["source_id"]) == ("2021-07", "h-filing")
    # then the press, the more precise (later) day first; 30 June is before all of July
    assert list(others["as_of"])[:3] == ["2021-07-20", "2021-07-12", "2021-06-30"]


def test_a_day_after_a_month_is_later_whoever_produced_it(data_copy):
    chosen, others = _latest_downloads(
        data_copy,
        [
            tiktok(3_000_000_000, "2021-07", "h-filing"),
            tiktok(3_100_000_000, "2021-08-02", "h-press", "exact"),
        ],
    )
    assert chosen["as_of"] == "2021-08-02"
    assert others["as_of"].iloc[0] == "2021-07"


def test_metrics_reexports_the_rule():
    assert metrics.figure_as_of is history.figure_as_of
    assert metrics.known_by is history.known_by


# --------------------------------------------------------------------------- series


def test_series_has_one_point_per_date_chosen_by_the_rule(pkg):
    s = history.series(pkg, APP, "downloads")
    assert list(s["as_of"][:3]) == ["2019-02", "2019-11", "2020-04"]
    assert s["as_of"].is_unique and s["as_of_end"].is_monotonic_increasing
    first = s.iloc[0]
    assert first["source_id"] == "h-sensortower" and first["other_sources"] == "h-press"
    assert s.iloc[1]["value"] == 1.6e9 and s.iloc[1]["qualifier"] == "exact"
    assert s.iloc[-1]["value"] == 3e9


def test_series_stops_at_as_of_and_is_empty_for_nothing(pkg):
    s = history.series(pkg, APP, "downloads", as_of="2020-06-30")
    assert s["as_of"].iloc[-1] == "2020-04"
    assert history.series(pkg, APP, "no_such_measure").empty


def test_cumulative_series_leaves_other_periods_out(pkg):
    facts = history.facts(pkg)
    if "period" not in pkg.load("downloads").columns:
        assert set(facts["period"]) == {"cumulative"}  # no period column: all cumulative
        return
    s = history.series(pkg, "TikTok", "downloads")
    quarterly = facts[(facts["subject"] == "TikTok") & (facts["period"] == "quarter")]
    assert not set(quarterly["value"]) & set(s["value"])


def test_bad_as_of_is_a_value_error(pkg):
    with pytest.raises(ValueError, match="as_of must be an ISO date"):
        history.series(pkg, "TikTok", "downloads", as_of="last summer")


# --------------------------------------------------------------------------- disagreement


def verdicts(pkg) -> dict[str, str]:
    d = history.sources_differ(pkg)
    d = d[d["subject"] == APP]
    return dict(zip(d["as_of"], d["verdict"], strict=True))


def test_sources_consistent_or_differ_with_qualifiers(pkg):
    got = verdicts(pkg)
    assert got["2019-02"] == "consistent"  # >= 1B and >= 1B
    assert got["2020-04"] == "consistent"  # >= 2B and ~2B meet
    assert got["2019-11"] == "differ"  # 1.5B and 1.6B, both exact


def test_at_least_is_consistent_with_a_larger_exact_figure(data_copy):
    add_sources(data_copy)
    add_rows(
        data_copy,
        "downloads",
        [
            tiktok(3_000_000_000, "2021-07", "h-press"),
            tiktok(3_100_000_000, "2021-07", "h-company", "exact"),
            tiktok(2_900_000_000, "2021-07", "h-filing", "exact"),
        ],
    )
    d = history.sources_differ(Package(data_copy))
    row = d[(d["subject"] == APP) & (d["as_of"] == "2021-07")].iloc[0]
    assert row["verdict"] == "differ"  # 2.9B exact cannot be >= 3B
    assert row["chosen_source"] == "h-filing"
    assert [f[2] for f in row["figures"]][:2] == ["h-filing", "h-company"]


def test_sources_differ_lists_differ_first(pkg):
    d = history.sources_differ(pkg)
    assert list(d["verdict"]) == sorted(d["verdict"], key=lambda v: v != "differ")


# --------------------------------------------------------------------------- reports at two dates


def test_reports_at_two_dates_differ_as_the_data_says(pkg):
    """What a report built on 2020-06-30 and on 2021-07-31 shows: 2 billion then, 3 billion now."""
    then, _ = history.figure_as_of(pkg, "TikTok", "downloads", as_of="2020-06-30")
    now, _ = history.figure_as_of(pkg, "TikTok", "downloads", as_of="2021-07-31")
    assert (then["value"], then["qualifier"]) == (2e9, "at_least")
    assert (now["value"], now["qualifier"]) == (3e9, "at_least")
    club_then = metrics.milestone_club(pkg, 3e9, as_of="2020-06-30")
    club_now = metrics.milestone_club(pkg, 3e9, as_of="2021-07-31")
    reached = {  # ">= 2B" may or may not be past 3B: undetermined then, yes now
        when: dict(zip(club["app"], club["reached"], strict=True))["TikTok"]
        for when, club in (("then", club_then), ("now", club_now))
    }
    assert reached == {"then": "undetermined", "now": "yes"}
    assert (club_now["app"] == "TikTok").sum() == 1  # one figure per app, the rule's
    assert len(history.series(pkg, "TikTok", "downloads", as_of="2020-06-30")) < len(
        history.series(pkg, "TikTok", "downloads", as_of="2021-07-31")
    )
