"""The figure-phrase reader: real phrasings, the seed article, checks, positions, refusals."""

from __future__ import annotations

import csv

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import paths
from analysis.data import evidence
from analysis.data.evidence import (
    EvidenceError,
    Reading,
    agrees,
    check,
    extract,
    find_figures,
    normalise,
    occurs_in,
    read_figure,
)
from analysis.data.phrases import QUALIFIER_AFTER, QUALIFIER_WORDS
from analysis.errors import RoundupError

B, M = 1e9, 1e6

# (phrase, value, unit, qualifier): how news copy states IPO sizes, downloads, stakes, users.
REAL_PHRASES = [
    # the seed article
    ("utilized by almost 500 million users annually", 500 * M, "count", "approximate"),
    ("exceeding $2.5 billion in consumer spending", 2.5 * B, "USD", "at_least"),
    ("TikTok has surpassed 3 billion downloads", 3 * B, "count", "at_least"),
    ("Following its $4 billion IPO in New York", 4 * B, "USD", "exact"),
    ("bolstered its ownership stake in Meituan, now holding 17.2%", 17.2, "percent", "exact"),
    ("achieving a valuation exceeding $1 billion", 1 * B, "USD", "at_least"),
    ("supports a user base of three million", 3 * M, "count", "exact"),
    ("recently secured $460 million in funding", 460 * M, "USD", "exact"),
    ("This investment, totaling $400 million", 400 * M, "USD", "exact"),
    ("a user base exceeding one million individuals", 1 * M, "count", "at_least"),
    # IPO sizes, prices, valuations
    ("Didi raised $4.4 billion in its New York listing", 4.4 * B, "USD", "exact"),
    ("priced at $14 per share", 14, "USD", "exact"),
    ("raised US$1.6 billion", 1.6 * B, "USD", "exact"),
    ("valued at about $12 billion", 12 * B, "USD", "approximate"),
    ("upwards of $100 million", 100 * M, "USD", "at_least"),
    ("a valuation of roughly $68 billion", 68 * B, "USD", "approximate"),
    ("an IPO that could raise as much as $10 billion", 10 * B, "USD", "at_most"),
    ("a market value of more than $70 billion", 70 * B, "USD", "at_least"),
    ("raised $25bn in the world's largest IPO", 25 * B, "USD", "exact"),
    ("a $1.5bn funding round", 1.5 * B, "USD", "exact"),
    ("sold shares worth HK$5.8 billion", 5.8 * B, "HKD", "exact"),
    ("a fine of 18.2 billion yuan", 18.2 * B, "CNY", "exact"),
    ("an estimated $300 billion valuation", 300 * B, "USD", "approximate"),
    ("valued at north of $400 billion", 400 * B, "USD", "at_least"),
    ("worth close to $1 trillion", 1e12, "USD", "approximate"),
    ("revenue of 1,234.5 million dollars", 1234.5 * M, "USD", "exact"),
    ("a funding round of $2 billion or more", 2 * B, "USD", "at_least"),
    ("the company raised USD 300 million", 300 * M, "USD", "exact"),
    ("a $500m investment", 500 * M, "USD", "exact"),
    ("a $4-billion IPO", 4 * B, "USD", "exact"),
    ("1.6 billion U.S. dollars", 1.6 * B, "USD", "exact"),
    ("US$ 1.6bn", 1.6 * B, "USD", "exact"),
    ("Rmb5bn in loans", 5 * B, "CNY", "exact"),
    ("a $4 billion-plus deal", 4 * B, "USD", "at_least"),
    ("an app priced at $0.99", 0.99, "USD", "exact"),
    # downloads and users
    ("more than 1 billion monthly active users", 1 * B, "count", "at_least"),
    ("some 377 million annual active users", 377 * M, "count", "approximate"),
    ("nearly 2 billion downloads", 2 * B, "count", "approximate"),
    ("over 600 million daily active users", 600 * M, "count", "at_least"),
    ("at least 100,000 merchants", 100_000, "count", "at_least"),
    ("around 1.2 billion monthly users", 1.2 * B, "count", "approximate"),
    ("approximately 900 million users", 900 * M, "count", "approximate"),
    ("just under 500 million users", 500 * M, "count", "approximate"),
    ("fewer than 10,000 employees", 10_000, "count", "at_most"),
    ("up to 50 million users", 50 * M, "count", "at_most"),
    ("no more than 200 million users", 200 * M, "count", "at_most"),
    ("a user base of half a billion", 500 * M, "count", "exact"),
    ("two and a half million drivers", 2.5 * M, "count", "exact"),
    ("a million-plus downloads", 1 * M, "count", "at_least"),
    ("500M+ installs", 500 * M, "count", "at_least"),
    ("3 billion downloads or more", 3 * B, "count", "at_least"),
    ("twenty-five million subscribers", 25 * M, "count", "exact"),
    ("a hundred million users", 100 * M, "count", "exact"),
    ("1,000,000 users", 1 * M, "count", "exact"),
    ("with 1.3bn users", 1.3 * B, "count", "exact"),
    ("topped 100 million users", 100 * M, "count", "at_least"),
    ("in excess of 10,000 drivers", 10_000, "count", "at_least"),
    ("a 3-million-user milestone", 3 * M, "count", "exact"),
    # stakes
    ("a 20% stake", 20, "percent", "exact"),
    ("a stake of about 5 percent", 5, "percent", "approximate"),
    ("owns 33.3 per cent of the company", 33.3, "percent", "exact"),
    ("less than 1% of the shares", 1, "percent", "at_most"),
    ("holding twenty percent", 20, "percent", "exact"),
    ("shares fell 5.5 percentage points", 5.5, "percentage_points", "exact"),
]


@pytest.mark.parametrize(("phrase", "value", "unit", "qualifier"), REAL_PHRASES)
def test_real_phrases(phrase, value, unit, qualifier):
    got = read_figure(phrase)
    assert got.value == pytest.approx(value, rel=1e-12)
    assert (got.unit, got.qualifier) == (unit, qualifier)
    assert phrase[got.span[0] : got.span[1]] == got.number_text


def test_reading_gives_the_number_text_and_qualifier_words():
    got = read_figure("a valuation exceeding $1 billion")
    assert got == Reading(1e9, "USD", "at_least", "$1 billion", (22, 32), "exceeding")
    assert str(got) == ">=1,000,000,000 USD (at_least)"


def test_curly_quotes_and_dashes_do_not_change_spans():
    phrase = "Didi app – utilized by almost 500 million users – “annually”"
    got = read_figure(phrase)
    assert phrase[slice(*got.span)] == got.number_text == "500 million"
    assert read_figure("a 20%–owned unit").number_text == "20%"


def test_word_order_of_qualifiers():
    assert read_figure("more than $2 billion").qualifier == "at_least"
    assert read_figure("$2 billion or more").qualifier == "at_least"
    assert read_figure("$2 billion or less").qualifier == "at_most"
    # A qualifier must touch the figure.
    assert read_figure("revenue more than doubled to $2 billion").qualifier == "exact"
    # "the" may stand between a verb of passing and the figure, not a preposition.
    assert read_figure("surpassed the 3 billion downloads mark").qualifier == "at_least"
    assert read_figure("under the $4 billion deal").qualifier == "exact"
    assert read_figure("questions about the $4 billion IPO").qualifier == "exact"
    # A qualifier is a word of its own.
    assert read_figure("turnover $5 million").qualifier == "exact"
    assert read_figure("moreover 5 million users").qualifier == "exact"
    assert read_figure("handsome 5 million users").qualifier == "exact"


def test_conflicting_qualifiers_are_refused():
    with pytest.raises(EvidenceError, match="conflicting"):
        read_figure("about $2 billion or more")


def test_plus_between_two_figures_is_not_a_qualifier():
    got = read_figure("$4 billion plus fees", unit="USD")
    assert got.qualifier == "exact"


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phrase",
    [
        "backed by SoftBank",
        "on July 2nd",
        "on July 4",
        "clarified in April 2020",
        "initially raised capital in 2018",
        "the two major companies",
        "one of the largest",
        "hundreds of millions of users",
        "the iPhone 12 sold 24/7",
        "COVID-19 hit 5G rollouts in Q2",
        "shares rose 3.5x on 2021-07-02 at 10:30",
        "a 10-K filing for the 1990s",
        "",
    ],
)
def test_no_figure(phrase):
    with pytest.raises(EvidenceError, match="states no figure"):
        read_figure(phrase)


def test_evidence_error_is_a_roundup_error():
    assert issubclass(EvidenceError, RoundupError)


def test_two_figures_need_a_unit():
    phrase = "bolstered its stake to 17.2% with an investment totalling $400 million"
    with pytest.raises(EvidenceError, match=r"2 figures.*unit="):
        read_figure(phrase)
    assert read_figure(phrase, unit="percent").value == 17.2
    assert read_figure(phrase, unit="USD").value == 400e6
    with pytest.raises(EvidenceError, match="no figure in count"):
        read_figure(phrase, unit="count")


def test_two_figures_of_one_unit_are_refused_even_with_a_unit():
    with pytest.raises(EvidenceError, match="2 figures"):
        read_figure("priced at $14 per share to raise $4.4 billion", unit="USD")


def test_a_year_is_not_a_figure_but_a_separated_number_is():
    with pytest.raises(EvidenceError, match="no figure"):
        read_figure("in 1999 users")
    assert read_figure("1,999 users").value == 1999


def test_a_date_beside_a_figure_is_not_a_second_figure():
    got = read_figure(
        "initially raised capital in 2018, achieving a valuation exceeding $1 billion"
    )
    assert (got.value, got.qualifier) == (1e9, "at_least")
    assert read_figure("on July 10th, 3 million users").value == 3e6


@pytest.mark.parametrize(
    "phrase", ["between $1-2 billion", "3 to 5 million users", "$1 billion - $2 billion"]
)
def test_ranges_are_refused(phrase):
    with pytest.raises(EvidenceError, match="a range"):
        read_figure(phrase)


@pytest.mark.parametrize(
    ("phrase", "value"),
    [
        ("ten thousand employees", 10_000),
        ("one hundred and twenty thousand drivers", 120_000),
        ("nine hundred ninety nine thousand users", 999_000),
        ("One Million users", 1_000_000),
        ("a billion downloads", 1_000_000_000),
        ("twenty percent", 20),
    ],
)
def test_number_words(phrase, value):
    assert read_figure(phrase).value == value


def test_number_words_text2num_refuses_are_named():
    with pytest.raises(EvidenceError, match="cannot read the number words 'one two million'"):
        read_figure("one two million users")


def test_small_numbers_count_with_a_unit_or_a_scale():
    assert read_figure("a 5% stake").value == 5
    assert read_figure("priced at $14").value == 14
    assert read_figure("5 million users").value == 5e6
    assert read_figure("150 employees").value == 150
    assert read_figure("12 months after raising $50 million").value == 50e6


def test_from_to_is_two_figures_not_a_range():
    with pytest.raises(EvidenceError, match="2 figures"):
        read_figure("grew from 1 million to 2 million users")


# --- check / agrees -----------------------------------------------------------------------------


def test_check_equal_qualifier_and_value():
    assert check(read_figure("surpassed 3 billion downloads"), 3e9, "at_least") is None
    assert agrees(read_figure("almost 500 million users"), 500_000_000, "approximate")


def test_exact_phrase_may_be_stored_approximate_but_not_bounded():
    got = read_figure("$4 billion IPO")
    assert agrees(got, 4e9, "exact")
    assert agrees(got, 4e9, "approximate")
    assert "reads exact, stored at_least" in check(got, 4e9, "at_least")
    assert not agrees(got, 4e9, "at_most")


def test_qualified_phrase_must_be_stored_with_its_qualifier():
    got = read_figure("exceeding $2.5 billion in consumer spending")
    assert "'exceeding'" in check(got, 2.5e9, "exact")
    assert not agrees(got, 2.5e9, "approximate")
    assert not agrees(read_figure("almost 500 million"), 500e6, "exact")


def test_check_values_and_units():
    got = read_figure("$460 million in funding")
    assert "reads 460,000,000, the stored value is 46,000,000" in check(got, 46e6, "exact")
    assert agrees(got, 460_000_000.0000001, "exact")
    assert "in USD, the stored figure in count" in check(got, 460e6, "exact", unit="count")
    assert agrees(read_figure("17.2%"), 17.2, "exact", unit="percent")
    with pytest.raises(EvidenceError, match="not one of"):
        check(got, 460e6, "roughly")


# --- normalise / occurs_in ----------------------------------------------------------------------


def test_normalise():
    assert (
        normalise("  TechCrunch’s  China\n Roundup – “data” ")
        == 'techcrunch\'s china roundup - "data"'
    )


def test_occurs_in_gives_line_and_column():
    text = "first line\nDidi app – utilized by  almost 500 million\nusers annually\n"
    assert occurs_in("utilized by almost 500 million users annually", text) == (2, 12)
    assert occurs_in("Didi", text) == (2, 1)
    assert occurs_in("more than 500 million", text) is None
    with pytest.raises(EvidenceError, match="empty"):
        occurs_in("  ", text)


# --- the seed article ---------------------------------------------------------------------------

SEED_FIGURES = [
    # (phrase as found, value, unit, qualifier, line)
    ("$4 billion", 4e9, "USD", "exact", 18),
    ("almost 500 million", 500e6, "count", "approximate", 18),
    ("exceeding one million", 1e6, "count", "at_least", 22),
    ("surpassed 3 billion", 3e9, "count", "at_least", 27),
    ("exceeding $2.5 billion", 2.5e9, "USD", "at_least", 27),
    ("17.2%", 17.2, "percent", "exact", 28),
    ("$400 million", 400e6, "USD", "exact", 28),
    ("$460 million", 460e6, "USD", "exact", 29),
    ("three million", 3e6, "count", "exact", 29),
    ("exceeding $1 billion", 1e9, "USD", "at_least", 29),
]


def test_find_figures_on_the_seed_article(seed_article):
    found = extract(seed_article)
    got = [(f.phrase, f.reading.value, f.reading.unit, f.reading.qualifier, f.line) for f in found]
    assert got == SEED_FIGURES
    first = found[0]
    assert (first.line, first.column) == (18, 126)
    assert first.context == "involving Didi. Following its $4 billion IPO in New York,"
    assert str(first).startswith("18:126\t$4 billion\t4,000,000,000 USD (exact)")


def _package_rows():
    """(file, value, qualifier) of every figure the package holds from the seed article."""
    figures = {
        "downloads.csv": [("value", "qualifier")],
        "funding_rounds.csv": [
            ("amount_usd", "qualifier"),
            ("valuation_usd", "valuation_qualifier"),
        ],
        "listings.csv": [("amount_raised_usd", "qualifier")],
        "stakes.csv": [("stake_pct", "qualifier"), ("investment_usd", "investment_qualifier")],
        "user_bases.csv": [("users", "qualifier")],
        "regulatory_events.csv": [("threshold_users", None)],
    }
    data = paths.data_dir()
    for name, columns in figures.items():
        if not (data / name).is_file():
            continue
        with open(data / name, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if not row.get("source_id", "").startswith("tc-2021-07"):
                    continue
                for value_col, qualifier_col in columns:
                    if row.get(value_col):
                        qualifier = row[qualifier_col] if qualifier_col else "at_least"
                        yield name, float(row[value_col]), qualifier


def test_every_package_figure_from_the_seed_is_found(seed_article):
    found = [f.reading for f in find_figures(seed_article.read_text(encoding="utf-8"))]
    rows = list(_package_rows())
    assert rows, "the package holds figures from the seed article"
    for name, value, qualifier in rows:
        assert any(agrees(r, value, qualifier) for r in found), (name, value, qualifier)


def test_find_figures_lists_ranges_with_their_problem():
    found = find_figures("Sales rose 3 to 5 million units.\nIn 2019, about 2 billion users.")
    assert [(f.line, f.reading is None) for f in found] == [(1, True), (2, False)]
    assert "a range" in found[0].problem
    assert found[1].phrase == "about 2 billion"


def test_extract_names_an_unreadable_file(tmp_path):
    with pytest.raises(EvidenceError, match="cannot read source text"):
        extract(tmp_path / "missing.txt")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"caf\xe9 $5 million")
    with pytest.raises(EvidenceError, match="latin1.txt"):
        extract(bad)


# --- the qualifier table and its documentation -----------------------------------------------


def test_docstring_lists_every_qualifier_word():
    doc = " ".join(evidence.__doc__.split())
    for word in [*QUALIFIER_WORDS, *QUALIFIER_AFTER]:
        assert word in doc, word


@pytest.mark.parametrize(("words", "qualifier"), sorted({**QUALIFIER_WORDS}.items()))
def test_each_qualifier_word_before_a_figure(words, qualifier):
    assert read_figure(f"{words} $3 billion").qualifier == qualifier


# --- properties ---------------------------------------------------------------------------------


@settings(deadline=None)  # a loaded CI machine must not fail a correct reading
@given(st.integers(min_value=0, max_value=10**12))
def test_digits_with_separators_read_back(n):
    text = f"{n:,} users"
    if n < 100:  # small bare counts are not figures; "1,800" is one, "1800" a year
        with pytest.raises(EvidenceError, match="no figure"):
            read_figure(text)
    else:
        assert read_figure(text).value == n


@settings(deadline=None)  # a loaded CI machine must not fail a correct reading
@given(
    st.decimals(min_value=0, max_value=999, places=2, allow_nan=False),
    st.sampled_from(["thousand", "million", "billion", "trillion"]),
)
def test_scaled_dollars_read_back(number, scale):
    factor = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}[scale]
    got = read_figure(f"raised ${number} {scale}")
    assert got.value == pytest.approx(float(number) * factor, rel=1e-12)
    assert (got.unit, got.qualifier) == ("USD", "exact")


@settings(deadline=None)  # a loaded CI machine must not fail a correct reading
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80))
def test_normalise_is_idempotent(text):
    assert normalise(normalise(text)) == normalise(text)


@settings(deadline=None)  # a loaded CI machine must not fail a correct reading
@given(
    st.lists(st.sampled_from(["word", "Didi", "–", "’s", "  ", "\n", "500"]), max_size=20),
    st.lists(st.sampled_from(["word", "Didi", "–", "’s", "  ", "\n", "500"]), max_size=20),
)
def test_occurs_in_finds_an_inserted_phrase(before, after):
    head = "".join(before)
    text = head + "exceeding $2.5 billion" + "".join(after)
    line, column = occurs_in("Exceeding  $2.5\nbillion", text)
    assert text.splitlines(keepends=True)[line - 1][column - 1 :].lower().startswith("exceeding")


@pytest.mark.parametrize(
    ("phrase", "where"),
    [
        ("utilized by almost 500 million users annually", (18, 346)),
        ("exceeding $2.5 billion in consumer spending", (27, 443)),
        ("surpassed 3 billion downloads", (27, 93)),
        ("$4 billion IPO", (18, 126)),
        ("now holding 17.2% of the company", (28, 119)),
        ("an investment, totaling $400 million", None),  # the article says "This investment"
        ("This investment, totaling $400 million", (28, 153)),
        ("a valuation exceeding $1 billion", (29, 417)),
        ("supports a user base of three million", (29, 328)),
        ("$460 million in funding", (29, 259)),
        ("a user base exceeding one million individuals", (22, 254)),
        ("TechCrunch's China Roundup", (4, 12)),  # a curly apostrophe in the article
        ("bolstered its stake to 17.2%", None),  # a paraphrase, not the article's words
    ],
)
def test_seed_evidence_occurs_in_the_local_copy(seed_article, phrase, where):
    assert occurs_in(phrase, seed_article.read_text(encoding="utf-8")) == where


_PIECES = ["$", "US$", "HK$", "1", "2.5", "1,000", "three", "million", "billion", "bn", "m", "%",
           " ", "-", "to", "and", "a", "half", "more than", "or more", "+", "the", "July", "2018",
           "users", "\n", "–", "’", "about", "under", "one", "hundred", "per cent"]  # fmt: skip


@settings(deadline=None)  # a loaded CI machine must not fail a correct reading
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map(" ".join))
def test_any_text_reads_or_is_refused_with_an_evidence_error(text):
    try:
        got = read_figure(text)
    except EvidenceError:
        pass
    else:
        assert text[slice(*got.span)] == got.number_text
        assert got.qualifier in evidence.QUALIFIERS and got.value >= 0
    for found in find_figures(text):
        line = text.split("\n")[found.line - 1]
        assert line[found.column - 1 :].startswith(found.phrase.split(" ")[0])
