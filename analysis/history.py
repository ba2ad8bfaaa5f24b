"""What was known when, and which figure a report shows: the one rule, its alternatives, series.

**The rule** (:func:`choose`). For a subject (an app or a company) and a measure (downloads,
consumer spending, a user metric, a valuation, money raised at a listing) as known on
``as_of``: keep the rows whose ``as_of`` period ended by then and whose source was out by
then (:func:`known`, :func:`known_by`); show the latest reported (the latest ``as_of``);
among rows reported on the same date, or on dates whose order is unknown ("2021-07-12" may come
before or after the end of "2021-07"), the producer of the figure decides, in this order
(:data:`PRODUCER_RANK`), then the more precise date:

1. ``filing``      a regulator's or a company's filing (prospectus, F-1, court complaint)
2. ``company``     the company's own statement (announcement, results release)
3. ``measurement`` a measurement firm (Sensor Tower, data.ai, QuestMobile)
4. ``press``       everyone else: the press, people familiar with the matter

The producer is the free-text ``producer`` of ``sources.csv``, classified by the keywords of
:data:`PRODUCER_KEYWORDS` (:func:`producer_kind`); a producer naming the row's own company is
the company. Remaining ties go to the smaller ``source_id``, so the choice is stable.

The alternatives stay in view: :func:`figure_as_of` returns the chosen row and the others,
:func:`sources_differ` lists where sources give figures for the same thing on the same date
and says whether they are "consistent" (their qualifier intervals meet, :mod:`analysis.figures`)
or "differ". :func:`series` gives one point per date, each chosen by the rule.
"""

from __future__ import annotations

import re
from itertools import combinations
from typing import TYPE_CHECKING

import pandas as pd

from analysis.data.schema import partial_date_bounds
from analysis.figures import Figure, compare

if TYPE_CHECKING:
    from analysis.data import Package

__all__ = [
    "MEASURES",
    "PRODUCER_KEYWORDS",
    "PRODUCER_RANK",
    "choose",
    "chosen_ids",
    "company_figures",
    "company_history",
    "facts",
    "ipo_sizes",
    "figure_as_of",
    "known",
    "known_by",
    "producer_kind",
    "series",
    "sources_differ",
]


def known_by(
    df: pd.DataFrame, as_of: str | None, sources: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Rows of a loaded dataset known by ``as_of`` (ISO date): those whose ``as_of`` period ended
    by then and, given the ``sources`` dataset, whose source may have been out by then
    (``sources.date_published``, where given: a 2021 recap of 2018 figures is not known in 2019).

    A figure dated "2021-07" counts as known from 31 Jul 2021; an ``as_of`` of "2021-07" means
    the end of July 2021; a source dated "2021-07" may have been published from 1 Jul 2021.
    ``as_of=None`` keeps every row.
    Raises ``ValueError`` if ``as_of`` is not an ISO date.
    """
    if not as_of:
        return df
    end = period_end(as_of, "as_of")
    known = df["as_of_end"] <= end
    if sources is not None and "source_id" in df.columns and "date_published_start" in sources:
        published = df["source_id"].map(sources.set_index("source_id")["date_published_start"])
        known &= published.isna() | (published <= end)
    return df[known].reset_index(drop=True)


def known(pkg: Package, name: str, as_of: str | None) -> pd.DataFrame:
    """Dataset ``name`` of ``pkg`` (columns of :meth:`analysis.data.Package.load`), only the
    rows known by ``as_of``: their period ended by then and their source was out by then
    (:func:`known_by` with the package's ``sources``). Raises as ``known_by`` does."""
    return known_by(pkg.load(name), as_of, pkg.load("sources") if as_of else None)


def period_end(text: str, name: str) -> pd.Timestamp:
    """Last day of the period a partial ISO date names ("2021-07" -> 31 Jul 2021).

    Raises ``ValueError`` naming ``name`` if ``text`` is not an ISO date.
    """
    try:
        return pd.Timestamp(partial_date_bounds(str(text).strip())[1])
    except (ValueError, TypeError):
        raise ValueError(
            f"{name} must be an ISO date such as 2021-07-31 (or 2021-07, 2021), not {text!r}"
        ) from None


# --------------------------------------------------------------------------- producers

#: Rank of each kind of producer when two figures are reported on the same date (1 wins).
PRODUCER_RANK = {"filing": 1, "company": 2, "measurement": 3, "press": 4}

#: Keywords (regular expressions, case-insensitive) that classify a producer, tried in order;
#: a producer matching none is ``press``.
PRODUCER_KEYWORDS = (
    (
        "filing",
        r"filing|prospectus|\bF-1\b|\bSEC\b|registration statement|court complaint|regulator",
    ),
    (
        "company",
        r"company('s)? (statement|announcement|figures|claim|emailed statement)|results",
    ),
    ("measurement", r"sensor tower|app annie|data\.ai|questmobile|apptopia"),
)


def producer_kind(producer, own_names=()) -> str:
    """Kind of a source's producer: "filing", "company", "measurement" or "press".

    ``producer``: the free text of ``sources.csv`` (e.g. "Sensor Tower", "Seeking Alpha (from
    Kanzhun's F-1/A)"); ``own_names``: the row's company and app, so that a producer that is
    the company itself ("Banma") counts as its statement. Empty producers are ``press``.
    """
    text = "" if pd.isna(producer) else str(producer)
    for kind, pattern in PRODUCER_KEYWORDS:
        if re.search(pattern, text, flags=re.IGNORECASE):
            return kind
    head = re.split(r"\s*\(", text, maxsplit=1)[0].strip().casefold()
    if head and head in {str(n).casefold() for n in own_names if isinstance(n, str)}:
        return "company"
    return "press"


# --------------------------------------------------------------------------- facts

#: Measures by dataset: (column naming the measure or "=" and the measure, subject column, value
#: column, qualifier column, column naming the unit or "=" and the unit).
MEASURES = {
    "downloads": ("measure", "app", "value", "qualifier", "unit"),
    "user_bases": ("metric", "company", "users", "qualifier", "=users"),
    "funding_rounds": ("=valuation", "company", "valuation_usd", "valuation_qualifier", "=USD"),
    "listings": ("=amount_raised", "company", "amount_raised_usd", "qualifier", "=USD"),
}

_FACT_DTYPES = {
    "dataset": "string",
    "record_id": "string",
    "subject": "string",
    "company": "string",
    "measure": "string",
    "period": "string",
    "status": "string",
    "value": "Float64",
    "unit": "string",
    "qualifier": "string",
    "as_of": "string",
    "as_of_start": "datetime64[ns]",
    "as_of_end": "datetime64[ns]",
    "source_id": "string",
    "producer": "string",
    "producer_kind": "string",
    "producer_rank": "Int64",
}


def _dataset_facts(pkg: Package, ds: str, as_of: str | None, src: pd.DataFrame) -> list[dict]:
    """Rows of :func:`facts` for one dataset (``src``: the sources dataset)."""
    measure, subject, value, qualifier, unit = MEASURES[ds]
    producers = dict(zip(src["source_id"], src["producer"], strict=True))
    df = known(pkg, ds, as_of)
    df = df[df[value].notna()]
    out = []
    for rec in df.to_dict("records"):
        producer = producers.get(rec["source_id"])
        kind = producer_kind(producer, (rec.get("company"), rec.get("app")))
        out.append(
            {
                "dataset": ds,
                "record_id": rec[pkg_key(rec)],
                "subject": rec[subject],
                "company": rec.get("company"),
                "measure": measure[1:] if measure.startswith("=") else rec[measure],
                "period": rec.get("period") if pd.notna(rec.get("period")) else "cumulative",
                "status": rec.get("status"),
                "value": float(rec[value]),
                "unit": unit[1:] if unit.startswith("=") else rec[unit],
                "qualifier": rec[qualifier],
                "as_of": rec["as_of"],
                "as_of_start": rec["as_of_start"],
                "as_of_end": rec["as_of_end"],
                "source_id": rec["source_id"],
                "producer": producer,
                "producer_kind": kind,
                "producer_rank": PRODUCER_RANK[kind],
            }
        )
    return out


def pkg_key(rec: dict) -> str:
    """Name of the identifier column of a record (record_id, round_id, listing_id, ...)."""
    return next(
        k for k in ("record_id", "round_id", "listing_id", "stake_id", "event_id") if k in rec
    )


def facts(pkg: Package, as_of: str | None = None) -> pd.DataFrame:
    """Every dated figure that has a subject and a measure, known by ``as_of``, with its producer.

    Known by ``as_of`` as :func:`known_by` says, the sources' publication dates included.

    Columns (dtypes in :data:`_FACT_DTYPES`): ``dataset``, ``record_id``, ``subject`` (app or
    company), ``company``, ``measure`` (downloads / consumer_spending, a user metric code,
    "valuation", "amount_raised"), ``period`` ("cumulative" where the data names none; else
    quarter, year, ...), ``status`` (listings: listed / planned / ...), ``value`` (Float64 in
    ``unit``: USD, downloads, users), ``qualifier``, ``as_of`` (partial ISO date),
    ``as_of_start`` and ``as_of_end`` (datetime64: first and last day of its period),
    ``source_id``, ``producer`` (sources.csv), ``producer_kind`` and ``producer_rank`` (:func:`producer_kind`, :data:`PRODUCER_RANK`).
    Raises ``ValueError`` for a bad ``as_of``.
    """
    src = pkg.load("sources")
    rows = [r for ds in MEASURES for r in _dataset_facts(pkg, ds, as_of, src)]
    return pd.DataFrame(rows, columns=list(_FACT_DTYPES)).astype(_FACT_DTYPES)


# --------------------------------------------------------------------------- the rule


def choose(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of :func:`facts` in the rule's order: the chosen figure first.

    Latest ``as_of`` first: calendar periods are nested or disjoint, so the latest start, then
    the earliest end, puts the later period first. The rows whose period reaches the start of
    the latest one ("2021-07" beside "2021-07-12": which came first is unknown) lead, ordered by
    the best ``producer_rank`` (filing, company, measurement firm, press), then the more precise
    date; then ``source_id``. Returns a copy with a fresh index.
    """
    by_date = rows.sort_values(
        ["as_of_start", "as_of_end", "producer_rank", "source_id", "record_id"],
        ascending=[False, True, True, True, True],
    )
    if by_date.empty:
        return by_date.reset_index(drop=True)
    latest = by_date["as_of_end"] >= by_date["as_of_start"].max()
    lead = by_date[latest].sort_values(
        ["producer_rank", "as_of_start", "as_of_end", "source_id", "record_id"],
        ascending=[True, False, True, True, True],
    )
    return pd.concat([lead, by_date[~latest]]).reset_index(drop=True)


def chosen_ids(pkg: Package, measure: str, as_of: str | None = None) -> set[str]:
    """Record ids of the figures the rule shows for ``measure``, one per subject (cumulative only).

    E.g. ``chosen_ids(pkg, "downloads", "2020-06-30")``: for each app, the id of the cumulative
    downloads row a report built then shows. Raises ``ValueError`` for a bad ``as_of``.
    """
    f = facts(pkg, as_of)
    f = f[(f["measure"] == measure) & (f["period"] == "cumulative")]
    return {str(choose(g)["record_id"].iloc[0]) for _s, g in f.groupby("subject")}


def _select(
    pkg: Package, subject: str, measure: str, as_of: str | None, period: str | None
) -> pd.DataFrame:
    """Facts for one subject (case-insensitive) and measure, optionally of one period."""
    f = facts(pkg, as_of)
    keep = (f["subject"].str.casefold() == str(subject).casefold()) & (f["measure"] == measure)
    if period:
        keep &= f["period"] == period
    return f[keep.fillna(False)]


def figure_as_of(
    pkg: Package,
    subject: str,
    measure: str,
    as_of: str | None = None,
    *,
    period: str | None = "cumulative",
) -> tuple[pd.Series | None, pd.DataFrame]:
    """The figure a report shows for ``subject`` and ``measure`` as known on ``as_of``, and the others.

    ``subject``: an app (downloads) or a company (users, valuation, amount_raised);
    ``measure``: as in :func:`facts`; ``period``: "cumulative" by default, None for any.
    Returns ``(chosen, others)``: the chosen row of :func:`facts` (a Series, or None when
    nothing was known) and the other rows known then, in the rule's order (:func:`choose`).
    Raises ``ValueError`` for a bad ``as_of``.
    """
    ordered = choose(_select(pkg, subject, measure, as_of, period))
    if ordered.empty:
        return None, ordered
    return ordered.iloc[0], ordered.iloc[1:].reset_index(drop=True)


_SERIES_COLUMNS = [
    "as_of",
    "as_of_end",
    "value",
    "qualifier",
    "unit",
    "status",
    "source_id",
    "producer",
    "producer_kind",
    "other_sources",
]


def series(
    pkg: Package,
    subject: str,
    measure: str,
    as_of: str | None = None,
    *,
    period: str | None = "cumulative",
) -> pd.DataFrame:
    """A dated series of one subject's measure, one point per date, each chosen by the rule.

    E.g. ``series(pkg, "TikTok", "downloads")`` (cumulative downloads),
    ``series(pkg, "Meituan", "transacting_users")``, ``series(pkg, "Banma", "valuation")``.
    Only rows of ``period`` (default "cumulative": a cumulative series never mixes in a
    quarter's figure; None for any) known by ``as_of`` count. Points are the distinct ``as_of``
    dates, oldest first; on each, :func:`choose` picks among the sources.
    Columns: ``as_of`` (string), ``as_of_end`` (datetime64), ``value`` (Float64, in ``unit``),
    ``qualifier``, ``unit``, ``status``, ``source_id``, ``producer``, ``producer_kind``
    (strings), ``other_sources`` (string: the other source_ids of that date, "; "-joined, "" if
    none). Empty (same columns) when nothing matches. Raises ``ValueError`` for a bad ``as_of``.
    """
    rows = _select(pkg, subject, measure, as_of, period)
    points = []
    for _date, group in rows.groupby("as_of", sort=False):
        ordered = choose(group)
        best = ordered.iloc[0].to_dict()
        best["other_sources"] = "; ".join(dict.fromkeys(ordered["source_id"].iloc[1:]))
        points.append(best)
    out = pd.DataFrame(points, columns=list(_FACT_DTYPES) + ["other_sources"])
    out = out.astype(_FACT_DTYPES | {"other_sources": "string"})
    return out.sort_values(["as_of_end", "as_of"]).reset_index(drop=True)[_SERIES_COLUMNS]


# --------------------------------------------------------------------------- disagreement

_DIFFER_COLUMNS = [
    "dataset",
    "subject",
    "measure",
    "period",
    "status",
    "as_of",
    "verdict",
    "unit",
    "chosen_source",
    "figures",
]


def _verdict(group: pd.DataFrame) -> str:
    """ "consistent" when every pair of figures may be the same number, else "differ"."""
    figs = [
        Figure(float(v), str(q)) for v, q in zip(group["value"], group["qualifier"], strict=True)
    ]
    apart = any(compare(a, b) in ("greater", "less") for a, b in combinations(figs, 2))
    return "differ" if apart else "consistent"


def sources_differ(pkg: Package, as_of: str | None = None) -> pd.DataFrame:
    """Where two or more sources give a figure for the same subject, measure, period and date.

    Dates are compared as written (``as_of``): figures of different dates are a series, not a
    disagreement. ``verdict`` is "consistent" where the qualifiers' intervals meet ("≥ 3.0B"
    and "3.1B"; "~663M" and "655.8M") and "differ" where some pair cannot be the same number
    ("205M" and "205.4M", both exact). One row per group, differ first, columns ``dataset``,
    ``subject``, ``measure``, ``period``, ``status`` (listings), ``as_of``, ``verdict``, ``unit``, ``chosen_source``
    (the rule's choice), ``figures`` (object: list of (value, qualifier, source_id) tuples in
    the rule's order). Raises ``ValueError`` for a bad ``as_of``.
    """
    f = facts(pkg, as_of)
    rows = []
    keys = ["dataset", "subject", "measure", "period", "status", "as_of"]
    for key, group in f.groupby(keys, sort=True, dropna=False):
        if group["source_id"].nunique() < 2:
            continue
        ordered = choose(group)
        rec = dict(zip(keys, key, strict=True))
        rec.update(
            verdict=_verdict(ordered),
            unit=ordered["unit"].iloc[0],
            chosen_source=ordered["source_id"].iloc[0],
            figures=list(
                zip(ordered["value"], ordered["qualifier"], ordered["source_id"], strict=True)
            ),
        )
        rows.append(rec)
    out = pd.DataFrame(rows, columns=_DIFFER_COLUMNS)
    if out.empty:
        return out
    out["order"] = out["verdict"] != "differ"
    return (
        out.sort_values(["order", "dataset", "subject", "as_of"])
        .drop(columns="order")
        .reset_index(drop=True)
    )


def ipo_sizes(pkg: Package, as_of: str | None = None) -> pd.DataFrame:
    """Money raised per overseas listing as known on ``as_of``: planned and priced, side by side.

    One row per company and listing status ("planned": the size announced before pricing;
    "listed": what the IPO raised; also postponed/withdrawn where a size is given), each chosen
    by the rule among the sources known then. Columns: ``company``, ``status``, ``value``
    (Float64, USD), ``qualifier``, ``as_of``, ``source_id``, ``producer_kind`` (strings but
    value), ``other_sources`` (string, "; "-joined). Companies ordered by their largest figure.
    Raises ``ValueError`` for a bad ``as_of``.
    """
    f = facts(pkg, as_of)
    f = f[f["measure"] == "amount_raised"]
    rows = []
    for (company, status), group in f.groupby(["company", "status"], sort=False):
        ordered = choose(group)
        best = ordered.iloc[0]
        rows.append(
            {
                "company": company,
                "status": status,
                "value": best["value"],
                "qualifier": best["qualifier"],
                "as_of": best["as_of"],
                "source_id": best["source_id"],
                "producer_kind": best["producer_kind"],
                "other_sources": "; ".join(dict.fromkeys(ordered["source_id"].iloc[1:])),
            }
        )
    cols = ["company", "status", "value", "qualifier", "as_of", "source_id"]
    out = pd.DataFrame(rows, columns=[*cols, "producer_kind", "other_sources"])
    if out.empty:
        return out
    out = out.astype({c: "string" for c in out.columns if c != "value"} | {"value": "Float64"})
    biggest = out.groupby("company")["value"].transform("max")
    status_order = out["status"].map({"planned": 0, "listed": 1}).fillna(2)
    return (
        out.assign(_b=biggest, _s=status_order)
        .sort_values(["_b", "company", "_s"], ascending=[False, True, True])
        .drop(columns=["_b", "_s"])
        .reset_index(drop=True)
    )


def company_figures(pkg: Package, company: str, as_of: str | None = None) -> pd.DataFrame:
    """Which sources back each figure of one company (its own and its apps'), as known on ``as_of``.

    One row per subject, measure, period and status, the figure chosen by the rule:
    columns ``subject``, ``measure``, ``period``, ``status``, ``value`` (Float64), ``unit``,
    ``qualifier``, ``as_of``, ``source_id`` (the chosen figure's), ``producer_kind``,
    ``other_sources`` (string: every other source known then, latest first, "; "-joined).
    ``company``: canonical name. Raises ``ValueError`` for a bad ``as_of``.
    """
    f = facts(pkg, as_of)
    f = f[(f["company"] == company).fillna(False)]
    keys = ["subject", "measure", "period", "status"]
    rows = []
    for _key, group in f.groupby(keys, sort=True, dropna=False):
        ordered = choose(group)
        best = ordered.iloc[0].to_dict()
        best["other_sources"] = "; ".join(
            s for s in dict.fromkeys(ordered["source_id"].iloc[1:]) if s != best["source_id"]
        )
        rows.append(best)
    cols = [*keys, "value", "unit", "qualifier", "as_of", "source_id", "producer_kind"]
    out = pd.DataFrame(rows, columns=[*cols, "other_sources"])
    dtypes = {c: _FACT_DTYPES[c] for c in cols} | {"other_sources": "string"}
    return out.astype(dtypes).reset_index(drop=True)


def company_history(pkg: Package, company: str, as_of: str | None = None) -> pd.DataFrame:
    """Every dated figure of one company (its own and its apps'), oldest first: its history.

    Rows of :func:`facts` (same columns) whose ``company`` is ``company`` (canonical name),
    sorted by ``as_of_end``, then subject, measure and the rule's producer order.
    Raises ``ValueError`` for a bad ``as_of``.
    """
    f = facts(pkg, as_of)
    f = f[(f["company"] == company).fillna(False)]
    return f.sort_values(
        ["as_of_end", "subject", "measure", "producer_rank", "source_id"]
    ).reset_index(drop=True)
