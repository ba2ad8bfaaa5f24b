"""Chinese characters in charts: find an installed CJK font and fall back to it glyph by glyph.

Without one, a chart warns once per process that Chinese names will show as boxes.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

import matplotlib as mpl
from matplotlib import font_manager

CJK = re.compile("[\u2e80-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")
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
