"""Reader tables: escaped HTML with fixed ids, plain text repr, each dataset in words with its sources."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.data import Package
from analysis.present import tables

SOURCES = Package.open().load("sources")


def test_reader_table_is_escaped_has_fixed_id_and_plain_repr():
    df = pd.DataFrame(
        {
            "company": ["<script>alert(1)</script>", "美团"],
            "amount_usd": [460e6, None],
            "qualifier": ["exact", None],
            "as_of": ["2021-07", "2021-07-02"],
            "source_id": ["tc-2021-07", "tc-2021-07"],
        }
    )
    t = tables.reader_table(
        df,
        {"company": "Company", "amount_usd": "Amount", "as_of": "As of"},
        figures={"amount_usd": ("qualifier", "USD")},
        dates=["as_of"],
        sources=SOURCES,
        caption="Rounds",
        table_id="rounds",
    )
    html = t.to_html()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'id="T_rounds"' in html
    assert "美团" in html and "$460M" in html and "2 Jul 2021" in html
    assert "Source: TechCrunch, Jul 2021" in html
    assert t.to_html() == html  # no random ids
    text = repr(t)
    assert "0x" not in text and "$460M" in text and text.startswith("Rounds")


@pytest.mark.usefixtures("article_data")
def test_dataset_tables_read_as_the_article_words_them():
    from analysis import metrics
    from analysis.data import Package

    text = repr(tables.key_figures_table(metrics.key_figures(Package.open()), sources=SOURCES))
    for expected in ("≥ 3.0B downloads", "≥ $2.5B", "~500M users", "$460M", "17.2%", "$400M"):
        assert expected in text
    assert "e+0" not in text
    events = repr(tables.events_table(Package.open().load("regulatory_events"), sources=SOURCES))
    assert "2 Jul 2021" in events and "Apr 2020" in events
    club = repr(tables.club_table(metrics.milestone_club(Package.open()), 3e9, sources=SOURCES))
    assert club.count("=1") == 5


@pytest.mark.usefixtures("article_data")
def test_empty_table_says_so():
    from analysis import metrics

    empty = tables.stakes_table(
        metrics.company_profile(Package.open(), "Boss Zhipin")["stakes"], sources=SOURCES
    )
    assert len(empty) == 0
    assert "none in the data" in empty.to_html() and "none in the data" in repr(empty)


def test_sensitivity_table_headers_and_sources():
    from analysis import metrics

    t = tables.sensitivity_table(
        metrics.threshold_sensitivity(Package.open(), [1_000_000, 500_000_000]), sources=SOURCES
    )
    assert list(t.frame.columns) == ["Company", "Users", "> 1.0M users", "> 500M users"]
    assert "Banma via TechCrunch" in t.note


def test_profile_header_shows_aliases():
    from analysis import metrics

    t = tables.profile_header(metrics.company_profile(Package.open(), "Kanzhun"), sources=SOURCES)
    assert t.caption == "Boss Zhipin"
    assert "Kanzhun" in repr(t)
