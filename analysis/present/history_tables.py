"""Reader tables of what was known when: where sources differ, who backs each figure, a history.

Each receives rows of :mod:`analysis.history` (``sources_differ``, ``company_figures``,
``company_history``) and the ``sources`` dataset, and names every source in its note.
Re-exported by :mod:`analysis.present.tables`.
"""

from __future__ import annotations

import pandas as pd

from analysis.present.formatting import format_date, format_figure, in_words, source_note
from analysis.present.reader import ReaderTable

__all__ = ["backing_table", "history_table", "producer_of", "sources_differ_table", "unit_of"]


def unit_of(unit) -> str:
    """The formatting unit of a figure's unit ("USD", "users", "downloads"; else a bare count)."""
    return str(unit) if unit in ("USD", "users", "downloads", "percent") else ""


def sources_differ_table(
    differ: pd.DataFrame, *, sources: pd.DataFrame, caption: str = "Where sources give figures"
) -> ReaderTable:
    """Subjects and measures where several sources give a figure for the same date.

    ``differ``: rows of :func:`analysis.history.sources_differ`. Columns shown: Subject,
    Measure (in words, with the period when not cumulative, and a listing's status), Date,
    Sources (``"consistent"`` or ``"differ"``), Figures ("≥ 1.0B downloads (Sensor Tower) ·
    1.0B downloads (…)", the figure shown first). The note names every source.
    """
    by_id = sources.set_index("source_id")
    shown = pd.DataFrame(
        {
            "Subject": differ["subject"].astype(str),
            "Measure": [
                in_words(m)
                + ("" if p == "cumulative" else f" ({in_words(p).lower()})")
                + ("" if pd.isna(s) else f", {s}")
                for m, p, s in zip(
                    differ["measure"], differ["period"], differ["status"], strict=True
                )
            ],
            "Date": [format_date(d) for d in differ["as_of"]],
            "Sources": differ["verdict"].astype(str),
            "Figures": [
                " · ".join(
                    f"{format_figure(v, q, unit_of(u))} ({producer_of(by_id, sid)})"
                    for v, q, sid in figs
                )
                for figs, u in zip(differ["figures"], differ["unit"], strict=True)
            ],
        }
    )
    ids = [sid for figs in differ["figures"] for _v, _q, sid in figs]
    note = source_note(ids, sources) if ids else ""
    return ReaderTable(shown, caption=caption, note=note, table_id="sources-differ")


def producer_of(by_id: pd.DataFrame, sid: str) -> str:
    """Who produced a source's figure (its producer, else its publisher)."""
    if sid not in by_id.index:
        return sid
    row = by_id.loc[sid]
    return str(row["producer"] if pd.notna(row["producer"]) else row["publisher"])


def backing_table(
    figures: pd.DataFrame, *, sources: pd.DataFrame, caption: str = "Figures and their sources"
) -> ReaderTable:
    """Each figure shown for a company and the sources behind it.

    ``figures``: rows of :func:`analysis.history.company_figures`. Columns shown: Subject,
    Measure, Figure (with its qualifier mark and unit), As of, Source (who produced the figure
    shown), Also reported by (the other sources known then). The note names every source.
    """
    by_id = sources.set_index("source_id")
    shown = pd.DataFrame(
        {
            "Subject": figures["subject"].astype(str),
            "Measure": [
                in_words(m) + ("" if p == "cumulative" else f" ({in_words(p).lower()})")
                for m, p in zip(figures["measure"], figures["period"], strict=True)
            ],
            "Figure": [
                format_figure(v, q, unit_of(u))
                for v, q, u in zip(
                    figures["value"], figures["qualifier"], figures["unit"], strict=True
                )
            ],
            "As of": [format_date(d) for d in figures["as_of"]],
            "Source": [producer_of(by_id, s) for s in figures["source_id"]],
            "Also reported by": [
                "; ".join(producer_of(by_id, s) for s in str(o).split("; ") if s)
                if pd.notna(o)
                else ""
                for o in figures["other_sources"]
            ],
        }
    )
    ids = list(figures["source_id"]) + [
        s for o in figures["other_sources"].dropna() for s in str(o).split("; ") if s
    ]
    note = source_note(ids, sources) if ids else ""
    return ReaderTable(shown, caption=caption, note=note, table_id="figures-sources")


def history_table(
    rows: pd.DataFrame, *, sources: pd.DataFrame, caption: str = "What was reported when"
) -> ReaderTable:
    """A company's dated figures, oldest first, each with who produced it.

    ``rows``: rows of :func:`analysis.history.company_history` (or :func:`~analysis.history.facts`).
    Columns shown: Date, Subject, Measure (with a non-cumulative period), Figure, Source (the
    producer) and Kind (filing / company / measurement / press). The note names every source.
    """
    by_id = sources.set_index("source_id")
    shown = pd.DataFrame(
        {
            "Date": [format_date(d) for d in rows["as_of"]],
            "Subject": rows["subject"].astype(str),
            "Measure": [
                in_words(m)
                + ("" if p == "cumulative" else f" ({in_words(p).lower()})")
                + ("" if pd.isna(s) else f", {s}")
                for m, p, s in zip(rows["measure"], rows["period"], rows["status"], strict=True)
            ],
            "Figure": [
                format_figure(v, q, unit_of(u))
                for v, q, u in zip(rows["value"], rows["qualifier"], rows["unit"], strict=True)
            ],
            "Source": [producer_of(by_id, s) for s in rows["source_id"]],
            "Kind": rows["producer_kind"].astype(str),
        }
    )
    note = source_note(list(rows["source_id"]), sources) if len(rows) else ""
    return ReaderTable(shown, caption=caption, note=note, table_id="history")
