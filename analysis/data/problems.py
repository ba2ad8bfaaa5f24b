"""What is wrong with a data package, said so a curator can fix it.

:class:`Problem` is one broken rule in one cell, row or file; :class:`DataError` carries every
problem found when a dataset cannot be loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from analysis.errors import RoundupError

__all__ = ["DataError", "Problem"]


@dataclass(frozen=True)
class Problem:
    """One broken rule in one cell (or row, or file) of a data package.

    ``line`` is the physical line of the CSV file where the record starts (1 = header), or
    ``None`` for a problem with the whole file; ``column`` is the field name or ``None``.
    """

    file: str
    line: int | None
    column: str | None
    value: str | None
    rule: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}, line {self.line}"
        if self.column:
            where += f", column '{self.column}'"
        shown = "" if self.value is None else f" (value: {self.value!r})"
        return f"{where}: {self.rule}{shown}"


class DataError(RoundupError, ValueError):
    """A data file breaks its schema. ``problems`` lists every broken rule found.

    Also a ``ValueError``, as it was before the project had a base exception.
    """

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        head = "; ".join(str(p) for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{len(self.problems)} problem(s) in the data package: {head}{more}")
