"""Domain calculations on the curated datasets: pure functions of DataFrames, qualifier-aware.

A figure in this project is a value *and* its qualifier, as the source words it. Each qualifier
stands for an interval of values the true figure may take:

==============  =======================================  ===========================
qualifier       wording in the source                    interval
==============  =======================================  ===========================
``exact``       "$460 million"                           [v, v]
``approximate`` "almost 500 million", "about $4 billion"  [v·(1-t), v·(1+t)], t = 10 %
``at_least``    "exceeding $2.5 billion", "surpassed"     [v, ∞)
``at_most``     "up to", "no more than"                   [0, v]
==============  =======================================  ===========================

Comparisons answer from the intervals: "yes" or "no" where every value in the intervals agrees,
``"undetermined"`` where they do not. Nothing here guesses past what the source says.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from analysis import datasets, tables

__all__ = [
    "APPROXIMATE_TOLERANCE",
    "Figure",
    "UnknownCompanyError",
    "company_profile",
    "compare",
    "companies",
    "event_timeline",
    "exceeds",
    "key_figures",
    "known_by",
    "milestone_club",
    "rank_figures",
    "resolve_company",
    "review_exposure",
    "review_threshold",
    "rounds_since",
    "stakes_of",
    "threshold_sensitivity",
]

#: Relative half-width of the interval an ``approximate`` figure stands for (10 %).
APPROXIMATE_TOLERANCE = 0.10

Answer = Literal["yes", "no", "undetermined"]
Ordering = Literal["greater", "less", "equal", "undetermined"]


@dataclass(frozen=True)
class Figure:
    """A qualified figure: ``value`` (in the field's base unit) and ``qualifier``.

    Raises ``ValueError`` for an unknown qualifier, a negative or non-finite value.
    """

    value: float
    qualifier: str = "exact"

    def __post_init__(self) -> None:
        if self.qualifier not in datasets.QUALIFIERS:
            raise ValueError(
                f"unknown qualifier {self.qualifier!r}; expected one of {', '.join(datasets.QUALIFIERS)}"
            )
        if not math.isfinite(self.value) or self.value < 0:
            raise ValueError(f"a figure must be a finite number >= 0, not {self.value!r}")

    @property
    def low(self) -> float:
        """Smallest value the true figure may take."""
        if self.qualifier in ("exact", "at_least"):
            return self.value
        if self.qualifier == "approximate":
            return self.value * (1 - APPROXIMATE_TOLERANCE)
        return 0.0

    @property
    def high(self) -> float:
        """Largest value the true figure may take (``inf`` for ``at_least``)."""
        if self.qualifier in ("exact", "at_most"):
            return self.value
        if self.qualifier == "approximate":
            return self.value * (1 + APPROXIMATE_TOLERANCE)
        return math.inf


def compare(a: Figure, b: Figure) -> Ordering:
    """How figure ``a`` stands to figure ``b``: greater, less, equal (both exact), or undetermined.

    >>> compare(Figure(3e9, "at_least"), Figure(2.9e9, "approximate"))
    'greater'
    >>> compare(Figure(3e9, "at_least"), Figure(3.1e9, "approximate"))
    'undetermined'
    """
    if a.qualifier == b.qualifier == "exact" and a.value == b.value:
        return "equal"
    if a.low > b.high:
        return "greater"
    if a.high < b.low:
        return "less"
    return "undetermined"


def exceeds(figure: Figure, threshold: float, *, strict: bool = True) -> Answer:
    """Whether ``figure`` is over ``threshold`` (``strict``: more than; else at least).

    "yes" / "no" when every value the qualifier allows agrees, else "undetermined".
    """
    if strict:
        if figure.low > threshold:
            return "yes"
        if figure.high <= threshold:
            return "no"
    else:
        if figure.low >= threshold:
            return "yes"
        if figure.high < threshold:
            return "no"
    return "undetermined"


def rank_figures(
    df: pd.DataFrame, value: str = "value", qualifier: str = "qualifier"
) -> pd.DataFrame:
    """Rank rows by a qualified figure, largest first, saying where the order is certain.

    Input: any DataFrame with a numeric ``value`` column and a ``qualifier`` column.
    Output: the rows sorted by the figure's interval (lower bound, then upper bound, descending)
    with two added columns: ``rank`` (Int64, 1 = largest; rows whose order against each other is
    undetermined share the best rank of their group) and ``above_next`` (string: "yes" where the
    row is certainly greater than the next one, "undetermined" otherwise, <NA> for the last).
    Rows with an empty figure are dropped.
    """
    rows = df[df[value].notna()].copy()
    figs = [Figure(float(v), str(q)) for v, q in zip(rows[value], rows[qualifier], strict=True)]
    order = sorted(range(len(figs)), key=lambda i: (figs[i].low, figs[i].high), reverse=True)
    rows = rows.iloc[order].copy()
    figs = [figs[i] for i in order]
    ranks: list[int] = []
    above: list[str | None] = []
    for i, fig in enumerate(figs):
        if i == 0:
            ranks.append(1)
        else:
            certain = compare(figs[i - 1], fig) == "greater"
            ranks.append(i + 1 if certain else ranks[-1])
        if i + 1 < len(figs):
            above.append("yes" if compare(fig, figs[i + 1]) == "greater" else "undetermined")
        else:
            above.append(None)
    rows["rank"] = pd.array(ranks, dtype="Int64")
    rows["above_next"] = pd.array(above, dtype="string")
    return rows.reset_index(drop=True)


def known_by(df: pd.DataFrame, as_of: str | None) -> pd.DataFrame:
    """Rows of a loaded dataset known by ``as_of`` (ISO date): those whose ``as_of`` period ended
    by then and whose source (``sources.date_published``, where given) may have been out by then.

    A figure dated "2021-07" counts as known from 31 Jul 2021; an ``as_of`` of "2021-07" means
    the end of July 2021; a source dated "2021-07" may have been published from 1 Jul 2021.
    ``as_of=None`` keeps every row.
    Raises ``ValueError`` if ``as_of`` is not an ISO date.
    """
    if not as_of:
        return df
    end = _period_end(as_of, "as_of")
    known = df["as_of_end"] <= end
    sources = datasets.load("sources") if "source_id" in df.columns and len(df) else None
    if sources is not None and "date_published_start" in sources.columns:
        # a figure is not known before its source was published (a 2021 recap of 2018 figures)
        published = df["source_id"].map(sources.set_index("source_id")["date_published_start"])
        known &= published.isna() | (published <= end)
    return df[known].reset_index(drop=True)


def cumulative(downloads: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``downloads`` that are lifetime totals (period "cumulative"), not period figures.

    A package without a ``period`` column (release 1's shape) holds only cumulative figures."""
    if "period" not in downloads.columns:
        return downloads
    return downloads[downloads["period"] == "cumulative"]


def _period_end(text: str, name: str) -> pd.Timestamp:
    """Last day of the period a partial ISO date names ("2021-07" -> 31 Jul 2021)."""
    try:
        return pd.Timestamp(datasets._partial_date_bounds(str(text).strip())[1])
    except (ValueError, TypeError):
        raise ValueError(
            f"{name} must be an ISO date such as 2021-07-31 (or 2021-07, 2021), not {text!r}"
        ) from None


# --------------------------------------------------------------------------- companies


class UnknownCompanyError(KeyError):
    """A company name that is neither a canonical name nor an alias. ``suggestions`` lists close names."""

    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"no company named {name!r} in the data.{hint}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


def companies() -> pd.DataFrame:
    """The companies vocabulary (see ``datasets.load("companies")``) with ``aliases`` as lists.

    Columns: company (string), name_zh (string), aliases (object: list[str]), parent (string),
    kind (string), description (string), source_id (string).
    """
    df = datasets.load("companies")
    df["aliases"] = [
        [a.strip() for a in str(s).split(";") if a.strip()] if pd.notna(s) else []
        for s in df["aliases"]
    ]
    return df


def resolve_company(name: str) -> str:
    """Canonical company name for a canonical name, Chinese name or alias (case-insensitive).

    Raises :class:`UnknownCompanyError` with the closest names when nothing matches.
    """
    table = companies()
    lookup: dict[str, str] = {}
    for row in table.itertuples(index=False):
        for n in [row.company, row.name_zh, *row.aliases]:
            if isinstance(n, str) and n:
                lookup[n.casefold()] = row.company
    key = str(name).strip().casefold()
    if key in lookup:
        return lookup[key]
    close = difflib.get_close_matches(key, list(lookup), n=3, cutoff=0.5)
    return_names = list(dict.fromkeys(lookup[c] for c in close))
    raise UnknownCompanyError(str(name), return_names)


def company_profile(name: str, as_of: str | None = None) -> dict[str, pd.DataFrame | str]:
    """Everything the data holds on one company, whatever name it is asked by.

    Returns a dict: ``company`` (canonical name, str), ``companies`` (its row), and one
    DataFrame per dataset filtered to it — ``downloads`` (apps it owns), ``funding_rounds``,
    ``stakes`` (as investor or as company held), ``user_bases``, ``regulatory_events``,
    ``listings`` — with the columns of :func:`analysis.datasets.load`. ``as_of`` keeps only rows
    known by that date (see :func:`known_by`).
    Raises :class:`UnknownCompanyError` for an unknown name.
    """
    canonical = resolve_company(name)
    out: dict[str, pd.DataFrame | str] = {"company": canonical}
    table = companies()
    out["companies"] = table[table["company"] == canonical].reset_index(drop=True)
    for ds in ("downloads", "funding_rounds", "user_bases", "regulatory_events", "listings"):
        df = known_by(datasets.load(ds), as_of)
        out[ds] = df[df["company"] == canonical].reset_index(drop=True)
    stakes = known_by(datasets.load("stakes"), as_of)
    out["stakes"] = stakes[
        (stakes["company"] == canonical) | (stakes["investor"] == canonical)
    ].reset_index(drop=True)
    return out


# --------------------------------------------------------------------------- headline metrics


def _figure_or_none(value, qualifier) -> Figure | None:
    if pd.isna(value):
        return None
    return Figure(float(value), str(qualifier))


def review_threshold(as_of: str | None = None) -> int | None:
    """User threshold (users) of the latest regulatory event that sets one, or None if none does."""
    ev = known_by(datasets.load("regulatory_events"), as_of)
    ev = ev[ev["threshold_users"].notna()].sort_values("date_start")
    return None if ev.empty else int(ev["threshold_users"].iloc[-1])


def review_exposure(threshold: int = 1_000_000, as_of: str | None = None) -> pd.DataFrame:
    """Which companies are over a user threshold for a security review before an overseas listing.

    The draft rule of 10 Jul 2021 covers organisations with a user base *exceeding* 1,000,000
    users (source: TechCrunch, Jul 2021), so ``threshold`` is compared strictly. Companies are
    those with a user base, a listing or a regulatory event in the data.

    Returns one row per company, sorted by users (largest first, unknown last), columns:
    ``company`` (string), ``users`` (Float64, users: the largest figure held, <NA> if none),
    ``qualifier`` (string), ``metric`` (string, what was counted), ``over_threshold`` (string:
    "yes", "no", "undetermined" where the qualifier cannot decide, "unknown" with no figure),
    ``overseas_listing`` (string: listed / planned / postponed / withdrawn / "none known"),
    ``under_review`` (bool: a review_opened event names the company), ``source_id`` (string).
    Raises ``ValueError`` for a negative threshold.
    """
    if threshold < 0:
        raise ValueError("threshold must be a number of users >= 0")
    users = known_by(datasets.load("user_bases"), as_of)
    listings = known_by(datasets.load("listings"), as_of)
    events = known_by(datasets.load("regulatory_events"), as_of)
    names = sorted(
        set(users["company"]) | set(listings["company"]) | set(events["company"].dropna())
    )
    rows = []
    for company in names:
        u = users[users["company"] == company]
        fig = None
        if not u.empty:
            ranked = rank_figures(u, value="users")
            best = ranked.iloc[0]
            fig = _figure_or_none(best["users"], best["qualifier"])
        lst = listings[(listings["company"] == company) & listings["overseas"].fillna(False)]
        status = ", ".join(sorted(set(lst["status"]))) if not lst.empty else "none known"
        ev = events[(events["company"] == company) & (events["event_type"] == "review_opened")]
        rows.append(
            {
                "company": company,
                "users": None if fig is None else fig.value,
                "qualifier": None if fig is None else fig.qualifier,
                "metric": None if u.empty else best["metric"],
                "over_threshold": "unknown" if fig is None else exceeds(fig, threshold),
                "overseas_listing": status,
                "under_review": not ev.empty,
                "source_id": None if u.empty else best["source_id"],
            }
        )
    df = pd.DataFrame(rows, columns=list(rows[0]) if rows else None)
    if df.empty:
        return df
    df = df.astype(
        {
            "company": "string",
            "users": "Float64",
            "qualifier": "string",
            "metric": "string",
            "over_threshold": "string",
            "overseas_listing": "string",
            "under_review": "bool",
            "source_id": "string",
        }
    )
    return df.sort_values(
        ["users", "company"], ascending=[False, True], na_position="last"
    ).reset_index(drop=True)


def milestone_club(milestone: float = 3_000_000_000, as_of: str | None = None) -> pd.DataFrame:
    """Apps whose cumulative downloads reached ``milestone`` (downloads), qualifier-aware.

    Source: Sensor Tower via TechCrunch, Jul 2021 (App Store and Google Play).
    Returns apps that reached it ("yes") or may have ("undetermined"), ranked by downloads:
    columns ``app`` (string), ``company`` (string), ``downloads`` (Float64, count),
    ``qualifier`` (string), ``reached`` (string: "yes" / "undetermined"), ``rank`` (Int64),
    ``as_of`` (string), ``source_id`` (string). Raises ``ValueError`` for a negative milestone.
    """
    if milestone < 0:
        raise ValueError("milestone must be a number of downloads >= 0")
    dl = cumulative(known_by(datasets.load("downloads"), as_of))
    dl = dl[dl["measure"] == "downloads"].rename(columns={"value": "downloads"})
    if dl.empty:
        return pd.DataFrame(
            columns=[
                "app",
                "company",
                "downloads",
                "qualifier",
                "reached",
                "rank",
                "as_of",
                "source_id",
            ]
        )
    dl = dl.copy()
    dl["reached"] = pd.array(
        [
            exceeds(Figure(float(v), str(q)), milestone, strict=False)
            for v, q in zip(dl["downloads"], dl["qualifier"], strict=True)
        ],
        dtype="string",
    )
    club = dl[dl["reached"] != "no"]
    # one row per app: a row that shows it reached the milestone, the latest first
    club = club.sort_values(["reached", "as_of_end"], ascending=[False, False], kind="stable")
    club = club.drop_duplicates("app")
    club = rank_figures(club, value="downloads").sort_values(["rank", "app"]).reset_index(drop=True)
    return club[
        ["app", "company", "downloads", "qualifier", "reached", "rank", "as_of", "source_id"]
    ]


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


def key_figures(as_of: str | None = None) -> pd.DataFrame:
    """Every figure in the data, one row each, with its qualifier, as_of and source.

    Columns: ``subject`` (string: the app or company, "investor in company" for stakes),
    ``measure`` (string), ``value`` (Float64, in ``unit``), ``unit`` (string: USD, percent,
    users, downloads), ``qualifier`` (string), ``as_of`` (string, partial ISO date),
    ``dataset`` (string), ``source_id`` (string). Sorted by dataset order, then subject.
    """
    rows = []
    for ds, col, qcol, unit, subject_cols, label in _FIGURES:
        df = known_by(datasets.load(ds), as_of)
        df = df[df[col].notna()]
        for rec in df.to_dict("records"):
            subject = " in ".join(str(rec[c]) for c in subject_cols)
            if ds == "downloads":
                measure = "Downloads" if rec["measure"] == "downloads" else "Consumer spending"
                if (
                    rec.get("period", "cumulative") != "cumulative"
                ):  # never read as a lifetime total
                    measure += f" ({tables.in_words(rec['period']).lower()})"
                row_unit = "USD" if rec["unit"] == "USD" else "downloads"
            elif ds == "user_bases":
                measure = tables.in_words(rec["metric"])
                row_unit = unit
            else:
                measure, row_unit = label, unit
            rows.append(
                {
                    "subject": subject,
                    "measure": measure,
                    "value": float(rec[col]),
                    "unit": row_unit,
                    "qualifier": rec[qcol] if qcol else "exact",
                    "as_of": rec["as_of"],
                    "dataset": ds,
                    "source_id": rec["source_id"],
                }
            )
    cols = ["subject", "measure", "value", "unit", "qualifier", "as_of", "dataset", "source_id"]
    out = pd.DataFrame(rows, columns=cols)
    return out.astype({c: "string" for c in cols if c != "value"} | {"value": "Float64"})


_EVENT_VERBS = {
    "review_opened": "review opened",
    "app_removal_ordered": "app removal ordered",
    "draft_rule_published": "draft rule published",
    "rules_introduced": "rules introduced",
    "rule_enacted": "rule enacted",
    "fine": "fine",
}


def event_timeline(
    as_of: str | None = None, since: str | None = None, until: str | None = None
) -> pd.DataFrame:
    """Regulatory events dated to the day, for a timeline, oldest first.

    ``since``/``until`` (ISO dates, inclusive) bound the window; ``as_of`` keeps what was known
    by then. Columns: ``date_start`` (datetime64), ``date`` (string), ``label`` (string, e.g.
    "Didi: review opened", "Draft rule published"), ``event_type``, ``company``, ``source_id`` (string).
    """
    ev = known_by(datasets.load("regulatory_events"), as_of)
    ev = ev[ev["date_start"] == ev["date_end"]]  # day precision only
    if since:
        ev = ev[ev["date_start"] >= pd.Timestamp(since)]
    if until:
        ev = ev[ev["date_start"] <= pd.Timestamp(until)]
    ev = ev.sort_values(["date_start", "event_id"]).reset_index(drop=True)
    what = ev["event_type"].map(_EVENT_VERBS).fillna(ev["event_type"])
    labels = [
        f"{who}: {verb}" if isinstance(who, str) else verb.capitalize()
        for who, verb in zip(ev["company"].astype(object), what, strict=True)
    ]
    out = ev[["date_start", "date", "event_type", "company", "source_id"]].copy()
    out["label"] = pd.array(labels, dtype="string")
    return out[["date_start", "date", "label", "event_type", "company", "source_id"]]


def threshold_sensitivity(thresholds, as_of: str | None = None) -> pd.DataFrame:
    """Who is over each of several user thresholds: a company x threshold grid of answers.

    ``thresholds``: iterable of user counts (ints >= 0). Returns one row per company of
    :func:`review_exposure`, columns ``company`` (string), ``users`` (Float64), ``qualifier``
    (string), ``source_id`` (string, of the user figure), then one string column per threshold, named by the threshold (e.g. "1000000"),
    holding "yes" / "no" / "undetermined" / "unknown". Raises ``ValueError`` for no thresholds.
    """
    thresholds = sorted({int(t) for t in thresholds})
    if not thresholds:
        raise ValueError("give at least one threshold")
    base = review_exposure(thresholds[0], as_of=as_of)[
        ["company", "users", "qualifier", "source_id"]
    ]
    out = base.copy()
    for t in thresholds:
        exp = review_exposure(t, as_of=as_of).set_index("company")["over_threshold"]
        out[str(t)] = out["company"].map(exp).astype("string")
    return out


def rounds_since(since: str | None = None, as_of: str | None = None) -> pd.DataFrame:
    """Funding rounds announced on or after ``since`` (ISO date; a round dated "2018" counts
    from 1 Jan 2018), known by ``as_of``. Columns of ``datasets.load("funding_rounds")``.
    Raises ``ValueError`` if ``since`` is not an ISO date.
    """
    df = known_by(datasets.load("funding_rounds"), as_of)
    if since:
        try:
            start = pd.Timestamp(pd.to_datetime(since, format="ISO8601"))
        except (ValueError, TypeError):
            raise ValueError(
                f"since must be an ISO date such as 2021-01-01, not {since!r}"
            ) from None
        # a round is kept when any part of its announcement period lies on or after `since`
        df = df[df["announced_end"].isna() | (df["announced_end"] >= start)]
    return df.sort_values(["announced_start", "round_id"], na_position="last").reset_index(
        drop=True
    )


def stakes_of(investor: str | None = None, as_of: str | None = None) -> pd.DataFrame:
    """Stakes held by ``investor`` (canonical name or alias; ``None`` or "" for every investor).

    Columns of ``datasets.load("stakes")``. Raises :class:`UnknownCompanyError` for an unknown
    investor.
    """
    df = known_by(datasets.load("stakes"), as_of)
    if investor:
        df = df[df["investor"] == resolve_company(investor)]
    return df.sort_values(["investor", "company"]).reset_index(drop=True)
