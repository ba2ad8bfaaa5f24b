"""The phrase reader's fast path (:func:`analysis.data.phrases.read_simple`) reads every phrase
it takes exactly as the full lexer (:func:`analysis.data.phrases.scan`) does, and takes the
common shapes (so validating many rows is fast). No timing is measured here."""

from __future__ import annotations

import csv

from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_evidence import REAL_PHRASES

from analysis import paths
from analysis.data.evidence import read_figure
from analysis.data.phrases import QUALIFIER_AFTER, QUALIFIER_WORDS, fold, read_simple, scan


def _same_as_scan(phrase: str) -> bool:
    """True when the fast path leaves the phrase to scan, or reads it as scan does."""
    fast = read_simple(phrase)
    return fast is None or scan(fold(phrase)) == [fast]


def _package_phrases() -> list[str]:
    found = []
    for path in sorted((paths.PROJECT_ROOT / "data").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                found += [v for k, v in row.items() if k and "evidence" in k and v]
    return found


def test_real_and_package_phrases_read_alike():
    phrases = [p for p, *_ in REAL_PHRASES] + _package_phrases()
    assert all(_same_as_scan(p) for p in phrases)
    taken = [p for p in phrases if read_simple(p) is not None]
    assert len(taken) > len(phrases) / 3  # the shape is common, not a curiosity


def test_the_common_shapes_take_the_fast_path():
    for phrase in [
        "about 123456789 users",
        "raised US$1.7 billion",
        "a valuation close to $12bn",
        "no more than 200 million users",
        "in excess of 10,000 drivers",
        "utilized by almost 500 million users annually",
    ]:
        assert read_simple(phrase) is not None, phrase
        assert _same_as_scan(phrase), phrase


def test_shapes_scan_must_read_are_left_to_it():
    for phrase in [
        "surpassed the 3 billion mark",  # "the": only verbs of passing take it
        "about 2021 users",  # a year
        "about 55 users",  # a small bare number
        "$2 billion or more",  # a qualifier after
        "about USD 4 billion",  # a currency word
        "three million users",  # number words
        "a stake of 20 percent",  # a percentage
        "$1-2 billion",  # a range
        "grew by 29.3% to 400.4 million",  # two figures
    ]:
        assert read_simple(phrase) is None, phrase


_WORDS = (
    "about over the just under no more than in excess of raised users downloads a an one "
    "million billion half or and plus percent per cent usd dollars yuan july may k m bn mn "
    "surpassed mark well close to up as much many at least most from by hundred twelve points "
    "percentage us hong kong tops crossed upwards north some almost nearly fewer less below "
    "above estimated higher lower fifth App Users About Over Million"
).split()
_CURRENCIES = ["", "", "$", "US$", "us$", "HK$", "USD ", "$ ", "€"]
_NUMBERS = st.one_of(
    st.integers(0, 10**12).map(str),
    st.integers(0, 10**12).map("{:,}".format),
    st.integers(1700, 2100).map(str),
    st.decimals(0, 9999, places=2, allow_nan=False).map(str),
    st.sampled_from(["1,2345", "1.", "0.5", "00", "12,345,67", "99", "100"]),
)
_SCALES = ["", "", " million", " Billion", " thousand", " trillion", "bn", "m", "M", "k", "mln",
           "-million", "million", " m", "  million", " millions"]  # fmt: skip


_BEFORE = st.sampled_from(
    ["", "", "", "the", *QUALIFIER_WORDS, *(f"{w} the" for w in QUALIFIER_WORDS)]
)
_AFTER = st.sampled_from(["", "", "", *QUALIFIER_AFTER])


@settings(deadline=None, max_examples=1500)  # a loaded CI machine must not fail a reading
@given(
    st.tuples(st.lists(st.sampled_from(_WORDS), max_size=3), _BEFORE),
    st.sampled_from(_CURRENCIES),
    _NUMBERS,
    st.sampled_from(_SCALES),
    st.tuples(
        st.lists(st.sampled_from(_WORDS), max_size=2),
        _AFTER,
        st.lists(st.sampled_from(_WORDS), max_size=2),
    ),
    st.sampled_from([" ", " ", "  ", ", ", "-"]),
)
@example((["about"], ""), "", "123456789", "", ([], "", ["users"]), " ")
@example(([], "surpassed the"), "$", "5", " billion", (["users"], "or more", []), " ")
def test_generated_phrases_read_alike(lead, currency, number, scale, trail, glue):
    words = [*lead[0], lead[1], f"{currency}{number}{scale}", *trail[0], trail[1], *trail[2]]
    phrase = glue.join(w for w in words if w)
    assert _same_as_scan(phrase)
    fast = read_simple(phrase)
    if fast is not None:  # and read_figure, which takes the fast path, gives scan's reading
        got = read_figure(phrase)
        assert (got.value, got.unit, got.qualifier, got.span) == (
            fast.value,
            fast.unit,
            fast.qualifier,
            (fast.start, fast.end),
        )
