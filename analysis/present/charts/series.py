"""A dated series of one figure (e.g. TikTok's cumulative downloads): a step line with markers.

Each point carries its qualifier: ``exact`` a filled dot, ``approximate`` ("~") an open dot,
``at_least`` ("≥") a triangle pointing up ("or more"), ``at_most`` ("≤") one pointing down;
every point is labelled with its figure and a key explains the marks used.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib as mpl
import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from analysis.present.charts.bars import _tick_label
from analysis.present.charts.frame import _Frame, _numbers, _qualifiers, _rows, placeholder
from analysis.present.charts.style import _INK, _MUTED, _house
from analysis.present.formatting import QUALIFIER_KEY, format_date, format_figure, source_note

#: Marker of each qualifier: (matplotlib marker, filled).
MARKERS = {
    "exact": ("o", True),
    "approximate": ("o", False),
    "at_least": ("^", True),
    "at_most": ("v", True),
}


def _series_key(quals: Sequence[str], color: str) -> tuple[list, list[str]] | None:
    """Legend handles and labels for the qualifiers present; None if all are exact."""
    if set(quals) <= {"exact"}:
        return None
    present = [q for q in QUALIFIER_KEY if q in quals]
    handles = [
        Line2D(
            [],
            [],
            linestyle="none",
            marker=MARKERS[q][0],
            markersize=7,
            color=color,
            markerfacecolor=color if MARKERS[q][1] else "white",
        )
        for q in present
    ]
    return handles, [QUALIFIER_KEY[q] for q in present]


def _label_lifts(dates: Sequence[pd.Timestamp], near: float = 0.1) -> list[int]:
    """Points to raise each point's label by, so labels of points close in time stack up.

    A point within ``near`` of the time span of the previous one has its label a line above
    that one's (two lines of 8.5 pt text); a point farther away starts again at 0.
    """
    lifts = [0] * len(dates)
    span = (dates[-1] - dates[0]) if len(dates) > 1 else pd.Timedelta(0)
    for i in range(1, len(dates)):
        if span and dates[i] - dates[i - 1] < span * near:
            lifts[i] = lifts[i - 1] + 24
    return lifts


def series_chart(
    df: pd.DataFrame,
    *,
    title: str,
    subtitle: str,
    unit: str = "",
    date: str = "as_of_end",
    value: str = "value",
    qualifier: str = "qualifier",
    label: str = "as_of",
    source_ids: str | Iterable[str] | None = None,
    sources: pd.DataFrame,
    empty_message: str | None = None,
) -> Figure:
    """A step line through a dated series, one marker per point, each labelled with its figure.

    ``df``: the series, oldest first (:func:`analysis.history.series` gives it): ``date``
    (datetime64), ``value`` (number >= 0 in base units: downloads, USD, users), ``qualifier``
    and ``label`` (a partial ISO date, shown under the figure: "Apr 2020"). The line holds
    each figure until the next (a cumulative count known to be at least that). ``source_ids``
    default to ``df["source_id"]``. Returns the figure; raises ``ValueError("no rows to
    chart: ...")`` for an empty ``df`` (with ``empty_message``, returns :func:`placeholder`),
    ``KeyError`` for a missing column, ``ValueError`` for a bad value or qualifier.
    """
    if len(df) == 0 and empty_message:
        return placeholder(title, subtitle, empty_message)
    rows = _rows(df, [date, value, qualifier, label], "series_chart")
    names = [format_date(t) for t in rows[label]]
    values = _numbers(rows, value, names, "series_chart")
    quals = _qualifiers(rows, qualifier, names, "series_chart")
    dates = pd.to_datetime(rows[date]).tolist()
    texts = [format_figure(v, q, unit, short=True) for v, q in zip(values, quals, strict=True)]
    ids = rows["source_id"] if source_ids is None else source_ids
    note = source_note(ids, sources, required=True)
    with _house(title, subtitle, note, *texts, *names):
        color = mpl.rcParams["axes.prop_cycle"].by_key()["color"][0]
        frame = _Frame(title, subtitle, note, _series_key(quals, color))
        frame.fit(3.0)
        ax = frame.fig.add_subplot()
        ax.step(dates, values, where="post", color=color, linewidth=1.8, zorder=2)
        lifts = _label_lifts(dates)
        for i, (d, v, q, text) in enumerate(zip(dates, values, quals, texts, strict=True)):
            marker, filled = MARKERS[q]
            ax.plot(
                [d],
                [v],
                marker=marker,
                markersize=8,
                color=color,
                markerfacecolor=color if filled else "white",
                markeredgewidth=1.5,
                zorder=3,
            )
            ax.annotate(
                f"{text}\n{names[i]}",
                xy=(d, v),
                xytext=(0, 8 + lifts[i]),
                textcoords="offset points",
                ha="right" if i == len(dates) - 1 and len(dates) > 1 else "center",
                va="bottom",
                size=8.5,
                color=_INK,
                linespacing=1.1,
            )
        top = float(values.max()) or 1.0
        ax.set_ylim(0, top * 1.3)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _pos: _tick_label(y, unit)))
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=7))
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        ax.tick_params(labelsize=9, labelcolor=_MUTED)
        ax.grid(axis="x", visible=False)
        if len(dates) > 1:
            span = dates[-1] - dates[0]
            ax.set_xlim(dates[0] - span * 0.08, dates[-1] + span * 0.04)
        frame.constrain()
        return frame.done()
