"""Domain questions over a data package: who is over a threshold, which figure was known when.

Every function takes the :class:`~analysis.data.Package` to read as its first argument (opened
at the edge: a notebook's first cell, the CLI) and never looks the data folder up itself.
Figures are compared with their qualifiers (:mod:`analysis.figures`): "almost 500 million" is
over one million, "at least 3 billion" is not known to be over "about 3.1 billion".

``as_of`` (an ISO date, day, month or year precision) keeps what was known by then
(:func:`known_by`); ``None`` keeps everything.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

import pandas as pd

from analysis.data.schema import partial_date_bounds
from analysis.figures import Figure, exceeds, rank
from analysis.present.formatting import in_words

if TYPE_CHECKING:
    from analysis.data import Package

__all__ = [
    "UnknownCompanyError",
    "companies",
    "company_profile",
    "cumulative",
    "event_timeline",
    "key_figures",
    "known",
    "known_by",
    "milestone_club",
    "resolve_company",
    "review_exposure",
    "review_threshold",
    "rounds_since",
    "stakes_of",
    "threshold_sensitivity",
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
    end = _period_end(as_of, "as_of")
    known = df["as_of_end"] <= end
    if sources is not None and "source_id" in df.columns and "date_published_start" in sources:
        published = df["source_id"].map(sources.set_index("source_id")["date_published_start"])
        known &= published.isna() | (published <= end)
    return df[known].reset_index(drop=True)


def cumulative(downloads: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``downloads`` that are lifetime totals (``period`` "cumulative"), not the figure
    of a quarter or a year. A package without a ``period`` field holds only cumulative figures."""
    if "period" not in downloads.columns:
        return downloads
    return downloads[downloads["period"] == "cumulative"]


def _period_end(text: str, name: str) -> pd.Timestamp:
    """Last day of the period a partial ISO date names ("2021-07" -> 31 Jul 2021)."""
    try:
        return pd.Timestamp(partial_date_bounds(str(text).strip())[1])
    except (ValueError, TypeError):
        raise ValueError(
            f"{name} must be an ISO date such as 2021-07-31 (or 2021-07, 2021), not {text!r}"
        ) from None


def known(pkg: Package, name: str, as_of: str | None) -> pd.DataFrame:
    """Dataset ``name`` of ``pkg`` (columns of :meth:`analysis.data.Package.load`), only the
    rows known by ``as_of``: their period ended by then and their source was out by then
    (:func:`known_by` with the package's ``sources``). Raises as ``known_by`` does."""
    return known_by(pkg.load(name), as_of, pkg.load("sources") if as_of else None)


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


def companies(pkg: Package) -> pd.DataFrame:
    """The companies vocabulary (``pkg.load("companies")``) with ``aliases`` as lists.

    Columns: company (string), name_zh (string), aliases (object: list[str]), parent (string),
    kind (string), description (string), source_id (string).
    """
    df = pkg.load("companies")
    df["aliases"] = [
        [a.strip() for a in str(s).split(";") if a.strip()] if pd.notna(s) else []
        for s in df["aliases"]
    ]
    return df


def resolve_company(pkg: Package, name: str) -> str:
    """Canonical company name for a canonical name, Chinese name or alias (case-insensitive).

    Raises :class:`UnknownCompanyError` with the closest names when nothing matches.
    """
    lookup: dict[str, str] = {}
    for row in companies(pkg).itertuples(index=False):
        for n in [row.company, row.name_zh, *row.aliases]:
            if isinstance(n, str) and n:
                lookup[n.casefold()] = row.company
    key = str(name).strip().casefold()
    if key in lookup:
        return lookup[key]
    close = difflib.get_close_matches(key, list(lookup), n=3, cutoff=0.5)
    raise UnknownCompanyError(str(name), list(dict.fromkeys(lookup[c] for c in close)))


def company_profile(pkg: Package, name: str, as_of: str | None = None) -> dict:
    """Everything the data holds on one company, whatever name it is asked by.

    Returns a dict: ``company`` (canonical name, str), ``as_of`` (the date asked, or None),
    ``review_threshold`` (users, int, of the review rule known by ``as_of``: see
    :func:`review_threshold`; None if none was), ``companies`` (its row), and one DataFrame per
    dataset filtered to it — ``downloads`` (apps it owns), ``funding_rounds``, ``stakes`` (as
    investor or as company held), ``user_bases``, ``regulatory_events``, ``listings`` — with
    the columns of :meth:`analysis.data.Package.load`, only rows known by ``as_of``.
    Raises :class:`UnknownCompanyError` for an unknown name.
    """
    canonical = resolve_company(pkg, name)
    table = companies(pkg)
    out: dict = {
        "company": canonical,
        "as_of": as_of,
        "review_threshold": review_threshold(pkg, as_of),
        "companies": table[table["company"] == canonical].reset_index(drop=True),
    }
    for ds in ("downloads", "funding_rounds", "user_bases", "regulatory_events", "listings"):
        df = known(pkg, ds, as_of)
        out[ds] = df[df["company"] == canonical].reset_index(drop=True)
    stakes = known(pkg, "stakes", as_of)
    out["stakes"] = stakes[
        (stakes["company"] == canonical) | (stakes["investor"] == canonical)
    ].reset_index(drop=True)
    return out


# --------------------------------------------------------------------------- the review rule


def review_threshold(pkg: Package, as_of: str | None = None) -> int | None:
    """User threshold (users) of the latest regulatory event known by ``as_of`` that sets one.

    None if no event known then sets one.
    """
    ev = known(pkg, "regulatory_events", as_of)
    ev = ev[ev["threshold_users"].notna()].sort_values("date_start")
    return None if ev.empty else int(ev["threshold_users"].iloc[-1])


_EXPOSURE_DTYPES = {
    "company": "string",
    "users": "Float64",
    "qualifier": "string",
    "metric": "string",
    "over_threshold": "string",
    "overseas_listing": "string",
    "under_review": "bool",
    "source_id": "string",
}


def _exposure_row(company: str, users, listings, events, threshold: int) -> dict:
    """One company's row of :func:`review_exposure` from its user bases, listings and events."""
    u = users[users["company"] == company]
    best = rank(u, value="users").iloc[0] if not u.empty else None
    fig = None if best is None else Figure.or_none(best["users"], best["qualifier"])
    lst = listings[(listings["company"] == company) & listings["overseas"].fillna(False)]
    ev = events[(events["company"] == company) & (events["event_type"] == "review_opened")]
    return {
        "company": company,
        "users": None if fig is None else fig.value,
        "qualifier": None if fig is None else fig.qualifier,
        "metric": None if best is None else best["metric"],
        "over_threshold": "unknown" if fig is None else exceeds(fig, threshold),
        "overseas_listing": ", ".join(sorted(set(lst["status"])))
        if not lst.empty
        else "none known",
        "under_review": not ev.empty,
        "source_id": None if best is None else best["source_id"],
    }


def review_exposure(
    pkg: Package, threshold: int = 1_000_000, as_of: str | None = None
) -> pd.DataFrame:
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
    users = known(pkg, "user_bases", as_of)
    listings = known(pkg, "listings", as_of)
    events = known(pkg, "regulatory_events", as_of)
    names = sorted(
        set(users["company"]) | set(listings["company"]) | set(events["company"].dropna())
    )
    rows = [_exposure_row(c, users, listings, events, threshold) for c in names]
    df = pd.DataFrame(rows, columns=list(rows[0]) if rows else None)
    if df.empty:
        return df
    return (
        df.astype(_EXPOSURE_DTYPES)
        .sort_values(["users", "company"], ascending=[False, True], na_position="last")
        .reset_index(drop=True)
    )


def threshold_sensitivity(pkg: Package, thresholds, as_of: str | None = None) -> pd.DataFrame:
    """Who is over each of several user thresholds: a company x threshold grid of answers.

    ``thresholds``: iterable of user counts (ints >= 0). Returns one row per company of
    :func:`review_exposure`, columns ``company`` (string), ``users`` (Float64), ``qualifier``
    (string), ``source_id`` (string, of the user figure), then one string column per threshold,
    named by the threshold (e.g. "1000000"), holding "yes" / "no" / "undetermined" / "unknown".
    Raises ``ValueError`` for no thresholds.
    """
    thresholds = sorted({int(t) for t in thresholds})
    if not thresholds:
        raise ValueError("give at least one threshold")
    base = review_exposure(pkg, thresholds[0], as_of=as_of)
    out = base[["company", "users", "qualifier", "source_id"]].copy()
    for t in thresholds:
        exp = review_exposure(pkg, t, as_of=as_of).set_index("company")["over_threshold"]
        out[str(t)] = out["company"].map(exp).astype("string")
    return out


# --------------------------------------------------------------------------- downloads, money


_CLUB_COLUMNS = [
    "app",
    "company",
    "downloads",
    "qualifier",
    "reached",
    "rank",
    "as_of",
    "source_id",
]


def milestone_club(
    pkg: Package, milestone: float = 3_000_000_000, as_of: str | None = None
) -> pd.DataFrame:
    """Apps whose cumulative downloads reached ``milestone`` (downloads), qualifier-aware.

    Source: Sensor Tower via TechCrunch, Jul 2021 (App Store and Google Play).
    Returns apps that reached it ("yes") or may have ("undetermined"), ranked by downloads:
    columns ``app`` (string), ``company`` (string), ``downloads`` (Float64, count),
    ``qualifier`` (string), ``reached`` (string: "yes" / "undetermined"), ``rank`` (Int64),
    ``as_of`` (string), ``source_id`` (string). Raises ``ValueError`` for a negative milestone.
    """
    if milestone < 0:
        raise ValueError("milestone must be a number of downloads >= 0")
    dl = cumulative(known(pkg, "downloads", as_of))
    dl = dl[dl["measure"] == "downloads"].rename(columns={"value": "downloads"})
    if dl.empty:
        return pd.DataFrame(columns=_CLUB_COLUMNS)
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
    club = rank(club, value="downloads").sort_values(["rank", "app"]).reset_index(drop=True)
    return club[_CLUB_COLUMNS]


def rounds_since(pkg: Package, since: str | None = None, as_of: str | None = None) -> pd.DataFrame:
    """Funding rounds announced on or after ``since`` (ISO date; a round dated "2018" counts
    from 1 Jan 2018), known by ``as_of``. Columns of ``pkg.load("funding_rounds")``.
    Raises ``ValueError`` if ``since`` is not an ISO date.
    """
    df = known(pkg, "funding_rounds", as_of)
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


def stakes_of(pkg: Package, investor: str | None = None, as_of: str | None = None) -> pd.DataFrame:
    """Stakes held by ``investor`` (canonical name or alias; ``None`` or "" for every investor).

    Columns of ``pkg.load("stakes")``. Raises :class:`UnknownCompanyError` for an unknown
    investor.
    """
    df = known(pkg, "stakes", as_of)
    if investor:
        df = df[df["investor"] == resolve_company(pkg, investor)]
    return df.sort_values(["investor", "company"]).reset_index(drop=True)


# --------------------------------------------------------------------------- every figure


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
    return label, unit


def key_figures(pkg: Package, as_of: str | None = None) -> pd.DataFrame:
    """Every figure in the data, one row each, with its qualifier, as_of and source.

    Columns: ``subject`` (string: the app or company, "investor in company" for stakes),
    ``measure`` (string), ``value`` (Float64, in ``unit``), ``unit`` (string: USD, percent,
    users, downloads), ``qualifier`` (string), ``as_of`` (string, partial ISO date),
    ``dataset`` (string), ``source_id`` (string). Sorted by dataset order, then subject.
    """
    rows = []
    for ds, col, qcol, unit, subject_cols, label in _FIGURES:
        df = known(pkg, ds, as_of)
        for rec in df[df[col].notna()].to_dict("records"):
            measure, row_unit = _measure_and_unit(ds, rec, unit, label)
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
                }
            )
    out = pd.DataFrame(rows, columns=_KEY_FIGURE_COLUMNS)
    return out.astype(
        {c: "string" for c in _KEY_FIGURE_COLUMNS if c != "value"} | {"value": "Float64"}
    )


# --------------------------------------------------------------------------- events


_EVENT_VERBS = {
    "review_opened": "review opened",
    "app_removal_ordered": "app removal ordered",
    "draft_rule_published": "draft rule published",
    "rules_introduced": "rules introduced",
    "rule_enacted": "rule enacted",
    "fine": "fine",
}


def event_timeline(
    pkg: Package,
    as_of: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> pd.DataFrame:
    """Regulatory events dated to the day, for a timeline, oldest first.

    ``since``/``until`` (ISO dates, inclusive) bound the window; ``as_of`` keeps what was known
    by then. Columns: ``date_start`` (datetime64), ``date`` (string), ``label`` (string, e.g.
    "Didi: review opened", "Draft rule published"), ``event_type``, ``company``, ``source_id`` (string).
    """
    ev = known(pkg, "regulatory_events", as_of)
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
