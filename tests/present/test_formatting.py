"""The one formatter: figures with qualifier marks (in tables and, short, in charts), dates,
source notes."""

from __future__ import annotations

import pandas as pd
import pytest
from sample_sources import SOURCES

from analysis.data import Package
from analysis.present import formatting


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
    assert formatting.format_figure(value, qualifier, unit) == expected


def test_format_figure_never_uses_scientific_notation():
    for v in (1e-3, 1e21, 12345678901234.0):
        assert "e+" not in formatting.format_figure(v, "exact", "USD")
        assert "e-" not in formatting.format_figure(v, "exact")


def test_format_figure_rejects_unknown_qualifier_and_unit():
    with pytest.raises(ValueError, match="qualifier"):
        formatting.format_figure(1, "almost")
    with pytest.raises(ValueError, match="unit"):
        formatting.format_figure(1, "exact", "EUR")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2021-07-02", "2 Jul 2021"), ("2021-07", "Jul 2021"), ("2018", "2018"), (None, "–")],
)
def test_format_date(text, expected):
    assert formatting.format_date(text) == expected


def test_source_note_names_producer_and_publisher():
    data_sources = Package.open().load("sources")
    assert (
        formatting.source_note(["tc-2021-07-sensortower"], data_sources)
        == "Source: Sensor Tower via TechCrunch, Jul 2021"
    )
    assert (
        formatting.source_note(["tc-2021-07", "tc-2021-07"], data_sources)
        == "Source: TechCrunch, Jul 2021"
    )
    both = formatting.source_note(["tc-2021-07", "tc-2021-07-banma"], data_sources)
    assert both == "Sources: TechCrunch, Jul 2021; Banma via TechCrunch, Jul 2021"
    with pytest.raises(KeyError, match="nope"):
        formatting.source_note(["nope"], data_sources)


@pytest.mark.parametrize(
    ("value", "qualifier", "unit", "expected"),
    [
        (3e9, "at_least", "downloads", "≥ 3.0B"),
        (500e6, "approximate", "users", "~500M"),
        (460e6, "exact", "USD", "$460M"),
        (2.5e9, "at_least", "USD", "≥ $2.5B"),
        (4e9, "approximate", "USD", "~$4.0B"),
        (17.2, "exact", "percent", "17.2%"),
        (1e6, "at_most", "", "≤ 1.0M"),
        (3_000_000, None, "users", "3.0M"),
        (12_400, "exact", "", "12K"),
        (950, "exact", "", "950"),
        (None, "exact", "USD", "–"),
    ],
)
def test_short_format_figure_for_charts(value, qualifier, unit, expected):
    assert formatting.format_figure(value, qualifier, unit, short=True) == expected


@pytest.mark.parametrize("value", [1e-3, 0.5, 7, 1e5, 1e9, 1e13, 1e21, 123456789012345.0])
@pytest.mark.parametrize("unit", formatting.UNITS)
def test_short_format_never_uses_scientific_notation(value, unit):
    text = formatting.format_figure(value, "exact", unit, short=True)
    assert "e+" not in text and "e-" not in text and "E" not in text


def test_short_format_rejects_unknown_unit_and_qualifier():
    with pytest.raises(ValueError, match="unit"):
        formatting.format_figure(1, "exact", "EUR", short=True)
    with pytest.raises(ValueError, match="qualifier"):
        formatting.format_figure(1, "almost", "", short=True)


def test_source_note_formats_producer_publisher_and_date():
    assert formatting.source_note("tc-sensortower", SOURCES) == (
        "Source: Sensor Tower via TechCrunch, Jul 2021"
    )
    assert formatting.source_note(["tc", "tc"], SOURCES) == "Source: TechCrunch, Jul 2021"
    assert formatting.source_note(["tc", "tc-company"], SOURCES) == (
        "Sources: TechCrunch, Jul 2021; Banma via TechCrunch, 2 Jul 2021"
    )


def test_source_note_reads_the_sources_dataset():
    assert formatting.source_note(["tc-2021-07-sensortower"], Package.open().load("sources")) == (
        "Source: Sensor Tower via TechCrunch, Jul 2021"
    )


def test_source_note_errors():
    with pytest.raises(KeyError, match="nope"):
        formatting.source_note(["nope"], SOURCES)
    with pytest.raises(ValueError, match="no source ids"):
        formatting.source_note([], SOURCES, required=True)


def test_charts_and_tables_write_a_day_alike():
    assert formatting.format_day(pd.Timestamp("2021-07-02"), with_year=False) == "2 Jul"
    assert formatting.format_day(pd.Timestamp("2021-07-02")) == "2 Jul 2021"
    assert formatting.format_date(pd.Timestamp("2021-07-02")) == "2 Jul 2021"
