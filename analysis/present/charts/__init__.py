"""Publication charts in the house style: one module per chart kind, each returning a Figure.

Every chart has a bold title, a subtitle that states the unit and a source note at the bottom
left built from the ``sources`` dataset the caller passes (charts never load data). Figures are
plain :class:`matplotlib.figure.Figure` objects built inside the house style: pyplot's figure
registry is not touched, so nothing needs closing and no backend is chosen. Save with
``fig.savefig(path)``; a Jupyter cell that ends with the figure displays it.

Figures carry their qualifier: ``exact`` is a solid bar, ``approximate`` ("~") a lighter bar,
``at_least`` ("≥") a bar with an arrow for "or more", ``at_most`` ("≤") a hatched bar; a key
under the subtitle explains the marks used.

Modules:
  ``style``      house style (``house.mplstyle``), colours, margins, text measuring
  ``fonts``      a CJK fallback font for Chinese names (:func:`ensure_cjk_font`)
  ``frame``      title block, key and source note; input checks; :func:`placeholder`
  ``bars``       :func:`qualified_bars`, :func:`threshold_bars`
  ``timeline``   :func:`timeline`
  ``ownership``  :func:`ownership`
  ``profile``    :func:`profile_chart`, the chart of one company profile
  ``output``     :func:`show` (one PNG output in a notebook), :func:`png_bytes`
"""

from __future__ import annotations

from analysis.present.charts.bars import qualified_bars, threshold_bars
from analysis.present.charts.fonts import ensure_cjk_font
from analysis.present.charts.frame import placeholder
from analysis.present.charts.output import png_bytes, show
from analysis.present.charts.ownership import ownership
from analysis.present.charts.profile import profile_chart
from analysis.present.charts.style import STYLE
from analysis.present.charts.timeline import timeline

__all__ = [
    "STYLE",
    "ensure_cjk_font",
    "ownership",
    "placeholder",
    "png_bytes",
    "profile_chart",
    "qualified_bars",
    "show",
    "threshold_bars",
    "timeline",
]
