"""A dated event timeline: one stem and one label per day, labels stacked so none overlap."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.transforms import ScaledTranslation

from analysis.present.charts.frame import (
    _Frame,
    _labels,
    _rows,
    placeholder,
)
from analysis.present.charts.style import (
    _ACCENT,
    _INK,
    _MUTED,
    _PAD_X,
    _RULE,
    _house,
    _measure,
    _wrap,
)
from analysis.present.formatting import (
    format_day,
    source_note,
)

# --------------------------------------------------------------------------- timeline


def _stack_labels(
    xs: Sequence[float],
    sizes: Sequence[tuple[float, float]],
    width: float,
    *,
    base: float = 0.3,
    margin: tuple[float, float] = (0.08, 0.14),
    slack: float = 0.0,
) -> list[tuple[float, bool]]:
    """Where to hang timeline labels so that no label overlaps another label or a stem.

    Label i is ``sizes[i]`` (width, height) inches and hangs beside a stem that rises from the
    axis at ``xs[i]`` (inches from the left, ascending) to the label's top, right of the stem
    where it fits (between ``-slack`` and ``width + slack``), else left. A label that runs
    over another's stem sits above that label, so that stems stop below it: labels are placed
    in that order, each at the lowest height from ``base`` that clears those already placed by
    ``margin`` (x, y inches). Sides are chosen so that no two labels run over each other's
    stems (each would have to sit above the other), preferring labels inside ``0..width``, then
    labels right of their stems, then a lower stack. Returns ``(bottom, hangs_right)`` per label.

    Only in a crowd of wide labels that no choice of sides can untangle does a stem run through
    a label; labels never overlap.
    """
    n = len(xs)
    w = [size[0] for size in sizes]
    h = [size[1] for size in sizes]

    def covers(i: int, j: int, right: Sequence[bool]) -> bool:
        """Does label i run over stem j? Labels run away from their own stem (ties by index)."""
        if right[i]:
            return (xs[i], i) < (xs[j], j) < (xs[i] + w[i] + margin[0], n)
        return (xs[i] - w[i] - margin[0], -1) < (xs[j], j) < (xs[i], i)

    def cost(right: Sequence[bool]) -> tuple[int, bool, int]:
        over = [xs[k] + w[k] - width if right[k] else w[k] - xs[k] for k in range(n)]
        tangled = any(
            covers(i, j, right) and covers(j, i, right) for i in range(n) for j in range(i + 1, n)
        )
        return sum(o > slack for o in over), tangled, sum(o > 0 for o in over)

    def place(right: Sequence[bool]) -> list[float]:
        below = [{j for j in range(n) if j != i and covers(i, j, right)} for i in range(n)]
        spans = [(xs[i], xs[i] + w[i]) if right[i] else (xs[i] - w[i], xs[i]) for i in range(n)]
        spots: dict[int, float] = {}

        def next_label() -> int:
            """A label whose covered labels are all placed; in a tangle, one on a cycle."""
            waiting = [k for k in range(n) if k not in spots]
            ready = [k for k in waiting if below[k] <= spots.keys()]
            if ready:
                return ready[0]
            k, path = waiting[0], []
            while k not in path:
                path.append(k)
                k = min(below[k] - spots.keys())
            cycle = path[path.index(k) :]
            return min(cycle, key=lambda c: (len(below[c] - spots.keys()), c))

        while len(spots) < n:
            i = next_label()
            lo, hi = spans[i]
            tops = {j: spots[j] + h[j] + margin[1] for j in spots}
            floor = max([base] + [tops[j] for j in below[i] if j in spots])
            for bottom in sorted(t for t in {floor, *tops.values()} if t >= floor):
                if not any(
                    spans[j][0] < hi + margin[0]
                    and lo < spans[j][1] + margin[0]
                    and spots[j] < bottom + h[i] + margin[1]
                    and bottom < tops[j]
                    for j in spots
                ):
                    break
            spots[i] = bottom
        return [spots[i] for i in range(n)]

    def stack_top(bottoms: list[float]) -> float:
        return max(b + hb for b, hb in zip(bottoms, h, strict=True))

    # The first labels right of their stems and the rest left, split where it costs least...
    right = min(([k < split for k in range(n)] for split in range(n, -1, -1)), key=cost)
    bottoms = place(right)
    # ...then each left-hung label moved right where that costs nothing and stacks no higher.
    for k in range(n):
        trial = [*right[:k], True, *right[k + 1 :]]
        if right[k] or cost(trial) > cost(right):
            continue
        trial_bottoms = place(trial)
        if stack_top(trial_bottoms) <= stack_top(bottoms):
            right, bottoms = trial, trial_bottoms
    return list(zip(bottoms, right, strict=True))


def timeline(
    events: pd.DataFrame,
    *,
    date: str = "date_start",
    label: str = "label",
    title: str,
    subtitle: str,
    source_ids: str | Iterable[str],
    sources: pd.DataFrame,
    empty_message: str | None = None,
) -> Figure:
    """A dated event timeline: a horizontal time axis with a stem and a label for each day.

    ``events`` needs a ``date`` column (datetime64 or parseable dates, e.g. ``date_start`` of a
    partial date: a month-only date is drawn on the 1st, so filter or relabel those) and a
    ``label`` column (text). Events on the same day share one stem and one label, listed in
    input order; labels carry their date in bold ("2 Jul"; with the year when the events span
    more than one year) and are stacked so that labels never overlap and stems stop below
    them (only a crowd of wide labels too tangled for any arrangement lets a stem cross one).

    Returns the figure (:func:`placeholder` for an empty table with ``empty_message``). Raises
    ``ValueError("no rows to chart: ...")`` for an empty table without one,
    ``KeyError`` for a missing column, ``ValueError`` for an empty date, and as
    :func:`source_note` does.
    """
    if len(events) == 0 and empty_message:
        return placeholder(title, subtitle, empty_message)
    rows = _rows(events, [date, label], "timeline")
    labels = _labels(rows, label)
    groups, with_year = _day_groups(rows, date, labels)
    note = source_note(source_ids, sources, required=True)
    with _house(title, subtitle, note, *labels):
        frame = _Frame(title, subtitle, note)
        inset = 0.3  # room for the first and last tick labels (in)
        width = frame.width - 2 * (_PAD_X + inset)
        first, last = mdates.date2num(min(groups)), mdates.date2num(max(groups))
        span = max(last - first, 6.0)  # days; a single day still gets a readable axis
        days_per_inch = span / (width - 0.5)  # 0.25 in between the outer events and the edges
        start = (first + last - span) / 2 - 0.25 * days_per_inch
        texts = _day_labels(frame.fig, groups, with_year)
        xs = [(mdates.date2num(day) - start) / days_per_inch for day in groups]
        spots = _stack_labels(xs, [t.size for t in texts], width, slack=inset - 0.05)
        stack = max(bottom + t.size[1] for (bottom, _), t in zip(spots, texts, strict=True)) + 0.05
        frame.fit(stack + 0.35)
        ax = frame.fig.add_axes(frame.body_rect(bottom=0.35, inset=inset))
        ax.set_xlim(start, start + width * days_per_inch)
        ax.set_ylim(0, stack)  # one y unit = one inch
        for day, text, spot in zip(groups, texts, spots, strict=True):
            _draw_stem(ax, mdates.date2num(day), text, *spot)
        _date_axis(ax, with_year)
        return frame.done()


def _day_groups(
    rows: pd.DataFrame, date: str, labels: list[str]
) -> tuple[dict[pd.Timestamp, list[str]], bool]:
    """Labels grouped by day (days ascending, input order within a day) and whether the days
    span more than one year. ``ValueError`` naming the events without a date."""
    when = pd.to_datetime(rows[date])
    if when.isna().any():
        which = ", ".join(repr(labels[i]) for i in np.flatnonzero(when.isna().to_numpy()))
        raise ValueError(
            f"timeline(): {date} is empty for {which}; undated events cannot be placed"
        )
    days = when.dt.normalize()
    groups: dict[pd.Timestamp, list[str]] = {}
    for day, text in sorted(zip(days, labels, strict=True), key=lambda p: p[0]):
        groups.setdefault(day, []).append(text)
    return groups, days.min().year != days.max().year


_HEAD_PROPS = {"size": 9.5, "weight": "bold", "color": _INK}
_BODY_PROPS = {"size": 9, "color": _MUTED, "linespacing": 1.35}
_GAP = 0.04  # between a label's date and its text (in)
_OFFSET = 4 / 72  # between a label and its stem (in)


@dataclass(frozen=True)
class _DayLabel:
    """One day's label: its bold date (``head``, ``head_h`` inches tall), its text (``body``,
    a bulleted list when ``listed``) and its ``size`` (width, height) in inches."""

    head: str
    head_h: float
    body: str
    listed: bool
    size: tuple[float, float]


def _day_labels(fig: Figure, groups: dict[pd.Timestamp, list[str]], with_year: bool):
    """The label of each day of ``groups``, measured on ``fig``."""
    out = []
    for day, items in groups.items():
        head = format_day(day, with_year)
        if len(items) == 1:
            body = _wrap(items[0], 32)
        else:  # a bulleted list, left-aligned even when the label hangs left of its stem
            body = "\n".join(
                _wrap(t, 30, initial_indent="• ", subsequent_indent="   ") for t in items
            )
        head_w, head_h = _measure(fig, head, **_HEAD_PROPS)
        body_w, body_h = _measure(fig, body, **_BODY_PROPS)
        size = (max(head_w, body_w) + _OFFSET, head_h + _GAP + body_h)
        out.append(_DayLabel(head, head_h, body, len(items) > 1, size))
    return out


def _draw_stem(ax: Axes, x: float, label: _DayLabel, bottom: float, hangs_right: bool) -> None:
    """A stem from the axis at ``x`` up to the top of ``label``, which sits at ``bottom``."""
    top = bottom + label.size[1]
    ax.vlines(x, 0, top, color=_RULE, linewidth=0.8, zorder=1)
    ax.plot(x, 0, "o", markersize=6, color=_ACCENT, clip_on=False, zorder=3)
    shift = ScaledTranslation(
        _OFFSET if hangs_right else -_OFFSET, 0, ax.get_figure().dpi_scale_trans
    )
    ha = "left" if hangs_right else "right"
    on_stem = {"transform": ax.transData + shift, "ha": ha, "va": "top"}
    ax.text(x, top, label.head, **on_stem, **_HEAD_PROPS)
    ax.text(
        x,
        top - label.head_h - _GAP,
        label.body,
        multialignment="left" if label.listed else ha,
        **on_stem,
        **_BODY_PROPS,
    )


def _date_axis(ax: Axes, with_year: bool) -> None:
    """Only the time axis shows: a grey baseline with dates in words ("2 Jul")."""
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(_MUTED)
    ax.yaxis.set_visible(False)
    ax.grid(False)
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda x, _pos: format_day(mdates.num2date(x), with_year))
    )
