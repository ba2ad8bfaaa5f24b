"""Is a build's data package valid? Checked before any kernel starts, once per data, code and
lock file: a site's ``index.json`` keeps under ``data_checked`` the hashes
(:func:`~analysis.reports.fingerprint.shared_hashes`) of the last data it validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analysis.errors import RoundupError
from analysis.reports.publish import read_json

__all__ = ["CHECKED_KEY", "InvalidData", "checked_before", "validate"]

#: The key of ``index.json`` that holds the shared hashes of the data last validated.
CHECKED_KEY = "data_checked"


class InvalidData(RoundupError, ValueError):
    """The data package breaks its schema: no report is run or published from it.

    ``problems`` lists every :class:`analysis.data.Problem` found.
    """

    def __init__(self, problems: list[Any], data_dir: Path):
        self.problems = problems
        self.data_dir = data_dir
        super().__init__(f"{len(problems)} problem(s) in the data package {data_dir}")


def checked_before(out_dir: Path) -> dict[str, str] | None:
    """The shared hashes (``{"data", "code", "requirements_lock"}``) of the data the site in
    ``out_dir`` last validated; None for a new site or an index without them."""
    before = (read_json(out_dir / "index.json") or {}).get(CHECKED_KEY)
    return before if isinstance(before, dict) else None


def validate(data_dir: Path) -> None:
    """Validate the package in ``data_dir`` (:meth:`analysis.data.Package.validate`); raises
    :class:`InvalidData` with every problem."""
    from analysis.data import Package

    problems = Package(data_dir).validate()
    if problems:
        raise InvalidData(problems, data_dir)
