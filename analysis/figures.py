"""Qualified figures: a value *and* its qualifier, as the source words it; pure, no I/O.

Each qualifier stands for an interval of values the true figure may take:

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

import math
from dataclasses import dataclass
from typing import Literal

import pandas as pd

__all__ = [
    "APPROXIMATE_TOLERANCE",
    "QUALIFIERS",
    "Answer",
    "Figure",
    "Ordering",
    "compare",
    "exceeds",
    "rank",
]

#: The qualifiers a figure may carry, as the data package spells them.
QUALIFIERS = ("exact", "approximate", "at_least", "at_most")
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
        if self.qualifier not in QUALIFIERS:
            raise ValueError(
                f"unknown qualifier {self.qualifier!r}; expected one of {', '.join(QUALIFIERS)}"
            )
        if not math.isfinite(self.value) or self.value < 0:
            raise ValueError(f"a figure must be a finite number >= 0, not {self.value!r}")

    @classmethod
    def or_none(cls, value, qualifier) -> Figure | None:
        """The figure of a table cell and its qualifier, or None where the cell is empty."""
        return None if pd.isna(value) else cls(float(value), str(qualifier))

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


def rank(df: pd.DataFrame, value: str = "value", qualifier: str = "qualifier") -> pd.DataFrame:
    """Rank rows by a qualified figure, largest first, saying where the order is certain.

    Input: any DataFrame with a numeric ``value`` column and a ``qualifier`` column.
    Output: the rows sorted by the figure's interval (lower bound, then upper bound, descending)
    with two added columns: ``rank`` (Int64, 1 = largest; rows whose order against each other is
    undetermined share the best rank of their group) and ``above_next`` (string: "yes" where the
    row is certainly greater than the next one, "undetermined" otherwise, <NA> for the last).
    Rows with an empty figure are dropped. Raises ``ValueError`` as :class:`Figure` does.
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
