"""Reader-facing formatting: human units with qualifier marks, dates in words, source lines."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import tables


@pytest.mark.parametrize(
    ("value", "qualifier", "unit", "expected"),
    [
        (3e9, "at_least", "downloads", "≥ 3.0B downloads"),
        (500e6, "approximate", "users", "~500M users"),
        (460e6, "exact", "USD", "$460M"),
        (2.5e9, "at_least", "USD", "≥ $2.5B"),
        (17.2, "exact", "percent", "17.2%"),
        (1e6, "at_most", "", "≤ 1.0M"),
        (950, "exact", "", "950"),
        (None, "exact", "USD", "–"),
        (1.234e15, "exact", "USD", "$1234T"),
    ],
)
def test_format_figure(value, qualifier, unit, expected):
    assert tables.format_figure(value, qualifier, unit) == expected


def test_format_figure_never_uses_scientific_notation():
    for v in (1e-3, 1e21, 12345678901234.0):
        assert "e+" not in tables.format_figure(v, "exact", "USD")
        assert "e-" not in tables.format_figure(v, "exact")


def test_format_figure_rejects_unknown_qualifier_and_unit():
    with pytest.raises(ValueError, match="qualifier"):
        tables.format_figure(1, "almost")
    with pytest.raises(ValueError, match="unit"):
        tables.format_figure(1, "exact", "EUR")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2021-07-02", "2 Jul 2021"), ("2021-07", "Jul 2021"), ("2018", "2018"), (None, "–")],
)
def test_format_date(text, expected):
    assert tables.format_date(text) == expected


def test_source_note_names_producer_and_publisher():
    assert (
        tables.source_note(["tc-2021-07-sensortower"])
        == "Source: Sensor Tower via TechCrunch, Jul 2021"
    )
    assert tables.source_note(["tc-2021-07", "tc-2021-07"]) == "Source: TechCrunch, Jul 2021"
    both = tables.source_note(["tc-2021-07", "tc-2021-07-banma"])
    assert both == "Sources: TechCrunch, Jul 2021; Banma via TechCrunch, Jul 2021"
    with pytest.raises(KeyError, match="nope"):
        tables.source_note(["nope"])


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
    from analysis import datasets, metrics

    text = repr(tables.key_figures_table(metrics.key_figures()))
    for expected in ("≥ 3.0B downloads", "≥ $2.5B", "~500M users", "$460M", "17.2%", "$400M"):
        assert expected in text
    assert "e+0" not in text
    events = repr(tables.events_table(datasets.load("regulatory_events")))
    assert "2 Jul 2021" in events and "Apr 2020" in events
    club = repr(tables.club_table(metrics.milestone_club(), 3e9))
    assert club.count("=1") == 5


@pytest.mark.usefixtures("article_data")
def test_empty_table_says_so():
    from analysis import metrics

    empty = tables.stakes_table(metrics.company_profile("Boss Zhipin")["stakes"])
    assert len(empty) == 0
    assert "none in the data" in empty.to_html() and "none in the data" in repr(empty)


def test_sensitivity_table_headers_and_sources():
    from analysis import metrics

    t = tables.sensitivity_table(metrics.threshold_sensitivity([1_000_000, 500_000_000]))
    assert list(t.frame.columns) == ["Company", "Users", "> 1.0M users", "> 500M users"]
    assert "Banma via TechCrunch" in t.note


def test_profile_header_shows_aliases():
    from analysis import metrics

    t = tables.profile_header(metrics.company_profile("Kanzhun"))
    assert t.caption == "Boss Zhipin"
    assert "Kanzhun" in repr(t)
