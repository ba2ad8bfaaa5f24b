"""The frame every chart shares: title block, key and source note, placed in inches; input checks.

:class:`_Frame` grows the figure to fit its body without moving the title or the note;
:func:`placeholder` is the chart-sized figure that says why there is no chart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.legend_handler import HandlerTuple
from matplotlib.text import Text
from matplotlib.transforms import ScaledTranslation, Transform

from analysis.present.charts.style import (
    _FAINT,
    _INK,
    _MUTED,
    _PAD_BOTTOM,
    _PAD_TOP,
    _PAD_X,
    _extent_in,
    _house,
    _wrap,
)
from analysis.present.formatting import (
    QUALIFIER_MARKS,
)

# --------------------------------------------------------------------------- input checks


def _rows(df: pd.DataFrame, columns: Sequence[str], chart: str) -> pd.DataFrame:
    """``df`` with a fresh 0..n-1 index, after checking it has rows and ``columns``."""
    if len(df) == 0:
        raise ValueError(f"no rows to chart: {chart}() got an empty table; check the filter")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        has = ", ".join(map(str, df.columns))
        raise KeyError(
            f"{chart}(): column(s) {', '.join(map(repr, missing))} not in the table (has: {has})"
        )
    return df.reset_index(drop=True)


def _labels(df: pd.DataFrame, column: str) -> list[str]:
    return ["–" if pd.isna(v) else str(v) for v in df[column]]


def _numbers(df: pd.DataFrame, column: str, labels: list[str], chart: str) -> np.ndarray:
    """``df[column]`` as float64; ``ValueError`` naming the rows where it is empty or negative."""
    empty = df[column].isna().to_numpy()
    if empty.any():
        which = ", ".join(repr(labels[i]) for i in np.flatnonzero(empty))
        raise ValueError(
            f"{chart}(): {column} is empty for {which}; an unknown figure cannot be drawn "
            "(drop those rows, or say so in the text)"
        )
    values = df[column].astype("float64").to_numpy()
    if (values < 0).any():
        which = ", ".join(repr(labels[i]) for i in np.flatnonzero(values < 0))
        raise ValueError(f"{chart}(): {column} is negative for {which}; bars show magnitudes")
    return values


def _qualifier(q: object, name: str, chart: str) -> str:
    """``q`` checked to be one of exact / approximate / at_least / at_most (else ``ValueError``)."""
    if pd.isna(q) or q not in QUALIFIER_MARKS:
        allowed = ", ".join(QUALIFIER_MARKS)
        raise ValueError(f"{chart}(): qualifier {q!r} for {name!r} is not one of {allowed}")
    return str(q)


def _qualifiers(df: pd.DataFrame, column: str, labels: list[str], chart: str) -> list[str]:
    """``df[column]`` as a list of checked qualifiers, one per row."""
    return [_qualifier(q, name, chart) for name, q in zip(labels, df[column], strict=True)]


# --------------------------------------------------------------------------- figure frame


class _Frame:
    """A figure with the title block at the top and the source note at the bottom.

    Everything is placed in inches from the figure's edges, so the figure can grow to fit its
    body (:meth:`fit`) without moving them. ``top`` and ``bottom`` are the inches they use.
    """

    def __init__(
        self,
        title: str,
        subtitle: str,
        note: str,
        key: tuple[list, list[str]] | None = None,
    ):
        self.fig = fig = Figure()
        self.width = fig.get_figwidth()
        text_width = self.width - 2 * _PAD_X
        y = _PAD_TOP
        title_text = fig.suptitle(
            title,
            x=0,
            y=1,
            ha="left",
            va="top",
            color=_INK,
            transform=self._from_top(y),
            in_layout=False,
        )
        y += self._fit_width(title_text, text_width) + 0.05
        sub = fig.text(0, 1, subtitle, ha="left", va="top", size=11, color=_MUTED)
        sub.set_transform(self._from_top(y))
        y += self._fit_width(sub, text_width)
        if key is not None:
            y += 0.14
            legend = self._key(*key, y, ncols=len(key[1]))
            if _extent_in(legend)[0] > text_width:
                legend.remove()
                legend = self._key(*key, y, ncols=math.ceil(len(key[1]) / 2))
            y += _extent_in(legend)[1]
        self.top = y + 0.2
        source = fig.text(0, 0, note, ha="left", va="bottom", size=8.5, color=_FAINT)
        source.set_transform(
            fig.transFigure + ScaledTranslation(_PAD_X, _PAD_BOTTOM, fig.dpi_scale_trans)
        )
        self.bottom = _PAD_BOTTOM + self._fit_width(source, text_width) + 0.18

    def _key(self, handles: list, labels: list[str], y: float, ncols: int) -> Legend:
        """The key: a frameless legend ``y`` inches below the top, aligned with the title."""
        legend = self.fig.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(0, 1),
            bbox_transform=self._from_top(y),
            ncols=ncols,
            borderpad=0,
            borderaxespad=0,
            handletextpad=0.5,
            columnspacing=1.6,
            handler_map={tuple: HandlerTuple(ndivide=None, pad=0)},
        )
        legend.set_in_layout(False)
        return legend

    def _from_top(self, inches: float) -> Transform:
        """Transform placing (0, 1) at ``_PAD_X`` in and ``inches`` down from the top-left."""
        return self.fig.transFigure + ScaledTranslation(_PAD_X, -inches, self.fig.dpi_scale_trans)

    @staticmethod
    def _fit_width(text: Text, width: float) -> float:
        """Wrap ``text`` until it is at most ``width`` inches wide; return its height in inches."""
        raw = text.get_text()
        chars = len(raw)
        while _extent_in(text)[0] > width and chars > 12:
            chars = int(chars * 0.9)
            text.set_text(_wrap(raw, chars))
        return _extent_in(text)[1]

    def fit(self, body: float) -> None:
        """Set the figure height to hold a body ``body`` inches tall between title and note."""
        self.fig.set_size_inches(self.width, self.top + body + self.bottom)

    def body_rect(
        self, *, bottom: float = 0.0, inset: float = 0.0
    ) -> tuple[float, float, float, float]:
        """(left, bottom, width, height) of the body in figure fractions, leaving ``bottom``
        inches free under it (for tick labels) and ``inset`` inches on each side."""
        w, h = self.fig.get_size_inches()
        x0, y0 = (_PAD_X + inset) / w, (self.bottom + bottom) / h
        return x0, y0, 1 - 2 * x0, 1 - self.top / h - y0

    def constrain(self) -> None:
        """Lay the axes out (tick labels included) inside the body with constrained layout."""
        self.fig.set_layout_engine("constrained", rect=self.body_rect(), w_pad=0, h_pad=0)

    def done(self) -> Figure:
        """Lay out and draw once inside the style (ticks take the style's look), return the figure."""
        self.fig.draw_without_rendering()
        return self.fig


def placeholder(title: str, subtitle: str, message: str) -> Figure:
    """A chart-sized figure saying why there is no chart (e.g. "No figures known by 4 Jul 2021").

    Chart functions return it instead of raising when given an empty table and an
    ``empty_message``, so a report says what is missing rather than dropping the chart.
    """
    note = "Source: none — nothing in the data to chart"
    with _house(title, subtitle, message):
        frame = _Frame(title, subtitle, note)
        frame.fit(1.2)
        frame.fig.text(
            0.5,
            (frame.bottom + 0.6) / frame.fig.get_figheight(),
            message,
            ha="center",
            va="center",
            size=12,
            color=_MUTED,
            style="italic",
        )
        return frame.done()
