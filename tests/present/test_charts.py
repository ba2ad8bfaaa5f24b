"""Charts: content (titles, units, source notes, qualifier marks), errors, CJK fonts, images.

Image regression: each chart function is drawn from a small fixed table and compared with
``tests/present/baselines/<name>.png`` (``matplotlib.testing.compare.compare_images``, RMS tolerance
``TOL``). After an intended change, rewrite the baselines and look at them before committing:

    ROUNDUP_REGEN_BASELINES=1 .venv/bin/pytest -p no:nbval -o addopts="" tests/present/test_charts.py
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import sys
import warnings
from itertools import combinations
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.testing.compare import compare_images
from sample_sources import SOURCES

from analysis import paths
from analysis.data import Package
from analysis.present import charts
from analysis.present.charts import fonts
from analysis.present.charts.timeline import _stack_labels

BASELINES = Path(__file__).parent / "baselines"
REGEN = os.environ.get("ROUNDUP_REGEN_BASELINES") == "1"
TOL = 3.0  # RMS difference allowed, in 0-255 grey levels
DPI = 100

MONEY = pd.DataFrame(
    {
        "label": [
            "Didi IPO, New York",
            "TikTok consumer spending",
            "At-most example",
            "Banma funding, 2021",
            "Tencent investment in Meituan",
        ],
        "value": pd.array([4e9, 2.5e9, 1e9, 460e6, 400e6], dtype="Float64"),
        "qualifier": ["approximate", "at_least", "at_most", "exact", "exact"],
    }
)

EVENTS = pd.DataFrame(
    {
        "date_start": pd.to_datetime(
            ["2021-07-02", "2021-07-04", "2021-07-05", "2021-07-05", "2021-07-10"]
        ),
        "label": [
            "Cybersecurity review of Didi opened after its New York IPO",
            'Didi app ordered removed over "illegal collection of user data"',
            "Review of Full Truck Alliance opened",
            "Review of Boss Zhipin opened",
            "Draft rules: more than 1M users means a security review before an overseas IPO",
        ],
    }
)

USERS = pd.DataFrame(
    {
        "company": ["Didi", "Banma", "Small app (example)"],
        "users": pd.array([500_000_000, 3_000_000, 200_000], dtype="Int64"),
        "qualifier": ["approximate", "exact", "at_least"],
    }
)

STAKES = pd.DataFrame(
    {
        "investor": ["Tencent", "SoftBank", "SoftBank", "Alibaba", "SAIC Motor"],
        "company": ["Meituan", "Didi", "Full Truck Alliance", "Banma", "Banma"],
        "relation": [
            "shareholder",
            "backer",
            "backer",
            "joint_venture_partner",
            "joint_venture_partner",
        ],
        "stake_pct": pd.array([17.2, None, None, None, None], dtype="Float64"),
        "qualifier": ["exact", None, None, None, None],
    }
)


def money_chart(df: pd.DataFrame = MONEY) -> Figure:
    return charts.qualified_bars(
        df,
        label="label",
        value="value",
        qualifier="qualifier",
        title="Money moving in China tech",
        subtitle="US dollars",
        source_ids=["tc", "tc-sensortower"],
        unit="USD",
        sources=SOURCES,
    )


def events_chart(df: pd.DataFrame = EVENTS) -> Figure:
    return charts.timeline(
        df,
        title="Regulators move on overseas listings",
        subtitle="Actions of the Cybersecurity Review Office, July 2021",
        source_ids="tc",
        sources=SOURCES,
    )


def users_chart(df: pd.DataFrame = USERS) -> Figure:
    return charts.threshold_bars(
        df,
        label="company",
        value="users",
        qualifier="qualifier",
        threshold=1_000_000,
        title="Who crosses the review threshold",
        subtitle="Users, log scale",
        source_ids=["tc", "tc-company"],
        threshold_label="Review threshold: more than 1M users",
        unit="users",
        sources=SOURCES,
    )


def stakes_chart(df: pd.DataFrame = STAKES) -> Figure:
    return charts.ownership(
        df,
        title="Who backs whom",
        subtitle="Share of the company held, in percent, where reported",
        source_ids="tc",
        sources=SOURCES,
    )


CHARTS = {
    "qualified_bars": money_chart,
    "timeline": events_chart,
    "threshold_bars": users_chart,
    "ownership": stakes_chart,
}
INPUTS = {
    "qualified_bars": MONEY,
    "timeline": EVENTS,
    "threshold_bars": USERS,
    "ownership": STAKES,
}


@pytest.fixture
def make():
    """Build charts by name and close them all at the end of the test."""
    made: list[Figure] = []

    def build(name: str, df: pd.DataFrame | None = None) -> Figure:
        fig = CHARTS[name]() if df is None else CHARTS[name](df)
        made.append(fig)
        return fig

    yield build
    for fig in made:
        plt.close(fig)


def all_texts(fig: Figure) -> list[str]:
    """Every piece of text in the figure: its own, its legends', its axes' and tick labels."""
    out = [t.get_text() for t in fig.texts]
    for legend in fig.legends:
        out += [t.get_text() for t in legend.get_texts()]
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts]
        out += [t.get_text() for t in ax.get_yticklabels() + ax.get_xticklabels()]
    return out


def drawn(fig: Figure):
    """A renderer on which ``fig`` has just been drawn."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


# --------------------------------------------------------------------------- style


STYLE_PROBE = """
import json, matplotlib as mpl, matplotlib.style
matplotlib.style.use("analysis.present.charts.house")
r = mpl.rcParams
print(json.dumps({
    "spines": [r["axes.spines.top"], r["axes.spines.right"]],
    "bbox": r["savefig.bbox"],
    "colors": r["axes.prop_cycle"].by_key()["color"],
    "fonts": r["font.sans-serif"][:4],
    "size": [*r["figure.figsize"], r["figure.dpi"]],
    "face": r["figure.facecolor"],
}))
"""


def test_style_is_a_package_style_with_the_house_look():
    # A fresh interpreter at the project root, as a notebook would load it.
    out = subprocess.run(
        [sys.executable, "-c", STYLE_PROBE],
        cwd=paths.PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    got = json.loads(out)
    assert got["spines"] == [False, False] and got["bbox"] == "tight"
    okabe_ito = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442"]
    assert got["colors"][: len(okabe_ito)] == okabe_ito
    cjk = ["WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC"]
    assert got["fonts"] == ["DejaVu Sans", *cjk]  # DejaVu first, then CJK families
    assert got["size"] == [8.0, 4.5, 100.0] and got["face"] == "white"


def test_style_sets_no_backend():
    text = (paths.PROJECT_ROOT / "analysis" / "present" / "charts" / "house.mplstyle").read_text(
        encoding="utf-8"
    )
    assert re.search(r"^\s*backend\s*:", text, flags=re.MULTILINE) is None


def test_charts_leave_global_rcparams_alone(make):
    before = dict(mpl.rcParams)
    for name in CHARTS:
        make(name)
    assert dict(mpl.rcParams) == before


# --------------------------------------------------------------------------- text helpers


# --------------------------------------------------------------------------- chart content


HEADS = {
    "qualified_bars": (
        "Money moving in China tech",
        "US dollars",
        "Sources: TechCrunch, Jul 2021; Sensor Tower via TechCrunch, Jul 2021",
    ),
    "timeline": (
        "Regulators move on overseas listings",
        "Actions of the Cybersecurity Review Office, July 2021",
        "Source: TechCrunch, Jul 2021",
    ),
    "threshold_bars": (
        "Who crosses the review threshold",
        "Users, log scale",
        "Sources: TechCrunch, Jul 2021; Banma via TechCrunch, 2 Jul 2021",
    ),
    "ownership": (
        "Who backs whom",
        "Share of the company held, in percent, where reported",
        "Source: TechCrunch, Jul 2021",
    ),
}


@pytest.mark.parametrize("name", CHARTS)
def test_chart_has_title_subtitle_and_source_note(make, name):
    fig = make(name)
    assert isinstance(fig, Figure)
    assert fig.get_suptitle() == HEADS[name][0]
    assert tuple(t.get_text() for t in fig.texts) == HEADS[name]  # top to bottom
    note = fig.texts[-1]
    assert note.get_position() == (0, 0) and note.get_va() == "bottom"  # bottom left


@pytest.mark.parametrize("name", CHARTS)
def test_chart_fits_in_its_figure_without_overlapping_text(make, name):
    fig = make(name)
    renderer = drawn(fig)
    inside = fig.get_tightbbox(renderer)  # inches
    width, height = fig.get_size_inches()
    assert inside.x0 >= 0 and inside.y0 >= 0, "something sticks out left or below"
    assert inside.x1 <= width + 1e-6 and inside.y1 <= height + 1e-6, "something sticks out"
    boxes = [t.get_window_extent(renderer) for t in fig.texts]
    boxes += [legend.get_window_extent(renderer) for legend in fig.legends]
    for ax in fig.axes:
        boxes += [t.get_window_extent(renderer) for t in ax.texts if t.get_text()]
        boxes += [t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text()]
    for a, b in combinations(boxes, 2):
        assert not a.overlaps(b), f"text boxes overlap: {a} and {b}"


def test_qualified_bars_label_each_bar_with_its_qualifier_mark(make):
    fig = make("qualified_bars")
    texts = all_texts(fig)
    for label in ("~$4.0B", "≥ $2.5B", "≤ $1.0B", "$460M", "$400M"):
        assert label in texts
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(MONEY["label"])
    key = [t.get_text() for t in fig.legends[0].get_texts()]
    assert key == ["exact", "~ approximate", "≥ at least (or more)", "≤ at most (or less)"]


def test_qualified_bars_without_qualified_figures_have_no_key(make):
    exact = MONEY.assign(qualifier="exact")
    fig = make("qualified_bars", exact)
    assert fig.legends == []
    assert "~$4.0B" not in all_texts(fig) and "$4.0B" in all_texts(fig)


def test_qualified_bars_custom_value_format(make):
    fig = charts.qualified_bars(
        MONEY,
        label="label",
        value="value",
        qualifier="qualifier",
        title="t",
        subtitle="US dollars",
        source_ids="tc",
        value_format=lambda v, q: f"{q}:{v:.0f}",
        sources=SOURCES,
    )
    plt.close(fig)
    assert "exact:460000000" in all_texts(fig)


def test_threshold_bars_draw_a_log_axis_and_the_threshold(make):
    fig = make("threshold_bars")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert any(list(line.get_xdata()) == [1_000_000, 1_000_000] for line in ax.get_lines())
    texts = all_texts(fig)
    assert "Review threshold: more than 1M users" in texts
    assert {"~500M", "3.0M", "≥ 200K"} <= set(texts)
    low, high = ax.get_xlim()
    assert low < 200_000 and high > 500_000_000
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert "1M" in ticks and not any("e" in t or "^" in t for t in ticks)


def test_threshold_bars_reject_non_positive_values():
    with pytest.raises(ValueError, match="> 0"):
        users_chart(USERS.assign(users=pd.array([0, 1, 2], dtype="Int64")))


def test_timeline_groups_same_day_events_and_dates_labels(make):
    fig = make("timeline")
    texts = all_texts(fig)
    assert ["2 Jul", "4 Jul", "5 Jul", "10 Jul"] == [t for t in texts if t[:1].isdigit()][:4]
    same_day = [t for t in texts if "Boss Zhipin" in t]
    assert len(same_day) == 1 and "Full Truck" in same_day[0]  # one label, both events
    assert same_day[0].startswith("• ")
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert ticks and all(t.endswith(" Jul") for t in ticks)


def test_timeline_adds_the_year_when_events_span_years(make):
    two_years = EVENTS.assign(
        date_start=pd.to_datetime(["2020-04-01"] + list(EVENTS["date_start"][1:]))
    )
    texts = all_texts(make("timeline", two_years))
    assert "1 Apr 2020" in texts and "10 Jul 2021" in texts


def random_labels(seed: int, most: int) -> tuple[list[float], list[tuple[float, float]]]:
    """Up to ``most`` stems on a 6.9 in axis with labels 0.6-2.2 in wide (32 characters)."""
    rng = random.Random(seed)
    n = rng.randint(1, most)
    xs = sorted(rng.uniform(0, 6.9) for _ in range(n))
    return xs, [(rng.uniform(0.6, 2.2), rng.uniform(0.2, 1.0)) for _ in range(n)]


def placed_boxes(xs, sizes, spots) -> list[tuple[float, float, float, float, float]]:
    """(stem x, left, right, bottom, top) of each placed label."""
    boxes = []
    for x, (w, h), (bottom, hangs_right) in zip(xs, sizes, spots, strict=True):
        lo, hi = (x, x + w) if hangs_right else (x - w, x)
        boxes.append((x, lo, hi, bottom, bottom + h))
    return boxes


def test_timeline_labels_never_overlap_and_stay_on_the_axis():
    for seed in range(500):
        xs, sizes = random_labels(seed, most=12)
        boxes = placed_boxes(xs, sizes, _stack_labels(xs, sizes, 6.9, slack=0.25))
        for (_x, lo, hi, bottom, top), (_x2, lo2, hi2, bottom2, top2) in combinations(boxes, 2):
            overlap = lo < hi2 and lo2 < hi and bottom < top2 and bottom2 < top
            assert not overlap, f"labels overlap (seed {seed})"
        for _x, lo, hi, bottom, _top in boxes:
            assert -0.25 <= lo and hi <= 6.9 + 0.25 and bottom >= 0.3, f"seed {seed}"


def test_timeline_stems_stay_clear_of_labels():
    # Holds unless a crowd of wide labels cannot be untangled (never seen with six or fewer).
    for seed in range(500):
        xs, sizes = random_labels(seed, most=6)
        boxes = placed_boxes(xs, sizes, _stack_labels(xs, sizes, 6.9, slack=0.25))
        for x, _lo, _hi, _bottom, top in boxes:
            for _x2, lo2, hi2, bottom2, _top2 in boxes:
                if lo2 < x < hi2:
                    assert top < bottom2, f"a stem runs through another label (seed {seed})"


def test_ownership_links_investors_to_companies(make):
    fig = make("ownership")
    ax = fig.axes[0]
    where = {t.get_text(): t.get_position() for t in ax.texts}
    for investor, company in zip(STAKES["investor"], STAKES["company"], strict=True):
        assert where[investor][0] < where[company][0]
    texts = all_texts(fig)
    assert "17.2%" in texts and texts.count("backer") == 2 and texts.count("JV partner") == 2
    arrows = [t.arrow_patch for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    solid = [a for a in arrows if a.get_linestyle() == "-"]
    assert len(arrows) == len(STAKES) and len(solid) == 1  # only Tencent's stake has a size
    key = [t.get_text() for t in fig.legends[0].get_texts()]
    assert key == ["stake size given", "stake size not given"]


def test_ownership_draws_one_arrow_per_pair():
    doubled = pd.concat([STAKES, STAKES.iloc[[0]].assign(stake_pct=pd.array([3.0], "Float64"))])
    fig = stakes_chart(doubled)
    plt.close(fig)
    arrows = [t for t in fig.axes[0].texts if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == len(STAKES)
    assert "17.2% / 3%" in all_texts(fig)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", CHARTS)
def test_empty_input_is_an_error(name):
    with pytest.raises(ValueError, match="no rows to chart"):
        CHARTS[name](INPUTS[name].iloc[0:0])
    with pytest.raises(ValueError, match="no rows to chart"):
        CHARTS[name](pd.DataFrame())


@pytest.mark.parametrize("name", CHARTS)
def test_missing_column_is_named(name):
    df = INPUTS[name]
    with pytest.raises(KeyError, match=repr(df.columns[-1])):
        CHARTS[name](df.drop(columns=df.columns[-1]))


def test_unknown_figure_is_not_drawn_as_zero():
    df = MONEY.assign(value=pd.array([4e9, None, 1e9, 460e6, 400e6], dtype="Float64"))
    with pytest.raises(ValueError, match="TikTok consumer spending"):
        money_chart(df)


def test_unknown_qualifier_is_an_error():
    with pytest.raises(ValueError, match="'almost'"):
        money_chart(MONEY.assign(qualifier=["almost"] * len(MONEY)))


def test_undated_event_is_an_error():
    df = EVENTS.assign(date_start=pd.to_datetime([None, *EVENTS["date_start"][1:]]))
    with pytest.raises(ValueError, match="Cybersecurity review of Didi"):
        events_chart(df)


# --------------------------------------------------------------------------- CJK


CJK_STAKES = STAKES.assign(investor=["腾讯", "软银", "软银", "阿里巴巴", "上汽集团"])


def test_no_cjk_font_warns_once_and_silences_glyph_warnings(monkeypatch):
    monkeypatch.setattr(fonts, "_find_cjk_font", lambda: None)
    monkeypatch.setattr(fonts, "_cjk_warning_issued", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            fig = stakes_chart(CJK_STAKES)
            fig.savefig(io.BytesIO(), format="png")
            plt.close(fig)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert "boxes" in messages[0] and "fonts-wqy-microhei" in messages[0]
    assert caught[0].category is UserWarning


def test_cjk_font_found_is_used_as_fallback(monkeypatch):
    # DejaVu Serif stands in for an installed CJK font: it exists on every matplotlib install.
    monkeypatch.setattr(fonts, "_find_cjk_font", lambda: "DejaVu Serif")
    before = list(mpl.rcParams["font.family"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = stakes_chart(CJK_STAKES)
    plt.close(fig)
    assert not [w for w in caught if "No installed font" in str(w.message)]
    names = [t for t in fig.axes[0].texts if t.get_text() == "腾讯"]
    assert names and "DejaVu Serif" in names[0].get_fontfamily()
    assert list(mpl.rcParams["font.family"]) == before  # only inside the chart


def test_ascii_charts_do_not_look_for_cjk_fonts(monkeypatch, make):
    def fail() -> None:
        raise AssertionError("ensure_cjk_font called for a chart without CJK text")

    monkeypatch.setattr(fonts, "ensure_cjk_font", fail)
    for name in CHARTS:
        make(name)


def test_ensure_cjk_font_adds_the_font_to_font_family(monkeypatch):
    monkeypatch.setattr(fonts, "_find_cjk_font", lambda: "DejaVu Serif")
    with mpl.rc_context({"font.family": ["sans-serif"]}):
        assert charts.ensure_cjk_font() == "DejaVu Serif"
        assert list(mpl.rcParams["font.family"]) == ["sans-serif", "DejaVu Serif"]


def test_cjk_font_detection_finds_a_real_cjk_font_or_none():
    found = fonts._find_cjk_font()
    if found is not None:
        from matplotlib import font_manager

        path = font_manager.findfont(found, fallback_to_default=False)
        font = font_manager.get_font(path)
        assert font.get_char_index(ord("中")) != font.get_char_index(ord("国"))


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize("name", CHARTS)
def test_image_matches_baseline(make, name, tmp_path):
    fig = make(name)
    expected = BASELINES / f"{name}.png"
    save = {"dpi": DPI, "format": "png", "metadata": {"Software": None}}
    if REGEN:
        BASELINES.mkdir(exist_ok=True)
        fig.savefig(expected, **save)
        return
    assert expected.is_file(), (
        f"no baseline {expected}; write it with ROUNDUP_REGEN_BASELINES=1 and look at it"
    )
    actual = tmp_path / f"{name}.png"
    fig.savefig(actual, **save)
    problem = compare_images(str(expected), str(actual), tol=TOL)
    assert problem is None, problem


def test_show_displays_one_png_whose_text_is_the_title(monkeypatch):
    import base64

    import IPython.display

    from analysis import metrics

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    fig = charts.profile_chart(
        metrics.company_profile(Package.open(), "Didi"), sources=Package.open().load("sources")
    )
    charts.show(fig)
    [(obj, raw)] = shown
    assert raw is True
    assert obj["text/plain"] == "Chart: Didi: users against the review threshold"
    png = base64.b64decode(obj["image/png"])
    assert png.startswith(b"\x89PNG") and len(png) > 5000


@pytest.mark.parametrize(
    ("company", "kind"),
    [
        ("Didi", "users against the review threshold"),
        ("Tencent", "who backs whom"),
        ("ByteDance", "app downloads"),
        ("Boss Zhipin", "regulatory actions"),
    ],
)
@pytest.mark.usefixtures("article_data")
def test_profile_chart_picks_what_the_data_holds(company, kind):
    from analysis import metrics

    fig = charts.profile_chart(
        metrics.company_profile(Package.open(), company), sources=Package.open().load("sources")
    )
    assert fig._suptitle.get_text() == f"{company}: {kind}"


@pytest.mark.usefixtures("article_data")
def test_profile_chart_of_a_company_with_nothing_to_chart_says_so():
    from analysis import metrics

    profile = metrics.company_profile(Package.open(), "Boss Zhipin")
    profile["regulatory_events"] = profile["regulatory_events"].iloc[0:0]
    fig = charts.profile_chart(profile, sources=Package.open().load("sources"))
    assert fig._suptitle.get_text() == "Boss Zhipin: no chart"
    assert any("No user base, stake" in t.get_text() for t in fig.texts)


def test_profile_chart_shows_funding_rounds_when_that_is_all_there_is():
    from analysis import metrics

    profile = metrics.company_profile(Package.open(), "Banma")
    for key in ("user_bases", "stakes", "downloads"):
        profile[key] = profile[key].iloc[0:0]
    fig = charts.profile_chart(profile, sources=Package.open().load("sources"))
    assert fig._suptitle.get_text() == "Banma: funding rounds"
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "$460M" in texts


def test_chinese_names_render_with_an_installed_cjk_font():
    """With a CJK font installed (.ci/run installs fonts-wqy-microhei), no glyph goes missing."""
    if fonts._find_cjk_font() is None:
        pytest.skip("no CJK font installed (apt-get install fonts-wqy-microhei)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = stakes_chart(CJK_STAKES)
        png = charts.png_bytes(fig)
    assert png.startswith(b"\x89PNG")
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []
    assert not [w for w in caught if "boxes" in str(w.message)]


@pytest.mark.parametrize(
    ("chart", "kwargs"),
    [
        (charts.qualified_bars, {"label": "a", "value": "b", "qualifier": "c"}),
        (
            charts.threshold_bars,
            {"label": "a", "value": "b", "qualifier": "c", "threshold": 1, "threshold_label": "t"},
        ),
        (charts.timeline, {}),
        (charts.ownership, {}),
    ],
)
def test_empty_table_with_a_message_gives_a_placeholder_chart(chart, kwargs):
    empty = pd.DataFrame(columns=["a", "b", "c"])
    fig = chart(
        empty,
        title="T",
        subtitle="S",
        source_ids=[],
        sources=SOURCES,
        empty_message="Nothing known yet",
        **kwargs,
    )
    texts = [t.get_text() for t in fig.texts]
    assert "Nothing known yet" in texts and any(t.startswith("Source:") for t in texts)
    assert charts.png_bytes(fig).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="no rows to chart"):
        chart(empty, title="T", subtitle="S", source_ids=[], sources=SOURCES, **kwargs)


def test_profile_chart_draws_the_threshold_known_at_the_profiles_as_of(data_copy):
    """A rule published after the profile's as_of must not move its threshold line."""
    from analysis import metrics

    with open(data_copy / "regulatory_events.csv", "a", encoding="utf-8") as fh:
        fh.write(
            "later-rule-2022-01-10,2022-01-10,Cybersecurity Review Office,rule_enacted,,"
            "5000000,exceeding 5 million users,A later rule (test data).,2022-01-10,tc-2021-07,\n"
        )
    pkg = Package(data_copy)
    assert metrics.review_threshold(pkg) == 5_000_000
    profile = metrics.company_profile(pkg, "Didi", as_of="2021-07-31")
    assert profile["review_threshold"] == 1_000_000
    fig = charts.profile_chart(profile, sources=Package.open().load("sources"))
    texts = all_texts(fig)
    assert any("more than 1.0M users" in t for t in texts), texts
    assert not any("5.0M" in t or "5M" in t for t in texts)
    [ax] = fig.axes
    assert [line.get_xdata()[0] for line in ax.lines] == [1_000_000]


def test_profile_chart_without_a_threshold_known_then_draws_no_threshold():
    from analysis import metrics

    profile = metrics.company_profile(Package.open(), "Didi", as_of="2021-07-31")
    profile["review_threshold"] = None
    fig = charts.profile_chart(profile, sources=Package.open().load("sources"))
    assert fig._suptitle.get_text() == "Didi: users"
    assert not any("threshold:" in t.lower() for t in all_texts(fig))
