"""The key figures of a report: one figure per subject and measure, as known on ``as_of``.

Every dataset's figures (downloads, funding, stakes, user bases, the review threshold, money
raised at a listing) are read as one list; for each subject and measure the figure shown is
the one the rule of :mod:`analysis.history` chooses (:func:`~analysis.history.choose`: the
latest reported, then filing > company > measurement firm > press). Figures other sources
gave for the same date that read differently stay in view as its ``alternatives``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from analysis.history import PRODUCER_RANK, choose, known, pkg_key, producer_kind
from analysis.present.formatting import in_words

if TYPE_CHECKING:
    from analysis.data import Package

__all__ = ["key_figures"]

#: (dataset, figure column, qualifier column, unit, subject columns, measure label) of every figure.
_FIGURES = [
    ("downloads", "value", "qualifier", None, ("app",), None),
    ("funding_rounds", "amount_usd", "qualifier", "USD", ("company",), "Funding raised"),
    ("funding_rounds", "valuation_usd", "valuation_qualifier", "USD", ("company",), "Valuation"),
    ("stakes", "stake_pct", "qualifier", "percent", ("investor", "company"), "Stake"),
    (
        "stakes",
        "investment_usd",
        "investment_qualifier",
        "USD",
        ("investor", "company"),
        "Invested",
    ),
    ("user_bases", "users", "qualifier", "users", ("company",), None),
    ("regulatory_events", "threshold_users", None, "users", ("agency",), "Review threshold"),
    ("listings", "amount_raised_usd", "qualifier", "USD", ("company",), "Raised at listing"),
]
_KEY_FIGURE_COLUMNS = [
    "subject",
    "measure",
    "value",
    "unit",
    "qualifier",
    "as_of",
    "dataset",
    "source_id",
    "producer_kind",
    "alternatives",
]


def _measure_and_unit(ds: str, rec: dict, unit: str | None, label: str | None) -> tuple[str, str]:
    """What a figure of dataset ``ds`` measures, in words, and its unit."""
    if ds == "downloads":
        measure = "Downloads" if rec["measure"] == "downloads" else "Consumer spending"
        if rec.get("period", "cumulative") != "cumulative":  # never read as a lifetime total
            measure += f" ({in_words(rec['period']).lower()})"
        return measure, "USD" if rec["unit"] == "USD" else "downloads"
    if ds == "user_bases":
        return in_words(rec["metric"]), unit
    if ds == "listings" and rec.get("status") not in (None, "listed"):
        return f"{label} ({rec['status']})", unit  # a planned size is not what was raised
    return label, unit


def _every_figure(pkg: Package, as_of: str | None) -> pd.DataFrame:
    """Every figure known by ``as_of``, one row each, with what :func:`choose` orders by."""
    producers = pkg.load("sources").set_index("source_id")["producer"]
    rows = []
    for ds, col, qcol, unit, subject_cols, label in _FIGURES:
        df = known(pkg, ds, as_of)
        for rec in df[df[col].notna()].to_dict("records"):
            measure, row_unit = _measure_and_unit(ds, rec, unit, label)
            kind = producer_kind(
                producers.get(rec["source_id"]), (rec.get("company"), rec.get("app"))
            )
            rows.append(
                {
                    "subject": " in ".join(str(rec[c]) for c in subject_cols),
                    "measure": measure,
                    "value": float(rec[col]),
                    "unit": row_unit,
                    "qualifier": rec[qcol] if qcol else "exact",
                    "as_of": rec["as_of"],
                    "dataset": ds,
                    "source_id": rec["source_id"],
                    "producer_kind": kind,
                    "record_id": rec[pkg_key(rec)],
                    "as_of_start": rec["as_of_start"],
                    "as_of_end": rec["as_of_end"],
                    "producer_rank": PRODUCER_RANK[kind],
                }
            )
    return pd.DataFrame(rows)


def key_figures(pkg: Package, as_of: str | None = None) -> pd.DataFrame:
    """The figure a report shows for each subject and measure as known on ``as_of``.

    One row per subject and measure (a non-cumulative period and a listing's status other than
    "listed" are part of the measure, "Downloads (quarter)", "Raised at listing (planned)"),
    the figure chosen by :func:`analysis.history.choose`. ``alternatives`` lists the figures
    other sources gave for the same date (periods nested in or holding the chosen one's) that
    read differently (another value or qualifier), in the rule's order; earlier figures are the
    subject's history, not alternatives.

    Columns: ``subject`` (string: the app or company, "investor in company" for stakes),
    ``measure`` (string), ``value`` (Float64, in ``unit``), ``unit`` (string: USD, percent,
    users, downloads), ``qualifier`` (string), ``as_of`` (string, partial ISO date),
    ``dataset``, ``source_id``, ``producer_kind`` (strings), ``alternatives`` (object: list of
    (value, qualifier, as_of, source_id) tuples). Sorted by dataset order, then as the data
    lists the subjects. Raises ``ValueError`` for a bad ``as_of``.
    """
    every = _every_figure(pkg, as_of)
    out = []
    if not every.empty:
        for _key, group in every.groupby(["subject", "measure"], sort=False):
            ordered = choose(group)
            best = ordered.iloc[0]
            others = ordered.iloc[1:]
            same_date = (others["as_of_start"] <= best["as_of_end"]) & (
                others["as_of_end"] >= best["as_of_start"]
            )
            reads_apart = (others["value"] != best["value"]) | (
                others["qualifier"] != best["qualifier"]
            )
            alt = others[same_date & reads_apart]
            rec = {c: best[c] for c in _KEY_FIGURE_COLUMNS[:-1]}
            rec["alternatives"] = list(
                zip(alt["value"], alt["qualifier"], alt["as_of"], alt["source_id"], strict=True)
            )
            out.append(rec)
    frame = pd.DataFrame(out, columns=_KEY_FIGURE_COLUMNS)
    dtypes = {c: "string" for c in _KEY_FIGURE_COLUMNS[:-1]} | {"value": "Float64"}
    return frame.astype(dtypes)
