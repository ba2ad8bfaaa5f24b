"""The house style: its matplotlib style file, colours, margins, and text measuring helpers.

Every chart is drawn inside :func:`_house` (``house.mplstyle`` in this folder, loaded by path,
so it works however the package was installed), which also adds a CJK fallback font when
the chart's text needs one. ``plt.style.use(STYLE)`` gives a notebook the same look.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
from matplotlib import style
from matplotlib.artist import Artist
from matplotlib.figure import Figure

from analysis.present.charts import fonts

#: Name of the house style for ``plt.style.use`` / ``plt.style.context``.
STYLE = "analysis.present.charts.house"

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


@contextmanager
def _house(*strings: str) -> Iterator[None]:
    """The house style, with "$" shown as text and a CJK fallback font if ``strings`` need one."""
    with style.context(_STYLE_FILE), mpl.rc_context({"text.parse_math": False}):
        if any(fonts.CJK.search(s) for s in strings):
            fonts.ensure_cjk_font()
        yield
