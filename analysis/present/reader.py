"""The reader table: a DataFrame shown to readers as HTML in notebooks and reports, text elsewhere.

:class:`ReaderTable` renders as a pandas Styler with a fixed id (stored outputs do not change
between runs) and as plain text elsewhere (its ``repr`` is the table itself, never an object
address); :func:`reader_table` turns a dataset slice into one, figures and dates in words and
the source line under it. The tables themselves live in :mod:`analysis.present.tables`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping

import pandas as pd

from analysis.present.formatting import format_date, format_figure, source_note

__all__ = ["ReaderTable", "reader_table"]


class ReaderTable:
    """A formatted table: HTML (pandas Styler, fixed id, no index) in notebooks, text elsewhere.

    ``frame`` holds the display strings; ``caption`` is the title; ``note`` the source line.
    """

    def __init__(
        self, frame: pd.DataFrame, caption: str = "", note: str = "", table_id: str = "table"
    ):
        self.frame = frame
        self.caption = caption
        self.note = note
        self.table_id = re.sub(r"[^A-Za-z0-9_-]+", "-", table_id)

    def to_html(self) -> str:
        """HTML of the table: caption, body and source note; all text escaped."""
        if self.frame.empty:
            what = html.escape(self.caption or "Table")
            return f'<p class="reader-table-empty"><em>{what}: none in the data.</em></p>'
        styler = (
            self.frame.style.hide(axis="index")
            .set_uuid(self.table_id)
            .set_caption(html.escape(self.caption))
            .format(escape="html")
            .set_table_attributes('class="reader-table"')
            .set_table_styles(
                [
                    {"selector": "th, td", "props": "text-align: left; padding: 4px 10px;"},
                    {"selector": "caption", "props": "text-align: left; font-weight: bold;"},
                ]
            )
        )
        body = styler.to_html()
        note = (
            f'<p class="source-note"><small>{html.escape(self.note)}</small></p>'
            if self.note
            else ""
        )
        return f'<div class="reader-table-wrap">{body}{note}</div>'

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        lines = [self.caption] if self.caption else []
        if self.frame.empty:
            lines = [f"{self.caption or 'Table'}: none in the data."]
        else:
            lines.append(self.frame.to_string(index=False))
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)

    def __len__(self) -> int:
        return len(self.frame)


def reader_table(
    df: pd.DataFrame,
    columns: Mapping[str, str],
    *,
    sources: pd.DataFrame,
    figures: Mapping[str, tuple[str | None, str]] | None = None,
    dates: Iterable[str] = (),
    caption: str = "",
    source_ids: Iterable[str] | None = None,
    table_id: str = "table",
) -> ReaderTable:
    """Turn a dataset slice into a :class:`ReaderTable`.

    ``columns`` maps source column -> header shown (order kept). ``figures`` maps a figure column
    to ``(qualifier column or None, unit)`` to format it with :func:`format_figure`; ``dates``
    names partial-date columns to format with :func:`format_date`. ``source_ids`` defaults to
    the ``source_id`` column of ``df``; the note names them from ``sources`` (the sources
    dataset). Raises ``KeyError`` for a column not in ``df`` or a source id not in ``sources``.
    """
    figures = dict(figures or {})
    dates = set(dates)
    out = pd.DataFrame(index=df.index)
    for col, header in columns.items():
        if col not in df.columns:
            raise KeyError(
                f"column {col!r} not in the table (has: {', '.join(map(str, df.columns))})"
            )
        if col in figures:
            qcol, unit = figures[col]
            quals = df[qcol] if qcol else ["exact"] * len(df)
            out[header] = [format_figure(v, q, unit) for v, q in zip(df[col], quals, strict=True)]
        elif col in dates:
            out[header] = [format_date(v) for v in df[col]]
        else:
            out[header] = ["–" if pd.isna(v) else str(v) for v in df[col]]
    if source_ids is None:
        source_ids = list(df["source_id"]) if "source_id" in df.columns else []
    note = source_note(source_ids, sources) if source_ids else ""
    return ReaderTable(out.reset_index(drop=True), caption=caption, note=note, table_id=table_id)
