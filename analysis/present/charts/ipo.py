"""IPO sizes side by side: money raised per listing, planned (the range's top) beside priced.

One group per company, two bars: ``planned`` (the size announced before pricing) hatched and
lighter, ``listed`` (what the IPO raised) solid; each bar carries its figure and qualifier mark.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analysis.present.charts.frame import _Frame, _numbers, _qualifiers, _rows, placeholder
from analysis.present.charts.style import _APPROX_ALPHA, _INK, _MUTED, _house
from analysis.present.formatting import format_figure, source_note

#: Statuses drawn, in order within a group, and their key labels.
STATUSES = {"planned": "Planned (before pricing)", "listed": "Raised (priced)"}


def ipo_sizes(
    df: pd.DataFrame,
    *,
    title: str,
    subtitle: str,
    company: str = "company",
    status: str = "status",
    value: str = "value",
    qualifier: str = "qualifier",
    source_ids: str | Iterable[str] | None = None,
    sources: pd.DataFrame,
    empty_message: str | None = None,
) -> Figure:
    """Vertical bars of the amount raised per listing, planned beside priced, one group per company.

    ``df``: one row per company and status (:func:`analysis.history.ipo_sizes` gives it) with
    ``company`` (text), ``status`` ("planned" or "listed"; other rows are left out), ``value``
    (USD >= 0) and ``qualifier``. Companies keep their first-appearance order. Labels read
    "≤ $1.6B" etc. ``source_ids`` default to ``df["source_id"]``. Returns the figure; raises
    ``ValueError("no rows to chart: ...")`` for no planned or listed rows (with
    ``empty_message``, returns :func:`placeholder`), ``KeyError`` for a missing column,
    ``ValueError`` for a bad value or qualifier.
    """
    if status in df.columns:
        df = df[df[status].isin(list(STATUSES))]
    if len(df) == 0 and empty_message:
        return placeholder(title, subtitle, empty_message)
    rows = _rows(df, [company, status, value, qualifier], "ipo_sizes")
    names = [f"{c} ({s})" for c, s in zip(rows[company], rows[status], strict=True)]
    values = _numbers(rows, value, names, "ipo_sizes")
    quals = _qualifiers(rows, qualifier, names, "ipo_sizes")
    groups = list(dict.fromkeys(rows[company]))
    ids = rows["source_id"] if source_ids is None else source_ids
    note = source_note(ids, sources, required=True)
    texts = [format_figure(v, q, "USD", short=True) for v, q in zip(values, quals, strict=True)]
    with _house(title, subtitle, note, *groups, *texts):
        color = mpl.rcParams["axes.prop_cycle"].by_key()["color"][0]
        key = (
            [
                Patch(facecolor="white", edgecolor=color, hatch="////"),
                Patch(facecolor=color),
            ],
            list(STATUSES.values()),
        )
        frame = _Frame(title, subtitle, note, key)
        frame.fit(3.0)
        ax = frame.fig.add_subplot()
        width = 0.38
        for i, (c, s, v, text) in enumerate(
            zip(rows[company], rows[status], values, texts, strict=True)
        ):
            x = groups.index(c) + (-width / 2 if s == "planned" else width / 2)
            style = (
                {"facecolor": "white", "edgecolor": color, "hatch": "////", "linewidth": 0.9}
                if s == "planned"
                else {"color": color, "alpha": _APPROX_ALPHA if quals[i] == "approximate" else 1}
            )
            ax.bar(x, v, width=width * 0.92, **style)
            ax.annotate(
                text,
                xy=(x, v),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                size=9,
                color=_INK,
            )
        ax.set_xticks(np.arange(len(groups)), groups)
        ax.tick_params(axis="x", length=0, labelsize=10, labelcolor=_INK)
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_ylim(0, float(values.max() or 1.0) * 1.18)
        ax.yaxis.set_visible(False)
        ax.spines["left"].set_visible(False)
        ax.spines["bottom"].set_color(_MUTED)
        ax.grid(False)
        frame.constrain()
        return frame.done()
