"""Horizontal bar charts of qualified figures: plain (:func:`qualified_bars`) and against a
threshold on a log scale (:func:`threshold_bars`).

A bar carries its qualifier: ``exact`` solid, ``approximate`` ("~") lighter, ``at_least``
("≥") ending in an arrow for "or more", ``at_most`` ("≤") hatched; a key explains the marks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import OffsetFrom
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from analysis.present.charts.frame import (
    _Frame,
    _labels,
    _numbers,
    _qualifiers,
    _rows,
    placeholder,
)
from analysis.present.charts.style import (
    _ACCENT,
    _APPROX_ALPHA,
    _ARROW_PT,
    _BAR_HEIGHT,
    _BAR_PITCH,
    _DASHED,
    _INK,
    _MUTED,
    _house,
    _wrap,
)
from analysis.present.formatting import (
    QUALIFIER_KEY,
    format_figure,
    source_note,
)


def _tick_label(value: float, unit: str) -> str:
    """Axis tick text: like :func:`format_figure` without a trailing ".0" ("1M", "$10B")."""
    return re.sub(r"\.0(?=[KMBT%]?$)", "", format_figure(value, "exact", unit, short=True))


# --------------------------------------------------------------------------- bars


def _qualifier_key(quals: Sequence[str], color: str) -> tuple[list, list[str]] | None:
    """Legend handles and labels for the qualifiers in ``quals``; None if all are exact."""
    if set(quals) <= {"exact"}:
        return None
    handles = {
        "exact": Patch(facecolor=color),
        "approximate": Patch(facecolor=color, alpha=_APPROX_ALPHA, linewidth=0),
        "at_least": (
            Patch(facecolor=color),
            Line2D([], [], color=color, marker=">", markersize=6, linestyle="none"),
        ),
        "at_most": Patch(facecolor="white", edgecolor=color, hatch="////"),
    }
    present = [q for q in QUALIFIER_KEY if q in quals]
    return [handles[q] for q in present], [QUALIFIER_KEY[q] for q in present]


def _draw_bars(
    ax: Axes,
    values: np.ndarray,
    quals: Sequence[str],
    texts: Sequence[str],
    color: str,
    base: float,
) -> None:
    """Horizontal bars from ``base``, one per row (row i at y=i), styled by qualifier, each
    labelled at its end with ``texts[i]``."""
    for i, (v, q, text) in enumerate(zip(values, quals, texts, strict=True)):
        bar = {"height": _BAR_HEIGHT, "left": base, "linewidth": 0}
        if q == "approximate":
            ax.barh(i, v - base, color=color, alpha=_APPROX_ALPHA, **bar)
        elif q == "at_most":
            bar["linewidth"] = 0.9
            ax.barh(i, v - base, facecolor="white", edgecolor=color, hatch="////", **bar)
        else:
            ax.barh(i, v - base, color=color, **bar)
        offset = 4.0
        if q == "at_least":
            ax.annotate(
                "",
                xy=(_ARROW_PT, 0),
                xycoords=OffsetFrom(ax.transData, (v, i)),
                xytext=(v, i),
                textcoords="data",
                arrowprops={
                    "arrowstyle": "-|>,head_length=0.45,head_width=0.25",
                    "color": color,
                    "linewidth": 1.6,
                    "shrinkA": 0,
                    "shrinkB": 0,
                },
                annotation_clip=False,
            )
            offset += _ARROW_PT
        ax.annotate(
            text,
            xy=(v, i),
            xytext=(offset, 0),
            textcoords="offset points",
            ha="left",
            va="center",
            size=9.5,
            color=_INK,
            annotation_clip=False,
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"},
            zorder=4,
        )


def _bar_axes(frame: _Frame, labels: Sequence[str], *, tick_room: float) -> Axes:
    """Axes with one row per label (first label on top), sized to the rows."""
    names = [_wrap(s, 30) for s in labels]
    lines = max(name.count("\n") + 1 for name in names)
    frame.fit(len(labels) * max(_BAR_PITCH, 0.1 + 0.17 * lines) + tick_room)
    ax = frame.fig.add_subplot()
    ax.set_yticks(range(len(labels)), names)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.tick_params(axis="y", length=0, labelsize=10, labelcolor=_INK)
    ax.spines["left"].set_color(_MUTED)
    return ax


def qualified_bars(
    df: pd.DataFrame,
    *,
    label: str,
    value: str,
    qualifier: str,
    title: str,
    subtitle: str,
    source_ids: str | Iterable[str],
    unit: str = "",
    value_format: Callable[[float, str], str] | None = None,
    sources: pd.DataFrame,
    empty_message: str | None = None,
) -> Figure:
    """Horizontal bars of figures with their qualifiers, one row per row of ``df`` (in order).

    ``df`` needs columns ``label`` (text), ``value`` (number >= 0 in base units: USD, a count,
    percent) and ``qualifier`` (exact / approximate / at_least / at_most). Each bar is labelled
    at its end with ``value_format(value, qualifier)``, default :func:`format_figure` with
    ``unit`` ("≥ $2.5B", "~500M"); approximate bars are lighter, at_least bars end in an arrow,
    at_most bars are hatched, and a key explains the marks present. The value axis is not
    drawn: every bar carries its figure. ``subtitle`` should state the unit. ``source_ids``
    feed :func:`source_note` (``sources``: the sources dataset).

    Returns the figure. Raises ``ValueError("no rows to chart: ...")`` for an empty ``df`` (with
    ``empty_message``, returns :func:`placeholder` instead),
    ``KeyError`` for a missing column, ``ValueError`` for an empty or negative value or an
    unknown qualifier, and as :func:`source_note` does.
    """
    if len(df) == 0 and empty_message:
        return placeholder(title, subtitle, empty_message)
    rows = _rows(df, [label, value, qualifier], "qualified_bars")
    labels = _labels(rows, label)
    values = _numbers(rows, value, labels, "qualified_bars")
    quals = _qualifiers(rows, qualifier, labels, "qualified_bars")
    fmt = value_format or (lambda v, q: format_figure(v, q, unit, short=True))
    texts = [fmt(v, q) for v, q in zip(values, quals, strict=True)]
    note = source_note(source_ids, sources, required=True)
    with _house(title, subtitle, note, *labels, *texts):
        color = mpl.rcParams["axes.prop_cycle"].by_key()["color"][0]
        frame = _Frame(title, subtitle, note, _qualifier_key(quals, color))
        ax = _bar_axes(frame, labels, tick_room=0.1)
        _draw_bars(ax, values, quals, texts, color, base=0.0)
        ax.set_xlim(0, values.max() or 1.0)
        ax.xaxis.set_visible(False)
        ax.spines["bottom"].set_visible(False)
        ax.grid(False)
        frame.constrain()
        return frame.done()


def threshold_bars(
    df: pd.DataFrame,
    *,
    label: str,
    value: str,
    qualifier: str,
    threshold: float,
    title: str,
    subtitle: str,
    source_ids: str | Iterable[str],
    threshold_label: str,
    unit: str = "",
    sources: pd.DataFrame,
    empty_message: str | None = None,
) -> Figure:
    """Log-scale horizontal bars against a threshold (a dashed vertical line with its label).

    ``df`` needs columns ``label`` (text), ``value`` (number > 0 in base units, e.g. users) and
    ``qualifier`` (exact / approximate / at_least / at_most); rows are drawn in order, first on
    top, marked and labelled as in :func:`qualified_bars` (labels via :func:`format_figure`
    with ``unit``). ``threshold`` (> 0, same unit) is drawn as a vertical line titled
    ``threshold_label`` (e.g. "Review threshold: more than 1M users"). The axis spans whole
    decades below the smallest and above the largest figure; bars start at its left edge.

    Returns the figure. Raises ``ValueError("no rows to chart: ...")`` for an empty ``df`` (with
    ``empty_message``, returns :func:`placeholder` instead),
    ``KeyError`` for a missing column, ``ValueError`` for an empty or non-positive value or
    threshold or an unknown qualifier, and as :func:`source_note` does.
    """
    if len(df) == 0 and empty_message:
        return placeholder(title, subtitle, empty_message)
    rows = _rows(df, [label, value, qualifier], "threshold_bars")
    labels = _labels(rows, label)
    values = _numbers(rows, value, labels, "threshold_bars")
    if (values <= 0).any() or not threshold > 0:
        raise ValueError("threshold_bars(): values and threshold must be > 0 on a log scale")
    quals = _qualifiers(rows, qualifier, labels, "threshold_bars")
    texts = [format_figure(v, q, unit, short=True) for v, q in zip(values, quals, strict=True)]
    note = source_note(source_ids, sources, required=True)
    with _house(title, subtitle, note, threshold_label, *labels, *texts):
        color = mpl.rcParams["axes.prop_cycle"].by_key()["color"][0]
        frame = _Frame(title, subtitle, note, _qualifier_key(quals, color))
        ax = _bar_axes(frame, labels, tick_room=0.6)
        low = 10 ** (math.floor(math.log10(min(values.min(), threshold))) - 1)
        high = 10 ** (math.floor(math.log10(max(values.max(), threshold))) + 1)
        ax.set_xscale("log")
        ax.set_xlim(low, high)
        _draw_bars(ax, values, quals, texts, color, base=low)
        ax.xaxis.set_major_locator(LogLocator(base=10))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: _tick_label(x, unit)))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(axis="x", which="major")
        ax.grid(axis="y", visible=False)
        ax.axvline(threshold, color=_ACCENT, linewidth=1.5, linestyle=_DASHED, zorder=3)
        right_half = math.log(threshold / low) > 0.6 * math.log(high / low)
        ax.annotate(
            _wrap(threshold_label, 40),
            xy=(threshold, 1),
            xycoords=("data", "axes fraction"),
            xytext=(-5 if right_half else 5, 4),
            textcoords="offset points",
            ha="right" if right_half else "left",
            va="bottom",
            size=9.5,
            weight="bold",
            color=_ACCENT,
        )
        frame.constrain()
        return frame.done()
