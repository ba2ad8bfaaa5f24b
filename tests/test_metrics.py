"""Qualifier-aware comparisons, and the headline metrics on the curated data."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis import metrics
from analysis.data import Package
from analysis.figures import Figure, compare, exceeds, rank
from analysis.present import tables

QUALS = ["exact", "approximate", "at_least", "at_most"]
figures = st.builds(
    Figure,
    st.floats(min_value=0, max_value=1e13, allow_nan=False, allow_infinity=False),
    st.sampled_from(QUALS),
)

# ----------------------------------------------------------------- comparison rules


@pytest.mark.parametrize(
    ("fig", "threshold", "expected"),
    [
        (Figure(500e6, "approximate"), 1e6, "yes"),  # "almost 500 million" vs 1 million
        (Figure(1.05e6, "approximate"), 1e6, "undetermined"),
        (Figure(0.8e6, "approximate"), 1e6, "no"),
        (Figure(3e6, "exact"), 1e6, "yes"),
        (Figure(1e6, "exact"), 1e6, "no"),  # "exceeding one million" is strict
        (Figure(1e6, "at_least"), 1e6, "undetermined"),
        (Figure(2e6, "at_least"), 1e6, "yes"),
        (Figure(0.5e6, "at_least"), 1e6, "undetermined"),
        (Figure(0.5e6, "at_most"), 1e6, "no"),
        (Figure(2e6, "at_most"), 1e6, "undetermined"),
    ],
)
def test_exceeds(fig, threshold, expected):
    assert exceeds(fig, threshold) == expected


def test_exceeds_non_strict_counts_a_lower_bound_at_the_milestone():
    assert exceeds(Figure(3e9, "at_least"), 3e9, strict=False) == "yes"
    assert exceeds(Figure(2.9e9, "approximate"), 3e9, strict=False) == "undetermined"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (Figure(3e9, "at_least"), Figure(2.5e9, "approximate"), "greater"),
        (Figure(3e9, "at_least"), Figure(3.1e9, "approximate"), "undetermined"),
        (Figure(3e9, "at_least"), Figure(3e9, "at_least"), "undetermined"),
        (Figure(3e9, "exact"), Figure(3e9, "exact"), "equal"),
        (Figure(2e9, "at_most"), Figure(3e9, "at_least"), "less"),
        (Figure(3e9, "at_most"), Figure(3e9, "at_least"), "undetermined"),
        (Figure(460e6, "exact"), Figure(400e6, "exact"), "greater"),
    ],
)
def test_compare(a, b, expected):
    assert compare(a, b) == expected


def test_figure_refuses_bad_input():
    with pytest.raises(ValueError, match="unknown qualifier 'almost'"):
        Figure(1.0, "almost")
    with pytest.raises(ValueError, match="finite number >= 0"):
        Figure(-1.0)
    with pytest.raises(ValueError, match="finite number >= 0"):
        Figure(math.nan)


@given(figures, figures)
def test_compare_is_antisymmetric(a, b):
    flip = {"greater": "less", "less": "greater", "equal": "equal", "undetermined": "undetermined"}
    assert compare(b, a) == flip[compare(a, b)]


@given(figures, figures, figures)
def test_compare_is_transitive_where_determined(a, b, c):
    if compare(a, b) == "greater" and compare(b, c) == "greater":
        assert compare(a, c) == "greater"


@given(figures)
def test_a_figure_is_never_certainly_above_or_below_itself(a):
    assert compare(a, a) in ("equal", "undetermined")


@given(figures, st.floats(min_value=0, max_value=1e13, allow_nan=False))
def test_exceeds_agrees_with_every_value_the_qualifier_allows(fig, threshold):
    answer = exceeds(fig, threshold)
    if answer == "yes":
        assert fig.low > threshold
    elif answer == "no":
        assert fig.high <= threshold
    else:
        assert fig.low <= threshold < fig.high


@given(st.lists(figures, min_size=1, max_size=8))
def test_rank_puts_no_row_certainly_below_a_later_row(figs):
    df = pd.DataFrame({"value": [f.value for f in figs], "qualifier": [f.qualifier for f in figs]})
    ranked = rank(df)
    out = [Figure(v, q) for v, q in zip(ranked["value"], ranked["qualifier"], strict=True)]
    for i, a in enumerate(out):
        for b in out[i + 1 :]:
            assert compare(a, b) != "less"
    assert ranked["rank"].is_monotonic_increasing


# ----------------------------------------------------------------- metrics on the data


@pytest.mark.usefixtures("article_data")
def test_review_exposure_on_the_article():
    exp = metrics.review_exposure(Package.open()).set_index("company")
    assert exp.loc["Didi", "over_threshold"] == "yes"  # almost 500 million annual users
    assert exp.loc["Didi", "overseas_listing"] == "listed"
    assert bool(exp.loc["Didi", "under_review"]) is True
    assert exp.loc["Banma", "over_threshold"] == "yes"  # 3 million users, exact
    assert exp.loc["Banma", "overseas_listing"] == "none known"
    # the article gives no user figure for these: unknown, not zero
    for company in ("Full Truck Alliance", "Boss Zhipin", "ByteDance"):
        assert exp.loc[company, "over_threshold"] == "unknown"
        assert pd.isna(exp.loc[company, "users"])
    assert exp.loc["ByteDance", "overseas_listing"] == "postponed"


@pytest.mark.usefixtures("article_data")
def test_review_exposure_threshold_changes_the_answer():
    exp = metrics.review_exposure(Package.open(), threshold=3_000_000).set_index("company")
    assert exp.loc["Banma", "over_threshold"] == "no"  # 3,000,000 does not exceed 3,000,000
    exp = metrics.review_exposure(Package.open(), threshold=440_000_000).set_index("company")
    assert exp.loc["Didi", "over_threshold"] == "yes"  # ~500M: at least 450M
    exp = metrics.review_exposure(Package.open(), threshold=480_000_000).set_index("company")
    assert exp.loc["Didi", "over_threshold"] == "undetermined"
    with pytest.raises(ValueError, match="threshold"):
        metrics.review_exposure(Package.open(), threshold=-1)


@pytest.mark.usefixtures("article_data")
def test_review_threshold_comes_from_the_draft_rule():
    assert metrics.review_threshold(Package.open()) == 1_000_000
    assert metrics.review_threshold(Package.open(), as_of="2021-07-09") is None


@pytest.mark.usefixtures("article_data")
def test_milestone_club_has_the_five_apps():
    club = metrics.milestone_club(Package.open())
    assert set(club["app"]) == {"TikTok", "WhatsApp", "Messenger", "Facebook", "Instagram"}
    assert (club["reached"] == "yes").all()
    assert metrics.milestone_club(Package.open(), milestone=4e9)["reached"].eq("undetermined").all()


@pytest.mark.usefixtures("article_data")
def test_known_by_keeps_what_was_known_then():
    ev = metrics.known_by(Package.open().load("regulatory_events"), "2021-07-04")
    assert set(ev["event_id"]) == {
        "security-review-rules-2020-04",
        "didi-review-2021-07-02",
        "didi-app-removal-2021-07-04",
    }
    with pytest.raises(ValueError, match="ISO date"):
        metrics.known_by(ev, "yesterday")


@pytest.mark.usefixtures("article_data")
def test_company_profile_finds_a_company_by_alias():
    prof = metrics.company_profile(Package.open(), "kanzhun")
    assert prof["company"] == "Boss Zhipin"
    assert list(prof["regulatory_events"]["event_type"]) == ["review_opened"]
    banma = metrics.company_profile(Package.open(), "Banma")
    assert set(banma["stakes"]["investor"]) == {"Alibaba", "SAIC Motor"}
    assert len(banma["funding_rounds"]) == 2


def test_unknown_company_suggests_close_names():
    with pytest.raises(metrics.UnknownCompanyError, match="Did you mean: Didi"):
        metrics.resolve_company(Package.open(), "Didy")


@pytest.mark.usefixtures("article_data")
def test_threshold_sensitivity_grid():
    grid = metrics.threshold_sensitivity(
        Package.open(), [1_000_000, 3_000_000, 500_000_000]
    ).set_index("company")
    assert list(grid.loc["Didi", ["1000000", "3000000", "500000000"]]) == [
        "yes",
        "yes",
        "undetermined",
    ]
    assert list(grid.loc["Banma", ["1000000", "3000000", "500000000"]]) == ["yes", "no", "no"]
    assert grid.loc["ByteDance", "1000000"] == "unknown"
    with pytest.raises(ValueError, match="at least one threshold"):
        metrics.threshold_sensitivity(Package.open(), [])


@pytest.mark.usefixtures("article_data")
def test_rounds_since_and_stakes_of():
    assert list(metrics.rounds_since(Package.open(), "2019-01-01")["round_id"]) == ["banma-2021"]
    assert list(metrics.rounds_since(Package.open(), "2018-06-01")["round_id"]) == [
        "banma-2018",
        "banma-2021",
    ]
    assert set(metrics.stakes_of(Package.open(), "softbank")["company"]) == {
        "Didi",
        "Full Truck Alliance",
    }
    assert len(metrics.stakes_of(Package.open(), "")) == 5
    with pytest.raises(ValueError, match="ISO date"):
        metrics.rounds_since(Package.open(), "last year")
    with pytest.raises(metrics.UnknownCompanyError):
        metrics.stakes_of(Package.open(), "Softbank Vision Fund 3")


@pytest.mark.usefixtures("article_data")
def test_key_figures_carry_qualifiers_and_sources():
    kf = metrics.key_figures(Package.open())
    tiktok = kf[(kf["subject"] == "TikTok") & (kf["measure"] == "Downloads")].iloc[0]
    assert (tiktok["value"], tiktok["qualifier"], tiktok["unit"]) == (3e9, "at_least", "downloads")
    assert kf["source_id"].notna().all() and kf["qualifier"].notna().all()
    # Banma's 2018 valuation is dated 2018, but its source, the article, came out in July 2021
    assert len(metrics.key_figures(Package.open(), as_of="2019-01-01")) == 0
    july = metrics.key_figures(Package.open(), as_of="2021-07-31")
    assert ((july["subject"] == "Banma") & (july["as_of"] == "2018")).sum() == 1


@pytest.mark.usefixtures("article_data")
def test_event_timeline_labels_and_window():
    tl = metrics.event_timeline(Package.open(), since="2021-07-01", until="2021-07-31")
    assert list(tl["label"]) == [
        "Didi: review opened",
        "Didi: app removal ordered",
        "Boss Zhipin: review opened",
        "Full Truck Alliance: review opened",
        "Draft rule published",
    ]
    assert tl["date_start"].is_monotonic_increasing


@pytest.mark.usefixtures("article_data")
def test_known_by_takes_a_month_as_its_last_day():
    stakes = metrics.known_by(Package.open().load("stakes"), "2021-07")
    assert len(stakes) == 5
    assert len(metrics.known_by(Package.open().load("stakes"), "2021-06")) == 0


def test_period_figures_are_never_read_as_lifetime_totals():
    # release 2 holds quarterly and yearly installs next to cumulative milestones
    club = metrics.milestone_club(Package.open(), as_of="2021-07-31")
    assert sorted(club["app"]) == ["Facebook", "Instagram", "Messenger", "TikTok", "WhatsApp"]
    assert (club["reached"] == "yes").all()
    measures = set(metrics.key_figures(Package.open())["measure"])
    assert {"Downloads", "Downloads (quarter)", "Consumer spending (half year)"} <= measures


def test_key_figures_show_one_figure_per_subject_and_measure_with_differing_alternatives():
    pkg = Package.open()
    july = metrics.key_figures(pkg, as_of="2021-07-31")
    assert not july.duplicated(["subject", "measure"]).any()
    # the data: SoftBank's stake in Didi as the press gave it on 30 Jun 2021 and as the
    # prospectus gave it (dated June 2021, a period holding 30 Jun)
    stakes = pkg.load("stakes")
    held = stakes[(stakes["investor"] == "SoftBank") & (stakes["company"] == "Didi")]
    pairs = set(zip(held["stake_pct"], held["as_of"], strict=True))
    assert {(20.2, "2021-06-30"), (21.5, "2021-06")} <= pairs
    row = july[(july["subject"] == "SoftBank in Didi") & (july["measure"] == "Stake")].iloc[0]
    # 30 Jun lies inside June, so which came first is unknown: the filing decides, and the
    # press figure stays in view beside it
    assert (row["value"], row["as_of"]) == (21.5, "2021-06")
    assert [(v, d) for v, _q, d, _s in row["alternatives"]] == [(20.2, "2021-06-30")]
    text = repr(tables.key_figures_table(july, sources=pkg.load("sources")))
    assert "20.2% (" in text and row["alternatives"][0][3] in set(pkg.load("sources")["source_id"])
    # a figure whose sources agree shows no alternative; an earlier one is history, not one
    then = metrics.key_figures(pkg, as_of="2020-06-30")
    tiktok = then[(then["subject"] == "TikTok") & (then["measure"] == "Downloads")].iloc[0]
    assert (tiktok["value"], tiktok["qualifier"], tiktok["as_of"]) == (2e9, "at_least", "2020-04")
    assert tiktok["alternatives"] == []
