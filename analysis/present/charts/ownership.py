"""Who owns or backs whom: investors left, companies right, an arrow for each holding."""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.present.charts.frame import (
    _Frame,
    _qualifier,
    _rows,
    placeholder,
)
from analysis.present.charts.style import (
    _DASHED,
    _FAINT,
    _INK,
    _PAD_X,
    _house,
    _measure,
    _wrap,
)
from analysis.present.formatting import (
    format_figure,
    source_note,
)

_RELATION_LABELS = {"joint_venture_partner": "JV partner"}  # others: "_" -> " "


# --------------------------------------------------------------------------- ownership


def _column_order(pairs: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """Investors and companies ordered to keep the lines between them from crossing.

    Companies follow the mean row of their investors, investors the mean row of their
    companies (two rounds of the barycentre heuristic); ties keep first appearance.
    """
    left = list(dict.fromkeys(i for i, _c in pairs))
    right = list(dict.fromkeys(c for _i, c in pairs))

    def by_partners(nodes: list[str], others: list[str], side: int) -> list[str]:
        pos = {name: k for k, name in enumerate(others)}
        mean = {n: np.mean([pos[p[1 - side]] for p in pairs if p[side] == n]) for n in nodes}
        return sorted(nodes, key=lambda n: (mean[n], nodes.index(n)))

    for _round in range(2):
        right = by_partners(right, left, 1)
        left = by_partners(left, right, 0)
    return left, right


def ownership(
    stakes: pd.DataFrame,
    *,
    title: str,
    subtitle: str,
    source_ids: str | Iterable[str],
    sources: pd.DataFrame,
    empty_message: str | None = None,
) -> Figure:
    """Who owns or backs whom: investors in a left column, companies in a right one, an arrow
    from each investor to each company it holds.

    ``stakes`` needs the columns of the ``stakes`` dataset: ``investor``, ``company`` (text),
    ``relation`` (shareholder / backer / joint_venture_partner), ``stake_pct`` (Float64,
    percent 0-100, may be <NA>) and ``qualifier`` (of stake_pct). Each arrow is labelled with
    the stake ("17.2%", "~20%") when ``stake_pct`` is given and drawn solid, else with the
    relation ("backer", "JV partner") and drawn dashed, with a key. Rows are ordered to avoid
    crossing lines; a repeated investor-company pair gets one arrow with both labels.

    Returns the figure (:func:`placeholder` for an empty table with ``empty_message``). Raises
    ``ValueError("no rows to chart: ...")`` for an empty table without one,
    ``KeyError`` for a missing column, ``ValueError`` for a stake with an unknown qualifier,
    and as :func:`source_note` does.
    """
    if len(stakes) == 0 and empty_message:
        return placeholder(title, subtitle, empty_message)
    rows = _rows(stakes, ["investor", "company", "relation", "stake_pct", "qualifier"], "ownership")
    edges: dict[tuple[str, str], list[str]] = {}
    sized: set[tuple[str, str]] = set()
    for r in rows.itertuples(index=False):
        pair = (
            "–" if pd.isna(r.investor) else str(r.investor),
            "–" if pd.isna(r.company) else str(r.company),
        )
        if pd.notna(r.stake_pct):
            q = _qualifier(r.qualifier, " → ".join(pair), "ownership")
            text = format_figure(r.stake_pct, q, "percent", short=True)
            sized.add(pair)
        elif pd.notna(r.relation):
            relation = str(r.relation)
            text = _RELATION_LABELS.get(relation, relation.replace("_", " "))
        else:
            text = "stake"
        edges.setdefault(pair, []).append(text)
    left, right = _column_order(list(edges))
    names = [n for pair in edges for n in pair]
    note = source_note(source_ids, sources, required=True)
    with _house(title, subtitle, note, *names):
        color = mpl.rcParams["axes.prop_cycle"].by_key()["color"][0]
        key = None
        if len(sized) < len(edges):  # dashed lines need explaining
            solid = Line2D([], [], color=color, linewidth=1.5)
            dashed = Line2D([], [], color=color, linewidth=1.5, linestyle=_DASHED)
            key = ([solid, dashed], ["stake size given", "stake size not given"])
            if not sized:
                key = ([dashed], ["stake size not given"])
        frame = _Frame(title, subtitle, note, key)
        fig = frame.fig
        lines = max(_wrap(name, 24).count("\n") + 1 for name in names)
        pitch, header = max(0.55, 0.25 + 0.19 * lines), 0.35
        n = max(len(left), len(right))
        frame.fit(header + n * pitch)
        ax = fig.add_axes(frame.body_rect())
        width, height = frame.width - 2 * _PAD_X, header + n * pitch
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)  # data units are inches
        ax.set_axis_off()
        x_left, x_right = 0.32 * width, 0.68 * width
        node = {"size": 10, "color": _INK, "va": "center"}

        def rows_of(column: list[str]) -> dict[str, float]:
            first = (n - len(column)) / 2
            return {
                name: height - header - (first + k + 0.5) * pitch for k, name in enumerate(column)
            }

        y_left, y_right = rows_of(left), rows_of(right)
        for name, y in y_left.items():
            ax.text(
                x_left,
                y,
                _wrap(name, 24),
                ha="right",
                weight="bold",
                **node,
                bbox={"boxstyle": "round,pad=0.35", "facecolor": "#dbe9f6", "edgecolor": "none"},
            )
        for name, y in y_right.items():
            ax.text(
                x_right,
                y,
                _wrap(name, 24),
                ha="left",
                **node,
                bbox={"boxstyle": "round,pad=0.35", "facecolor": "#f3f3f3", "edgecolor": "none"},
            )
        heads = {"size": 8.5, "color": _FAINT, "weight": "bold", "va": "top"}
        ax.text(x_left, height, "INVESTOR", ha="right", **heads)
        ax.text(x_right, height, "COMPANY", ha="left", **heads)
        clear = 0.12  # room between a name's box and the arrow (in)
        label_props = {"size": 9, "color": _INK, "ha": "center", "va": "center"}
        taken: list[tuple[float, float, float, float]] = []
        for (inv, comp), texts in edges.items():
            start = (x_left + clear, y_left[inv])
            end = (x_right - clear, y_right[comp])
            ax.annotate(
                "",
                xy=end,
                xytext=start,
                arrowprops={
                    "arrowstyle": "-|>,head_length=0.5,head_width=0.25",
                    "color": color,
                    "linewidth": 1.5,
                    "linestyle": "-" if (inv, comp) in sized else _DASHED,
                    "shrinkA": 0,
                    "shrinkB": 0,
                },
            )
            text = " / ".join(texts)
            w, h = _measure(fig, text, **label_props)
            w, h = w + 0.08, h + 0.06
            for t in (0.5, 0.38, 0.62, 0.28, 0.72):
                cx = start[0] + t * (end[0] - start[0])
                cy = start[1] + t * (end[1] - start[1])
                box = (cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2)
                if not any(
                    b[0] < box[1] and box[0] < b[1] and b[2] < box[3] and box[2] < b[3]
                    for b in taken
                ):
                    break
            taken.append(box)
            ax.text(
                cx,
                cy,
                text,
                **label_props,
                zorder=4,
                bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
            )
        return frame.done()
