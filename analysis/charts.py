"""Publication charts in the house style: one function per chart kind, each returning a Figure.

Every chart has a bold title, a subtitle that states the unit and a source note at the bottom
left built from the sources dataset (:func:`source_note`). Figures are plain
:class:`matplotlib.figure.Figure` objects built inside the ``analysis.house`` style: pyplot's
figure registry is not touched, so nothing needs closing and no backend is chosen. Save with
``fig.savefig(path)`` (everything sits inside the figure, with or without ``bbox_inches="tight"``);
a Jupyter cell that ends with the figure displays it.

Figures carry their qualifier: ``exact`` is a solid bar, ``approximate`` ("~") a lighter bar,
``at_least`` ("≥") a bar with an arrow for "or more", ``at_most`` ("≤") a hatched bar; a key
under the subtitle explains the marks used.

Chinese names render when a CJK font is installed (:func:`ensure_cjk_font`); without one a
chart warns once per process that they will show as boxes.
"""

from __future__ import annotations

import math
import re
import textwrap
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib import font_manager, style
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import OffsetFrom, Text
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import ScaledTranslation, Transform

from analysis import tables

__all__ = [
    "STYLE",
    "UNITS",
    "ensure_cjk_font",
    "format_figure",
    "ownership",
    "placeholder",
    "png_bytes",
    "profile_chart",
    "qualified_bars",
    "show",
    "source_note",
    "threshold_bars",
    "timeline",
]

#: Name of the house style for ``plt.style.use`` / ``plt.style.context``.
STYLE = "analysis.house"
#: Units :func:`format_figure` knows.
UNITS = ("", "USD", "percent", "users", "downloads")

# The charts load the style by path, so they work however the package was installed.
_STYLE_FILE = Path(__file__).with_name("house.mplstyle")

_INK = "#222222"
_MUTED = "#555555"
_FAINT = "#777777"
_RULE = "#999999"
_ACCENT = "#D55E00"  # Okabe-Ito vermillion: thresholds and event markers

# Title block and margins, in inches.
_PAD_X = 0.12
_PAD_TOP = 0.1
_PAD_BOTTOM = 0.08
_BAR_PITCH = 0.42  # height of one bar row
_BAR_HEIGHT = 0.62  # bar thickness, in rows
_APPROX_ALPHA = 0.45
_ARROW_PT = 13.0  # length of the "or more" arrow after an at_least bar
_DASHED = (0, (4, 2))

_RELATION_LABELS = {"joint_venture_partner": "JV partner"}  # others: "_" -> " "
_QUALIFIER_KEY = {
    "exact": "exact",
    "approximate": "~ approximate",
    "at_least": "≥ at least (or more)",
    "at_most": "≤ at most (or less)",
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_CJK = re.compile(
    "[\u2e80-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]"
)
_CJK_PROBE = "中国科技"
_CJK_FAMILIES = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans SC",
    "Microsoft YaHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "SimHei",
    "Arial Unicode MS",
    "Droid Sans Fallback",
)
_CJK_WARNING = (
    "No installed font covers Chinese characters, so they will render as empty boxes. "
    "Install a CJK font, such as Debian's fonts-wqy-microhei (apt-get install "
    "fonts-wqy-microhei), then delete matplotlib's font cache (~/.cache/matplotlib) so it is found."
)
_GLYPH_WARNING = (
    r"Glyph \d+ \(\\N\{[^}]*(CJK|IDEOGRAPH|FULLWIDTH|HIRAGANA|KATAKANA|HANGUL|BOPOMOFO)"
)
_cjk_warning_issued = False


# --------------------------------------------------------------------------- text helpers


def format_figure(value: float | None, qualifier: str | None = "exact", unit: str = "") -> str:
    """A figure as a chart label: qualifier mark and human units, no unit word.

    ``value`` is in base units (USD, a count, or percent 0-100 for ``unit="percent"``);
    ``qualifier`` one of exact / approximate / at_least / at_most (``None`` means exact);
    ``unit`` one of :data:`UNITS`. Counts use K/M/B/T, never scientific notation:
    ``format_figure(3e9, "at_least")`` -> ``"≥ 3.0B"``, ``(500e6, "approximate", "users")`` ->
    ``"~500M"``, ``(460e6, "exact", "USD")`` -> ``"$460M"``, ``(17.2, "exact", "percent")`` ->
    ``"17.2%"``. An empty value gives ``"–"``. The subtitle names the unit, so "users" and
    "downloads" add no word (:func:`analysis.tables.format_figure` does, for tables).

    Raises ``ValueError`` for an unknown qualifier or unit.
    """
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(map(repr, UNITS))}")
    return tables.format_figure(value, qualifier, unit if unit in ("USD", "percent") else "")


def _tick_label(value: float, unit: str) -> str:
    """Axis tick text: like :func:`format_figure` without a trailing ".0" ("1M", "$10B")."""
    return re.sub(r"\.0(?=[KMBT%]?$)", "", format_figure(value, "exact", unit))


def source_note(source_ids: str | Iterable[str], sources: pd.DataFrame | None = None) -> str:
    """The source line of a chart: ``"Source: Sensor Tower via TechCrunch, Jul 2021"``.

    ``source_ids`` is one id or several (duplicates dropped, order kept); each names a row of
    ``sources`` (default ``datasets.load("sources")``) and reads "producer via publisher" when
    they differ, then the publication date ("Jul 2021"). Several sources are joined with "; "
    after "Sources:". Same text as :func:`analysis.tables.source_note`, so tables and charts agree.

    Raises ``KeyError`` for an id not in ``sources`` and ``ValueError`` if no id is given.
    """
    ids = [source_ids] if isinstance(source_ids, str) else list(source_ids)
    note = tables.source_note(ids, sources)
    if not note:
        raise ValueError("no source ids: every chart must name its source (sources.source_id)")
    return note


def _day_label(day: pd.Timestamp, with_year: bool) -> str:
    """'2 Jul', or '2 Jul 2021' when ``with_year``; independent of the locale."""
    text = f"{day.day} {_MONTHS[day.month - 1]}"
    return f"{text} {day.year}" if with_year else text


def _wrap(text: str, width: int, **kwargs) -> str:
    """``text`` wrapped at ``width`` characters, keeping its own line breaks."""
    return "\n".join(textwrap.fill(part, width, **kwargs) or part for part in text.split("\n"))


def _extent_in(artist: Artist) -> tuple[float, float]:
    """Width and height of a drawn artist, in inches."""
    box = artist.get_window_extent()
    dpi = artist.get_figure().dpi
    return box.width / dpi, box.height / dpi


def _measure(fig: Figure, text: str, **props) -> tuple[float, float]:
    """Width and height in inches that ``text`` takes with ``props`` on ``fig``."""
    probe = fig.text(0, 0, text, **props)
    size = _extent_in(probe)
    probe.remove()
    return size


# --------------------------------------------------------------------------- CJK fonts


@lru_cache(maxsize=1)
def _find_cjk_font() -> str | None:
    """Family name of an installed font with Chinese glyphs (well-known families first), or None.

    A font qualifies when the probe characters map to distinct glyphs: catch-all fonts such as
    matplotlib's own "Last Resort" map a whole Unicode block to one placeholder glyph.
    """
    found = _scan_cjk(font_manager.fontManager.ttflist)
    if found is None:
        # matplotlib caches its font list: fonts installed after the cache was built (e.g.
        # fonts-wqy-microhei added to a machine later) are not in it until they are added
        known = {e.fname for e in font_manager.fontManager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = _scan_cjk(font_manager.fontManager.ttflist)
    return found


def _scan_cjk(ttflist) -> str | None:
    rank = {name: i for i, name in enumerate(_CJK_FAMILIES)}
    entries = sorted(ttflist, key=lambda e: rank.get(e.name, len(rank)))
    for entry in entries:
        try:
            font = font_manager.get_font(entry.fname)
        except (OSError, RuntimeError, ValueError):
            continue
        glyphs = {font.get_char_index(ord(ch)) for ch in _CJK_PROBE}
        if 0 not in glyphs and len(glyphs) == len(_CJK_PROBE):
            return entry.name
    return None


def ensure_cjk_font() -> str | None:
    """Make Chinese characters render: put an installed CJK font in the fallback list.

    Looks (once per process) through matplotlib's font list for a font with Chinese glyphs.
    If one is found its family is appended to ``rcParams["font.family"]``, so matplotlib falls
    back to it glyph by glyph, and its name is returned. Chart functions call this inside the
    house style, so the change ends with the chart; called directly (say at the top of a
    notebook) it changes the session's rcParams.

    If none is found, returns ``None``, emits one ``UserWarning`` per process saying the
    characters will render as boxes and which font to install, and silences matplotlib's own
    "Glyph ... missing from font(s)" warnings for CJK characters, which would otherwise repeat
    for every character at every draw.
    """
    global _cjk_warning_issued
    family = _find_cjk_font()
    if family is None:
        if not _cjk_warning_issued:
            _cjk_warning_issued = True
            warnings.warn(_CJK_WARNING, UserWarning, stacklevel=2)
        warnings.filterwarnings("ignore", message=_GLYPH_WARNING, category=UserWarning)
        return None
    families = list(mpl.rcParams["font.family"])
    if family not in families:
        mpl.rcParams["font.family"] = [*families, family]
    # CJK fonts often ship one weight; matplotlib then logs "Failed to find font weight bold
    # for <font>, now using 400." for each bold label, which is expected and says nothing new
    _quiet_weight_fallback()
    return family


@lru_cache(maxsize=1)
def _quiet_weight_fallback() -> None:
    import logging

    logging.getLogger("matplotlib.font_manager").addFilter(
        lambda record: "Failed to find font weight" not in record.getMessage()
    )


@contextmanager
def _house(*strings: str) -> Iterator[None]:
    """The house style, with "$" shown as text and a CJK fallback font if ``strings`` need one."""
    with style.context(_STYLE_FILE), mpl.rc_context({"text.parse_math": False}):
        if any(_CJK.search(s) for s in strings):
            ensure_cjk_font()
        yield


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
    if pd.isna(q) or q not in tables.QUALIFIER_MARKS:
        allowed = ", ".join(tables.QUALIFIER_MARKS)
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
    present = [q for q in _QUALIFIER_KEY if q in quals]
    return [handles[q] for q in present], [_QUALIFIER_KEY[q] for q in present]


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
    sources: pd.DataFrame | None = None,
    empty_message: str | None = None,
) -> Figure:
    """Horizontal bars of figures with their qualifiers, one row per row of ``df`` (in order).

    ``df`` needs columns ``label`` (text), ``value`` (number >= 0 in base units: USD, a count,
    percent) and ``qualifier`` (exact / approximate / at_least / at_most). Each bar is labelled
    at its end with ``value_format(value, qualifier)``, default :func:`format_figure` with
    ``unit`` ("≥ $2.5B", "~500M"); approximate bars are lighter, at_least bars end in an arrow,
    at_most bars are hatched, and a key explains the marks present. The value axis is not
    drawn: every bar carries its figure. ``subtitle`` should state the unit. ``source_ids``
    feed :func:`source_note` (``sources`` defaults to the sources dataset).

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
    fmt = value_format or (lambda v, q: format_figure(v, q, unit))
    texts = [fmt(v, q) for v, q in zip(values, quals, strict=True)]
    note = source_note(source_ids, sources)
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
    sources: pd.DataFrame | None = None,
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
    texts = [format_figure(v, q, unit) for v, q in zip(values, quals, strict=True)]
    note = source_note(source_ids, sources)
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
    sources: pd.DataFrame | None = None,
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
    when = pd.to_datetime(rows[date])
    if when.isna().any():
        which = ", ".join(repr(labels[i]) for i in np.flatnonzero(when.isna().to_numpy()))
        raise ValueError(
            f"timeline(): {date} is empty for {which}; undated events cannot be placed"
        )
    days = when.dt.normalize()
    with_year = days.min().year != days.max().year
    groups: dict[pd.Timestamp, list[str]] = {}
    for day, text in sorted(zip(days, labels, strict=True), key=lambda p: p[0]):
        groups.setdefault(day, []).append(text)
    note = source_note(source_ids, sources)
    with _house(title, subtitle, note, *labels):
        frame = _Frame(title, subtitle, note)
        fig = frame.fig
        inset = 0.3  # room for the first and last tick labels (in)
        width = frame.width - 2 * (_PAD_X + inset)
        first, last = mdates.date2num(min(groups)), mdates.date2num(max(groups))
        span = max(last - first, 6.0)  # days; a single day still gets a readable axis
        days_per_inch = span / (width - 0.5)  # 0.25 in between the outer events and the edges
        start = (first + last - span) / 2 - 0.25 * days_per_inch
        end = start + width * days_per_inch
        head_props = {"size": 9.5, "weight": "bold", "color": _INK}
        body_props = {"size": 9, "color": _MUTED, "linespacing": 1.35}
        gap, offset = 0.04, 4 / 72  # head-body gap; text offset from its stem (inches)
        heads, bodies, sizes, xs = [], [], [], []
        for day, items in groups.items():
            head = _day_label(day, with_year)
            if len(items) == 1:
                body = _wrap(items[0], 32)
            else:  # a bulleted list, left-aligned even when the label hangs left of its stem
                body = "\n".join(
                    _wrap(t, 30, initial_indent="• ", subsequent_indent="   ") for t in items
                )
            head_w, head_h = _measure(fig, head, **head_props)
            body_w, body_h = _measure(fig, body, **body_props)
            heads.append((head, head_h))
            bodies.append(body)
            sizes.append((max(head_w, body_w) + offset, head_h + gap + body_h))
            xs.append((mdates.date2num(day) - start) / days_per_inch)
        spots = _stack_labels(xs, sizes, width, slack=inset - 0.05)
        stack = (
            max(bottom + h for (bottom, _left), (_w, h) in zip(spots, sizes, strict=True)) + 0.05
        )
        frame.fit(stack + 0.35)
        ax = fig.add_axes(frame.body_rect(bottom=0.35, inset=inset))
        ax.set_xlim(start, end)
        ax.set_ylim(0, stack)  # one y unit = one inch
        for (day, items), (head, head_h), body, (_w, h), (bottom, hangs_right) in zip(
            groups.items(), heads, bodies, sizes, spots, strict=True
        ):
            x = mdates.date2num(day)
            top = bottom + h
            ax.vlines(x, 0, top, color=_RULE, linewidth=0.8, zorder=1)
            ax.plot(x, 0, "o", markersize=6, color=_ACCENT, clip_on=False, zorder=3)
            shift = ScaledTranslation(offset if hangs_right else -offset, 0, fig.dpi_scale_trans)
            ha = "left" if hangs_right else "right"
            on_stem = {"transform": ax.transData + shift, "ha": ha, "va": "top"}
            ax.text(x, top, head, **on_stem, **head_props)
            ax.text(
                x,
                top - head_h - gap,
                body,
                multialignment="left" if len(items) > 1 else ha,
                **on_stem,
                **body_props,
            )
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        ax.spines["bottom"].set_color(_MUTED)
        ax.yaxis.set_visible(False)
        ax.grid(False)
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda x, _pos: _day_label(mdates.num2date(x), with_year))
        )
        return frame.done()


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
    sources: pd.DataFrame | None = None,
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
            text = format_figure(r.stake_pct, q, "percent")
            sized.add(pair)
        elif pd.notna(r.relation):
            relation = str(r.relation)
            text = _RELATION_LABELS.get(relation, relation.replace("_", " "))
        else:
            text = "stake"
        edges.setdefault(pair, []).append(text)
    left, right = _column_order(list(edges))
    names = [n for pair in edges for n in pair]
    note = source_note(source_ids, sources)
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


# --------------------------------------------------------------------------- notebooks


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """The figure rendered as PNG (``dpi`` 100 gives 800 px for the house width of 8 in)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def show(fig: Figure) -> None:
    """Display a chart in a notebook as a PNG image, with its title as the text fallback.

    Displays exactly one output, ``image/png`` plus ``text/plain`` "Chart: <title>", so stored
    notebook outputs hold no volatile ``<Figure size ...>`` repr and reports embed the image.
    Works with any backend; never calls ``matplotlib.use``.
    """
    import base64

    from IPython.display import display

    title = fig._suptitle.get_text() if fig._suptitle is not None else fig.get_label()
    display(
        {
            "image/png": base64.b64encode(png_bytes(fig)).decode("ascii"),
            "text/plain": f"Chart: {title}",
        },
        raw=True,
    )


def profile_chart(profile: dict) -> Figure:
    """The chart that best shows one company of :func:`analysis.metrics.company_profile`.

    In order of preference: its user base against the review threshold (log scale); who backs
    it or whom it backs (ownership); its apps' downloads; its funding rounds; its regulatory
    events on a timeline. When the data holds none of these, a :func:`placeholder` saying so.
    """
    from analysis import metrics

    name = profile["company"]
    users = profile["user_bases"]
    if len(users):
        threshold = metrics.review_threshold() or 1_000_000
        return threshold_bars(
            users.assign(label=users["product"]),
            label="label",
            value="users",
            qualifier="qualifier",
            threshold=threshold,
            threshold_label=f"Review threshold: more than {format_figure(threshold)} users",
            title=f"{name}: users against the review threshold",
            subtitle="Users (log scale)",
            source_ids=list(users["source_id"]) + ["tc-2021-07"],
        )
    stakes = profile["stakes"]
    if len(stakes):
        return ownership(
            stakes,
            title=f"{name}: who backs whom",
            subtitle="Stakes in percent where the source gives them",
            source_ids=stakes["source_id"],
        )
    downloads = metrics.cumulative(profile["downloads"])
    downloads = downloads[downloads["measure"] == "downloads"]
    if len(downloads):
        return qualified_bars(
            downloads,
            label="app",
            value="value",
            qualifier="qualifier",
            title=f"{name}: app downloads",
            subtitle="Cumulative downloads, App Store and Google Play",
            source_ids=downloads["source_id"],
        )
    rounds = profile["funding_rounds"]
    rounds = rounds[rounds["amount_usd"].notna()]
    if len(rounds):
        labels = [
            f"{tables.in_words(t)}, {a}"
            for t, a in zip(
                rounds["round_type"], rounds["announced"].fillna("date unknown"), strict=True
            )
        ]
        return qualified_bars(
            rounds.assign(label=labels),
            label="label",
            value="amount_usd",
            qualifier="qualifier",
            unit="USD",
            title=f"{name}: funding rounds",
            subtitle="Amount raised, US dollars",
            source_ids=rounds["source_id"],
        )
    events = profile["regulatory_events"]
    events = events[events["date_start"] == events["date_end"]]
    if len(events):
        labels = events["description"]
        return timeline(
            events.assign(label=labels),
            title=f"{name}: regulatory actions",
            subtitle="Dated actions of China's regulators",
            source_ids=events["source_id"],
        )
    return placeholder(
        f"{name}: no chart",
        "Nothing in the data to chart for this company",
        "No user base, stake, download, funding or dated regulatory figure",
    )


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
