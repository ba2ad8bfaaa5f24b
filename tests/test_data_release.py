"""Release 2 of data/: each evidence phrase reads as its qualifier; the issue's minimums hold."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from analysis.data import Package

# The project's reading of qualifier words (README, "The datasets").
WORDS = {
    "approximate": r"almost|nearly|just under|about|around|some|roughly|approximately|close to",
    "at_least": r"more than|over|exceed\w*|surpass\w*|at least|above|upwards of|north of|cross\w*",
    "at_most": r"up to|as much as|less than|under|at most|below",
}
# A stated range ("$13 to $14", "between $17 and $19") gives its top as an at_most figure.
RANGE = r"\d[\d.]*\s*(?:to|and)\s*(?:US)?(?:USD|HK)?\s?\$?\s?\d"
NUMBER = r"\d|\bone\b|\btwo\b|\bthree\b|\bfive\b|\ba fifth\b"


def allowed_qualifiers(phrase: str) -> set[str]:
    """Qualifiers a phrase allows: those whose words it uses, else exact or approximate."""
    phrase = re.sub(r"\w+-over-\w+", "", phrase)  # "quarter-over-quarter" qualifies nothing
    found = {
        q for q, words in WORDS.items() if re.search(rf"\b(?:{words})\b", phrase, re.IGNORECASE)
    }
    # "just under" is approximate, not at_most
    if re.search(r"\bjust under\b", phrase, re.IGNORECASE):
        found.discard("at_most")
    allowed = found or {"exact", "approximate"}
    if re.search(RANGE, phrase):
        allowed |= {"at_most", "exact"}
    return allowed


def _figures() -> pd.DataFrame:
    """One row per figure given in the package: dataset, id, figure, value, qualifier, evidence."""
    rows = []
    for res in Package.open().descriptor()["resources"]:
        fields = res["schema"]["fields"]
        quals = {f["qualifies"]: f["name"] for f in fields if f.get("qualifies")}
        for ev in (f for f in fields if f.get("evidences")):
            df = Package.open().load(res["name"])
            fig = ev["evidences"]
            for _, r in df[df[fig].notna()].iterrows():
                q = quals.get(fig)
                rows.append(
                    {
                        "dataset": res["name"],
                        "id": r.iloc[0],
                        "figure": fig,
                        "qualifier": r[q] if q else None,
                        "evidence": r[ev["name"]],
                    }
                )
    return pd.DataFrame(rows)


FIGURES = _figures()


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("almost 500 million users annually", {"approximate"}),
        ("surpassed 3 billion downloads", {"at_least"}),
        ("could raise as much as $1.57 billion", {"at_most"}),
        ("a price range of $13 to $14 each", {"exact", "approximate", "at_most"}),
        ("raised $4.4 billion", {"exact", "approximate"}),
        ("climbed 2% quarter-over-quarter, to 177.5 million", {"exact", "approximate"}),
    ],
)
def test_qualifier_words(phrase, expected):
    assert allowed_qualifiers(phrase) == expected


def test_every_evidence_reads_as_its_qualifier():
    bad = [
        f"{r.dataset}/{r.id}/{r.figure}: {r.qualifier} but {r.evidence!r}"
        for r in FIGURES.itertuples()
        if pd.notna(r.qualifier) and r.qualifier not in allowed_qualifiers(r.evidence)
    ]
    assert not bad, "\n".join(bad)


def test_every_evidence_states_a_number():
    bad = [
        f"{r.dataset}/{r.id}: {r.evidence!r}"
        for r in FIGURES.itertuples()
        if not re.search(NUMBER, r.evidence)
    ]
    assert not bad, "\n".join(bad)


def test_release_2_minimums():
    sources = Package.open().load("sources")
    assert len(sources) >= 10 and sources["url"].notna().sum() >= 8
    assert len(FIGURES) >= 70


def test_series_of_dated_points():
    ub = Package.open().load("user_bases")
    dl = Package.open().load("downloads")
    series = [
        ub[ub["metric"] == "transacting_users"],
        ub[(ub["product"] == "TikTok (global)") & (ub["metric"] == "monthly_active_users")],
        ub[(ub["product"] == "TikTok (United States)") & (ub["metric"] == "monthly_active_users")],
        dl[
            (dl["app"] == "TikTok")
            & (dl["measure"] == "downloads")
            & (dl["period"] == "cumulative")
        ],
    ]
    for s in series:
        assert s["as_of"].nunique() >= 3


@pytest.mark.parametrize(
    ("dataset", "ids", "column"),
    [  # the same figure, two sources, two values: each kept as its own row
        ("funding_rounds", ["banma-2021", "banma-2021-reuters"], "amount_usd"),
        (
            "stakes",
            ["softbank-didi-pre-ipo-equalocean", "softbank-didi-2021-06-30-foxbusiness"],
            "stake_pct",
        ),
        (
            "user_bases",
            ["tiktok-global-mau-2019-12-billboard", "tiktok-global-mau-2019-12-bol"],
            "users",
        ),
        ("downloads", ["tiktok-downloads-2018-cnet", "tiktok-downloads-2018-ie"], "value"),
    ],
)
def test_disagreements_are_kept_apart(dataset, ids, column):
    df = Package.open().load(dataset)
    rows = df.set_index(df.columns[0]).loc[ids]
    assert rows[column].nunique() == 2 and rows["source_id"].nunique() == 2
