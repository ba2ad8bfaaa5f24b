"""Charts of figures over time and side by side: a dated series, IPO sizes planned vs priced.

Drawn from fixed tables (not data/), compared with ``tests/present/baselines/<name>.png`` as in
test_charts.py. After an intended change, rewrite the baselines and look at them:

    ROUNDUP_REGEN_BASELINES=1 .venv/bin/pytest -p no:nbval -o addopts="" tests/present/test_series_charts.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.testing.compare import compare_images
from sample_sources import SOURCES

from analysis.present import charts

BASELINES = Path(__file__).parent / "baselines"
REGEN = os.environ.get("ROUNDUP_REGEN_BASELINES") == "1"
TOL = 3.0
DPI = 100

CLIMB = pd.DataFrame(
    {
        "as_of": ["2019-02", "2019-11", "2020-04", "2021-07"],
        "as_of_end": pd.to_datetime(["2019-02-28", "2019-11-30", "2020-04-30", "2021-07-31"]),
        "value": pd.array([1e9, 1.5e9, 2e9, 3e9], dtype="Float64"),
        "qualifier": ["at_least", "exact", "approximate", "at_least"],
        "source_id": ["tc", "tc", "tc-sensortower", "tc-sensortower"],
    }
)

IPOS = pd.DataFrame(
    {
        "company": ["Didi", "Didi", "Full Truck Alliance", "Full Truck Alliance", "Kanzhun"],
        "status": ["planned", "listed", "planned", "listed", "planned"],
        "value": pd.array([4e9, 4.4e9, 1.57e9, 1.6e9, 864e6], dtype="Float64"),
        "qualifier": ["approximate", "exact", "at_most", "exact", "exact"],
        "source_id": ["tc", "tc", "tc-company", "tc", "tc-sensortower"],
    }
)


def climb_chart(df: pd.DataFrame = CLIMB) -> Figure:
    return charts.series_chart(
        df,
        title="TikTok's climb",
        subtitle="Cumulative downloads, App Store and Google Play",
        unit="downloads",
        sources=SOURCES,
    )


def ipo_chart(df: pd.DataFrame = IPOS) -> Figure:
    return charts.ipo_sizes(
        df,
        title="IPO sizes, planned and priced",
        subtitle="US dollars raised",
        sources=SOURCES,
    )


CHARTS = {"series": climb_chart, "ipo_sizes": ipo_chart}


def texts_of(fig: Figure) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    for legend in fig.legends:
        out += [t.get_text() for t in legend.get_texts()]
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts]
        out += [t.get_text() for t in ax.get_xticklabels()]
    return out


def test_series_marks_each_point_with_its_qualifier_and_date():
    fig = climb_chart()
    texts = texts_of(fig)
    assert fig.get_suptitle() == "TikTok's climb"
    assert {"≥ 1.0B\nFeb 2019", "1.5B\nNov 2019", "~2.0B\nApr 2020", "≥ 3.0B\nJul 2021"} <= set(
        texts
    )
    assert "≥ at least (or more)" in texts and "~ approximate" in texts
    assert fig.texts[-1].get_text() == (
        "Sources: TechCrunch, Jul 2021; Sensor Tower via TechCrunch, Jul 2021"
    )


def test_series_of_nothing_is_a_placeholder_or_an_error():
    with pytest.raises(ValueError, match="no rows"):
        climb_chart(CLIMB.iloc[0:0])
    fig = charts.series_chart(
        CLIMB.iloc[0:0], title="t", subtitle="s", sources=SOURCES, empty_message="Nothing known"
    )
    assert "Nothing known" in texts_of(fig)


def test_ipo_sizes_put_planned_beside_priced():
    fig = ipo_chart()
    texts = texts_of(fig)
    assert ["Didi", "Full Truck Alliance", "Kanzhun"] == [
        t.get_text() for t in fig.axes[0].get_xticklabels()
    ]
    assert {"~$4.0B", "$4.4B", "≤ $1.6B", "$1.6B", "$864M"} <= set(texts)
    assert "Planned (before pricing)" in texts and "Raised (priced)" in texts
    hatched = [p for p in fig.axes[0].patches if p.get_hatch()]
    assert len(hatched) == 3  # the planned bars


def test_ipo_sizes_leave_out_postponed_listings():
    more = pd.concat(
        [IPOS, IPOS.iloc[[0]].assign(status="postponed", company="ByteDance")], ignore_index=True
    )
    fig = ipo_chart(more)
    assert "ByteDance" not in [t.get_text() for t in fig.axes[0].get_xticklabels()]


@pytest.mark.parametrize("name", CHARTS)
def test_image_matches_baseline(name, tmp_path):
    fig = CHARTS[name]()
    expected = BASELINES / f"{name}.png"
    save = {"dpi": DPI, "format": "png", "metadata": {"Software": None}}
    if REGEN:
        fig.savefig(expected, **save)
        return
    assert expected.is_file(), f"no baseline {expected}; write it with ROUNDUP_REGEN_BASELINES=1"
    actual = tmp_path / f"{name}.png"
    fig.savefig(actual, **save)
    problem = compare_images(str(expected), str(actual), tol=TOL)
    assert problem is None, problem
