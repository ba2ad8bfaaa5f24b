"""Who owns or backs whom: investors left, companies right, an arrow for each holding."""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
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
    edges, sized = _edges(rows)
    left, right = _column_order(list(edges))
    names = [n for pair in edges for n in pair]
    note = source_note(source_ids, sources, required=True)
    with _house(title, subtitle, note, *names):
        color = mpl.rcParams["axes.prop_cycle"].by_key()["color"][0]
        frame = _Frame(title, subtitle, note, _line_key(color, len(edges), len(sized)))
        lines = max(_wrap(name, 24).count("\n") + 1 for name in names)
        pitch, header = max(0.55, 0.25 + 0.19 * lines), 0.35
        n = max(len(left), len(right))
        frame.fit(header + n * pitch)
        ax = frame.fig.add_axes(frame.body_rect())
        width, height = frame.width - 2 * _PAD_X, header + n * pitch
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)  # data units are inches
        ax.set_axis_off()
        x_left, x_right = 0.32 * width, 0.68 * width

        def rows_of(column: list[str]) -> dict[str, float]:
            first = (n - len(column)) / 2
            return {
                name: height - header - (first + k + 0.5) * pitch for k, name in enumerate(column)
            }

        y_left, y_right = rows_of(left), rows_of(right)
        _draw_names(ax, y_left, x_left, investors=True)
        _draw_names(ax, y_right, x_right, investors=False)
        heads = {"size": 8.5, "color": _FAINT, "weight": "bold", "va": "top"}
        ax.text(x_left, height, "INVESTOR", ha="right", **heads)
        ax.text(x_right, height, "COMPANY", ha="left", **heads)
        clear = 0.12  # room between a name's box and the arrow (in)
        links = {
            pair: ((x_left + clear, y_left[pair[0]]), (x_right - clear, y_right[pair[1]]))
            for pair in edges
        }
        _draw_links(ax, edges, sized, links, color)
        return frame.done()


def _edges(rows: pd.DataFrame) -> tuple[dict[tuple[str, str], list[str]], set[tuple[str, str]]]:
    """Each (investor, company) pair with the labels of its rows ("17.2%", "backer"), and the
    pairs whose stake size is given."""
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
    return edges, sized


def _line_key(color: str, edges: int, sized: int) -> tuple[list, list[str]] | None:
    """The key explaining dashed lines (stake size not given); None when every line is solid."""
    if sized == edges:
        return None
    solid = Line2D([], [], color=color, linewidth=1.5)
    dashed = Line2D([], [], color=color, linewidth=1.5, linestyle=_DASHED)
    if not sized:
        return [dashed], ["stake size not given"]
    return [solid, dashed], ["stake size given", "stake size not given"]


def _draw_names(ax: Axes, rows: dict[str, float], x: float, *, investors: bool) -> None:
    """Name boxes of one column: investors (bold, blue, right-aligned) or companies."""
    node = {"size": 10, "color": _INK, "va": "center"}
    face = "#dbe9f6" if investors else "#f3f3f3"
    style = {"ha": "right", "weight": "bold"} if investors else {"ha": "left"}
    for name, y in rows.items():
        ax.text(
            x,
            y,
            _wrap(name, 24),
            **style,
            **node,
            bbox={"boxstyle": "round,pad=0.35", "facecolor": face, "edgecolor": "none"},
        )


_Box = tuple[float, float, float, float]


def _label_spot(
    start: tuple[float, float], end: tuple[float, float], w: float, h: float, taken: list[_Box]
) -> tuple[float, float, _Box]:
    """Centre and box of a ``w`` x ``h`` label along the line from ``start`` to ``end``: the
    middle, or the first spot further along or back that overlaps no label ``taken``."""
    for t in (0.5, 0.38, 0.62, 0.28, 0.72):
        cx = start[0] + t * (end[0] - start[0])
        cy = start[1] + t * (end[1] - start[1])
        box = (cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2)
        if not any(
            b[0] < box[1] and box[0] < b[1] and b[2] < box[3] and box[2] < b[3] for b in taken
        ):
            break
    return cx, cy, box


def _draw_links(
    ax: Axes,
    edges: dict[tuple[str, str], list[str]],
    sized: set[tuple[str, str]],
    links: dict[tuple[str, str], tuple[tuple[float, float], tuple[float, float]]],
    color: str,
) -> None:
    """An arrow per pair from ``links[pair]`` start to end (dashed when its size is not given),
    labelled with its texts joined by " / " where no other label is."""
    label_props = {"size": 9, "color": _INK, "ha": "center", "va": "center"}
    taken: list[_Box] = []
    for pair, texts in edges.items():
        start, end = links[pair]
        ax.annotate(
            "",
            xy=end,
            xytext=start,
            arrowprops={
                "arrowstyle": "-|>,head_length=0.5,head_width=0.25",
                "color": color,
                "linewidth": 1.5,
                "linestyle": "-" if pair in sized else _DASHED,
                "shrinkA": 0,
                "shrinkB": 0,
            },
        )
        text = " / ".join(texts)
        w, h = _measure(ax.get_figure(), text, **label_props)
        cx, cy, box = _label_spot(start, end, w + 0.08, h + 0.06, taken)
        taken.append(box)
        ax.text(
            cx,
            cy,
            text,
            **label_props,
            zorder=4,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
        )
