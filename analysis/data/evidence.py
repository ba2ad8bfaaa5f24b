"""Evidence: read the source's own words for a figure, and check them against the stored value.

Every figure in the data package carries its evidence, a short phrase of the source ("almost 500
million users annually", "exceeding $2.5 billion in consumer spending"). This module reads such
a phrase as a value, unit and qualifier (:func:`read_figure`), checks it against the stored
value and qualifier (:func:`check`, :func:`agrees`), finds it in the source's local copy
(:func:`normalise`, :func:`occurs_in`) and lists every figure a source text states, for a curator
(:func:`find_figures`, :func:`extract`; the ``roundup extract FILE`` command). Pure: no pandas,
no I/O besides the file :func:`extract` is given.

Values are in base units: US dollars (not millions), counts (users, downloads), percent 0-100.
Units: ``"USD"`` (``$``, ``US$``, ``USD``, "dollars"); other currencies by ISO code (``"HKD"``
for ``HK$``, ``"CNY"`` for RMB/yuan/¥, ``"EUR"``, ``"GBP"``, ...); ``"percent"`` (``%``,
"percent", "per cent", "pct"); ``"percentage_points"``; ``"count"`` for a bare number (users,
downloads, companies: the phrase's noun says what is counted, the dataset's column says it too).
Numbers: digits with thousands separators and decimals ("1,234.5", "4.4"); number words read by
the ``text2num`` package ("three million", "twenty-five"); "a million", "half a billion",
"two and a half million"; scale words thousand/million/billion/trillion and abbreviations
k, m, mn, mln, b, bn, tn ("$5bn", "500M").

Qualifiers, the one table (``analysis.data.phrases.QUALIFIER_WORDS`` / ``QUALIFIER_AFTER``).
Words just before the figure; after a verb of passing (exceed-, surpass-, cross-, top-) a "the" may
stand between ("surpassed the 3 billion mark"), after a preposition not ("under the $4 billion
deal" reads exact):

==============  ============================================================================
approximate     almost, nearly, just under, about, around, some, roughly, approximately,
                close to, an estimated
at_least        more than, over, well over, exceeding, exceeds, exceeded, exceed, surpassed,
                surpassing, surpasses, surpass, crossed, crosses, crossing, at least, above,
                upwards of, north of, in excess of, greater than, topped, tops, topping
at_most         up to, as much as, as many as, less than, fewer than, under, at most,
                no more than, below
exact           none of these
==============  ============================================================================

Words just after the figure, or after up to two words naming what it counts ("$2 billion or
more", "3 billion downloads or more"): or more, or above, or higher, and above, and up, ``+``,
``-plus`` -> at_least; or less, or fewer, or below, or lower -> at_most. Word order does not
matter: "more than $2 billion" and "$2 billion or more" both read at_least.

Edge cases, decided:

* "almost" / "nearly" / "just under" read approximate, not at_most: the package stores "almost
  500 million" as approximately 500 million (a figure just under a round one).
* A qualifier must touch the figure: "more than doubled to $2 billion" reads exact $2 billion.
* Qualifier words before and after that disagree ("about $2 billion or more") are refused.
* Not figures: years ("2018"; "1,800" with a separator is a count), days of a month ("July 2",
  "4 July"; "2nd" is never a number), ISO dates and clock times ("2021-07-02", "10:30"), and
  bare numbers below 100 with no unit or scale, in digits or words ("the two companies", "one
  of", "12 months", "iPhone 12", "24/7"), unless they end a range ("3 to 5 million").
  "three million", "twenty percent", "$5", "150 employees" are figures. "¥" reads as yuan.
* Two figures joined by "-" or "to" ("$1-2 billion", "3 to 5 million") are a range, which no
  single value holds: :func:`read_figure` refuses it; "from 1 million to 2 million" is two figures.
* A phrase with two figures ("$400 million ... 17.2%") is refused unless ``unit=`` picks one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from analysis.data.phrases import Candidate, fold, read_simple, scan
from analysis.errors import RoundupError

__all__ = [
    "QUALIFIERS",
    "EvidenceError",
    "Found",
    "Reading",
    "agrees",
    "check",
    "extract",
    "find_figures",
    "normalise",
    "occurs_in",
    "read_figure",
]

QUALIFIERS = ("exact", "approximate", "at_least", "at_most")


class EvidenceError(RoundupError, ValueError):
    """A phrase states no figure, several, a range, or words we cannot read as one figure."""


def _number(value: float) -> str:
    """A value as a reader checks it: thousands separators, no exponent ("18,200,000,000")."""
    return f"{float(value):,.6f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Reading:
    """What a figure phrase states.

    ``value``: float in base units (USD, a count, percent 0-100); ``unit``: "USD", "percent",
    "count", "percentage_points" or an ISO currency code; ``qualifier``: one of QUALIFIERS;
    ``number_text``: the figure as written ("$2.5 billion"), at ``span`` (start, end offsets
    into the phrase); ``qualifier_text``: the qualifier words found ("exceeding"), or None.
    """

    value: float
    unit: str
    qualifier: str
    number_text: str
    span: tuple[int, int]
    qualifier_text: str | None = None

    def __str__(self) -> str:
        mark = {"exact": "", "approximate": "~", "at_least": ">=", "at_most": "<="}[self.qualifier]
        return f"{mark}{_number(self.value)} {self.unit} ({self.qualifier})"


@dataclass(frozen=True)
class Found:
    """One figure phrase in a source text, for ``roundup extract``.

    ``line``/``column``: 1-based position of the phrase (qualifier words included) in the text;
    ``phrase``: the figure with its qualifier words ("exceeding $2.5 billion"); ``context``: a
    few words either side, whitespace collapsed; ``reading``: what it reads as, or None with
    ``problem`` saying why not (a range, unreadable number words, conflicting qualifiers).
    """

    line: int
    column: int
    phrase: str
    context: str
    reading: Reading | None
    problem: str | None = None

    def __str__(self) -> str:
        said = str(self.reading) if self.reading else f"not read: {self.problem}"
        return f"{self.line}:{self.column}\t{self.phrase}\t{said}\t... {self.context} ..."


def _reading(text: str, c: Candidate) -> Reading:
    assert c.value is not None and c.unit is not None and c.qualifier is not None
    return Reading(
        c.value, c.unit, c.qualifier, text[c.start : c.end], (c.start, c.end), c.qualifier_text
    )


def read_figure(phrase: str, unit: str | None = None) -> Reading:
    """Read the one figure a phrase states: value, unit, qualifier, number text and span.

    ``unit`` ("USD", "percent", "count", ...) picks the figure of that unit when the phrase
    states figures of several units ("a 17.2% stake for $400 million"). Raises EvidenceError
    naming the phrase when it states no figure (of that unit), more than one, a range, number
    words that cannot be read, or qualifier words that contradict each other.
    """
    simple = read_simple(phrase)  # the commonest shape, read as scan reads it, only faster
    if simple is not None and (unit is None or simple.unit == unit):
        return _reading(phrase, simple)
    text = fold(phrase)
    found = scan(text)
    troubles = [c for c in found if c.problem]
    if troubles:
        raise EvidenceError(f"evidence {phrase!r}: {troubles[0].problem}")
    if unit is not None:
        found = [c for c in found if c.unit == unit]
    if not found:
        which = "no figure" if unit is None else f"no figure in {unit}"
        raise EvidenceError(f"evidence {phrase!r} states {which}")
    if len(found) > 1:
        listed = "; ".join(f"{phrase[c.start : c.end]!r} = {_reading(phrase, c)}" for c in found)
        hint = "shorten it" if unit else "shorten it or pass unit= to pick one"
        raise EvidenceError(f"evidence {phrase!r} states {len(found)} figures ({listed}); {hint}")
    return _reading(phrase, found[0])


def check(reading: Reading, value: float, qualifier: str, unit: str | None = None) -> str | None:
    """Why a reading does not state the stored ``value`` and ``qualifier`` (None when it does).

    Rule: values equal within float tolerance (relative 1e-9); the same qualifier, except that
    an unqualified (exact) phrase may be stored as ``approximate`` (a curator's judgement that a
    round figure, "$4 billion IPO", is rounded), never as at_least or at_most; the same unit
    when ``unit`` is given. Raises EvidenceError for a qualifier outside QUALIFIERS.
    """
    if qualifier not in QUALIFIERS:
        raise EvidenceError(f"qualifier {qualifier!r} is not one of {', '.join(QUALIFIERS)}")
    if unit is not None and reading.unit != unit:
        return f"{reading.number_text!r} is in {reading.unit}, the stored figure in {unit}"
    if not math.isclose(reading.value, float(value), rel_tol=1e-9, abs_tol=1e-9):
        return f"{reading.number_text!r} reads {_number(reading.value)}, the stored value is {_number(value)}"
    if reading.qualifier == qualifier:
        return None
    if reading.qualifier == "exact" and qualifier == "approximate":
        return None
    words = f"{reading.qualifier_text!r}" if reading.qualifier_text else "no qualifier words"
    return f"{reading.number_text!r} has {words}, so reads {reading.qualifier}, stored {qualifier}"


def agrees(reading: Reading, value: float, qualifier: str, unit: str | None = None) -> bool:
    """True when the reading states the stored value and qualifier (see :func:`check`)."""
    return check(reading, value, qualifier, unit) is None


# --- Where a phrase occurs --------------------------------------------------------------------


def _normalised_with_offsets(text: str) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, the offset it came from."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(fold(text)):
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
                where.append(i)
            continue
        for low in ch.casefold():
            out.append(low)
            where.append(i)
    if out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where


def normalise(text: str) -> str:
    """Text as phrases are compared: whitespace runs to one space (ends stripped), curly quotes
    and apostrophes straight, en/em dashes to '-', case folded."""
    return _normalised_with_offsets(text)[0]


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def occurs_in(phrase: str, text: str) -> tuple[int, int] | None:
    """The 1-based (line, column) in ``text`` where ``phrase`` first occurs, compared
    :func:`normalise`-d (so it may run across a line break), or None when it does not occur.
    Raises EvidenceError for an empty phrase."""
    wanted = normalise(phrase)
    if not wanted:
        raise EvidenceError("an empty evidence phrase occurs everywhere; give the source's words")
    flat, where = _normalised_with_offsets(text)
    at = flat.find(wanted)
    return None if at < 0 else _line_column(text, where[at])


# --- Every figure in a source text --------------------------------------------------------------

_CONTEXT_WORDS = 4


def _context(text: str, start: int, end: int) -> str:
    """The figure phrase with up to four words either side on its line, whitespace collapsed."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    before = re.search(rf"(?:\S+\s+){{0,{_CONTEXT_WORDS}}}\S*$", text[line_start:start])
    after = re.match(rf"\S*(?:\s+\S+){{0,{_CONTEXT_WORDS}}}", text[end:line_end])
    return re.sub(r"\s+", " ", before.group(0) + text[start:end] + after.group(0)).strip()


def find_figures(text: str) -> list[Found]:
    """Every figure phrase a source text states, in order, with its reading and position.

    Returns one :class:`Found` per figure (see there); years, days of a month and small
    counting words are left out (module docstring). A range or unreadable phrase is listed with
    ``reading=None`` and its ``problem``, so a curator still sees it.
    """
    folded = fold(text)
    found = []
    for c in scan(folded):
        line, column = _line_column(text, c.phrase_start)
        phrase = re.sub(r"\s+", " ", text[c.phrase_start : c.phrase_end])
        reading = None if c.problem else _reading(text, c)
        found.append(
            Found(
                line,
                column,
                phrase,
                _context(text, c.phrase_start, c.phrase_end),
                reading,
                c.problem,
            )
        )
    return found


def extract(path: str | Path) -> list[Found]:
    """:func:`find_figures` over a UTF-8 text file (a source's local copy).

    Raises EvidenceError naming the file when it cannot be read or is not UTF-8 text.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"cannot read source text {str(path)!r}: {exc}") from exc
    return find_figures(text)
