"""analysis.reports.changes: the figure-level diff between two data packages (folders or git revisions)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis import paths
from analysis.errors import RoundupError
from analysis.reports import changes
from analysis.reports.changes import Change, ChangesError, OtherChange, Stated

DATA = paths.PROJECT_ROOT / "data"


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """Today's package, copied: the "before" side."""
    return Path(shutil.copytree(DATA, tmp_path / "old"))


@pytest.fixture
def new(tmp_path: Path) -> Path:
    """Today's package, copied again: the "after" side a test edits."""
    return Path(shutil.copytree(DATA, tmp_path / "new"))


def _rows(folder: Path, file: str) -> tuple[list[str], list[dict[str, str]]]:
    with open(folder / file, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _write(folder: Path, file: str, header: list[str], rows: list[dict[str, str]]) -> None:
    with open(folder / file, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def edit(folder: Path, file: str, key: str, **values: str) -> None:
    """Set fields of the row whose first column is ``key``."""
    header, rows = _rows(folder, file)
    hits = [r for r in rows if r[header[0]] == key]
    assert len(hits) == 1, key
    hits[0].update(values)
    _write(folder, file, header, rows)


def drop(folder: Path, file: str, key: str) -> dict[str, str]:
    header, rows = _rows(folder, file)
    (gone,) = [r for r in rows if r[header[0]] == key]
    _write(folder, file, header, [r for r in rows if r is not gone])
    return gone


def append(folder: Path, file: str, **values: str) -> None:
    header, rows = _rows(folder, file)
    _write(folder, file, header, [*rows, {h: values.get(h, "") for h in header}])


def diff(old: Path, new: Path) -> changes.PackageDiff:
    return changes.compare(changes.read_folder(old), changes.read_folder(new))


# --------------------------------------------------------------------------- no change


def test_identical_packages_have_no_change(old: Path, new: Path) -> None:
    """(How fast a no-change comparison of today's data is, is bench G in bench/run.py:
    nothing is timed in a unit test.)"""
    result = diff(old, new)
    assert result.changes == () and result.other_changes == () and not result.figures_changed
    assert result.to_text() == "No change in figures."
    today = diff(DATA, DATA)
    assert today.changes == () and today.other_changes == () and not today.figures_changed


# --------------------------------------------------------------------------- figures


def test_one_edited_figure_is_exactly_one_change(old: Path, new: Path) -> None:
    edit(new, "funding_rounds.csv", "banma-2021", amount_usd="500000000", source_id="x-2021-08")
    result = diff(old, new)
    assert result.changes == (
        Change(
            dataset="funding_rounds",
            key="banma-2021",
            field="amount_usd",
            kind="changed",
            old=Stated(460_000_000, "exact", "tc-2021-07", "2021-07", "USD"),
            new=Stated(500_000_000, "exact", "x-2021-08", "2021-07", "USD"),
        ),
    )
    assert result.other_changes == ()
    assert result.to_text() == (
        "funding_rounds banma-2021 amount_usd: $460M (exact, tc-2021-07, as of 2021-07)"
        " -> $500M (exact, x-2021-08, as of 2021-07)"
    )


def test_a_difference_hidden_by_rounding_shows_exact_numbers(old: Path, new: Path) -> None:
    edit(new, "funding_rounds.csv", "banma-2021", amount_usd="460400000")
    (change,) = diff(old, new).changes
    assert "460,000,000 (exact" in change.describe() and "460,400,000 (exact" in change.describe()


def test_the_same_number_written_differently_is_no_change(old: Path, new: Path) -> None:
    edit(new, "funding_rounds.csv", "banma-2021", amount_usd="460000000.0")
    assert diff(old, new).changes == ()


def test_qualifier_only_change_is_a_figure_change(old: Path, new: Path) -> None:
    edit(new, "funding_rounds.csv", "banma-2018", valuation_qualifier="approximate")
    (change,) = diff(old, new).changes
    assert (change.field, change.kind) == ("valuation_usd", "changed")
    assert change.old.value == change.new.value == 1_000_000_000
    assert (change.old.qualifier, change.new.qualifier) == ("at_least", "approximate")
    assert "$1.0B (at_least, tc-2021-07, as of 2018) -> $1.0B (approximate" in change.describe()


def test_note_only_change_is_no_figure_change(old: Path, new: Path) -> None:
    edit(new, "funding_rounds.csv", "banma-2021", note="Reworded.")
    result = diff(old, new)
    assert result.changes == () and not result.figures_changed
    (other,) = result.other_changes
    assert (other.dataset, other.key, other.field, other.kind, other.new) == (
        "funding_rounds",
        "banma-2021",
        "note",
        "changed",
        "Reworded.",
    )
    text = result.to_text()
    assert text.startswith("No change in figures.\n") and "funding_rounds banma-2021 note" in text
    assert result.to_text(other=False) == "No change in figures."


def test_removed_and_added_rows(old: Path, new: Path) -> None:
    drop(new, "stakes.csv", "tencent-meituan-2021-07")
    append(
        new,
        "stakes.csv",
        stake_id="x-y-2022",
        investor="X",
        company="Y",
        relation="backer",
        stake_pct="5",
        qualifier="at_least",
        as_of="2022",
        source_id="tc-2021-07",
    )
    result = diff(old, new)
    got = {(c.key, c.field, c.kind): c for c in result.changes}
    assert set(got) == {
        ("x-y-2022", "stake_pct", "added"),
        ("tencent-meituan-2021-07", "stake_pct", "removed"),
        ("tencent-meituan-2021-07", "investment_usd", "removed"),
    }
    assert got["x-y-2022", "stake_pct", "added"].new == Stated(
        5, "at_least", "tc-2021-07", "2022", "percent"
    )
    removed = got["tencent-meituan-2021-07", "investment_usd", "removed"]
    assert (
        removed.old == Stated(400_000_000, "exact", "tc-2021-07", "2021-07", "USD")
        and removed.new is None
    )
    assert (
        "stakes x-y-2022 stake_pct: added 5% (at_least, tc-2021-07, as of 2022)" in result.to_text()
    )
    assert result.other_changes == ()


def test_rows_without_figures_are_other_changes(old: Path, new: Path) -> None:
    drop(new, "stakes.csv", "softbank-didi")  # backed by SoftBank; no figure given
    drop(new, "companies.csv", "Banma")  # a resource without figures
    result = diff(old, new)
    assert result.changes == ()
    assert set(result.other_changes) == {
        OtherChange("stakes", "softbank-didi", None, "removed"),
        OtherChange("companies", "Banma", None, "removed"),
    }


def test_a_new_source_for_a_row_changes_each_of_its_figures(old: Path, new: Path) -> None:
    edit(new, "stakes.csv", "tencent-meituan-2021-07", source_id="tc-2021-07-banma")
    result = diff(old, new)
    assert [(c.field, c.old.source_id, c.new.source_id) for c in result.changes] == [
        ("stake_pct", "tc-2021-07", "tc-2021-07-banma"),
        ("investment_usd", "tc-2021-07", "tc-2021-07-banma"),
    ]
    assert result.other_changes == ()


def test_a_figure_filled_in_or_emptied(old: Path, new: Path) -> None:
    edit(new, "funding_rounds.csv", "banma-2018", amount_usd="50000000", qualifier="at_least")
    edit(new, "funding_rounds.csv", "banma-2021", amount_usd="", qualifier="")
    kinds = {(c.key, c.field): c.kind for c in diff(old, new).changes}
    assert kinds == {("banma-2021", "amount_usd"): "removed", ("banma-2018", "amount_usd"): "added"}


def test_figures_pair_with_their_qualifiers_by_name() -> None:
    snap = changes.read_folder(DATA)
    pairs = {r["name"]: changes.figure_fields(r["schema"]) for r in snap.descriptor["resources"]}
    assert pairs["funding_rounds"] == {
        "amount_usd": "qualifier",
        "valuation_usd": "valuation_qualifier",
    }
    assert pairs["stakes"] == {"stake_pct": "qualifier", "investment_usd": "investment_qualifier"}
    assert pairs["downloads"] == {"value": "qualifier"}
    assert pairs["regulatory_events"] == {"threshold_users": None}
    assert pairs["sources"] == {}
    schema = {
        "fields": [
            {"name": "price_usd", "type": "number"},
            {"name": "price_qualifier"},
            {"name": "shares", "type": "integer"},
            {"name": "qualifier"},
        ]
    }
    assert changes.figure_fields(schema) == {"price_usd": "price_qualifier", "shares": "qualifier"}


def test_downloads_take_their_unit_from_the_row(old: Path, new: Path) -> None:
    edit(new, "downloads.csv", "tiktok-downloads-2021-07", value="3100000000")
    (change,) = diff(old, new).changes
    assert change.new.unit == "downloads"
    assert "≥ " not in change.describe() and "3.0B downloads (at_least" in change.describe()


# --------------------------------------------------------------------------- output


def test_json_shape(old: Path, new: Path) -> None:
    edit(new, "funding_rounds.csv", "banma-2021", amount_usd="500000000")
    edit(new, "funding_rounds.csv", "banma-2018", note="Reworded.")
    doc = json.loads(diff(old, new).to_json())
    assert list(doc) == [
        "old",
        "new",
        "figures_changed",
        "changes",
        "other_changes",
        "not_compared",
    ]
    assert doc["figures_changed"] is True and doc["not_compared"] == []
    assert doc["changes"] == [
        {
            "dataset": "funding_rounds",
            "key": "banma-2021",
            "field": "amount_usd",
            "kind": "changed",
            "old": {
                "value": 460000000,
                "qualifier": "exact",
                "source_id": "tc-2021-07",
                "as_of": "2021-07",
                "unit": "USD",
            },
            "new": {
                "value": 500000000,
                "qualifier": "exact",
                "source_id": "tc-2021-07",
                "as_of": "2021-07",
                "unit": "USD",
            },
        }
    ]
    assert doc["other_changes"] == [
        {
            "dataset": "funding_rounds",
            "key": "banma-2018",
            "field": "note",
            "kind": "changed",
            "old": _rows(old, "funding_rounds.csv")[1][1]["note"],
            "new": "Reworded.",
        }
    ]


# --------------------------------------------------------------------------- bad input


def test_repeated_primary_key_is_named(old: Path, new: Path) -> None:
    header, rows = _rows(new, "user_bases.csv")
    _write(new, "user_bases.csv", header, [*rows, rows[0]])
    with pytest.raises(
        ChangesError,
        match=rf"user_bases\.csv line {len(rows) + 2}: primary key 'didi-annual-users-2021-07' repeats",
    ):
        diff(old, new)


def test_a_figure_that_is_not_a_number_is_named(old: Path, new: Path) -> None:
    edit(new, "user_bases.csv", "banma-users-2021-07", users="three million")
    with pytest.raises(
        ChangesError, match=r"user_bases\.csv row 'banma-users-2021-07' users: 'three million'"
    ):
        diff(old, new)


@pytest.mark.parametrize("text", ["NaN", "inf", "1e3x"])
def test_a_figure_must_be_a_finite_number(old: Path, new: Path, text: str) -> None:
    edit(new, "funding_rounds.csv", "banma-2021", amount_usd=text)
    with pytest.raises(ChangesError, match="funding_rounds.csv row 'banma-2021' amount_usd"):
        diff(old, new)


def test_a_folder_without_a_package_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RoundupError, match="holds no datapackage.json"):
        changes.read_folder(tmp_path)


# --------------------------------------------------------------------------- git revisions


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose data/ has two commits: today's package, then one edited figure."""
    root = tmp_path / "repo"
    shutil.copytree(DATA, root / "data")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "today")
    edit(root / "data", "user_bases.csv", "banma-users-2021-07", users="3500000")
    _git(root, "commit", "-q", "-am", "edited")
    return root


def test_two_git_revisions(repo: Path) -> None:
    result = changes.diff("HEAD~1", "HEAD", repo / "data")
    (change,) = result.changes
    assert (change.dataset, change.key, change.field) == (
        "user_bases",
        "banma-users-2021-07",
        "users",
    )
    assert (change.old.value, change.new.value) == (3_000_000, 3_500_000)
    assert (result.old, result.new) == ("HEAD~1:data", "HEAD:data")


def test_a_revision_against_a_folder(repo: Path, tmp_path: Path) -> None:
    edit(repo / "data", "user_bases.csv", "banma-users-2021-07", users="4000000")  # uncommitted
    result = changes.diff("HEAD", str(repo / "data"), repo / "data")
    assert [(c.old.value, c.new.value) for c in result.changes] == [(3_500_000, 4_000_000)]
    assert changes.diff("HEAD", "HEAD", repo / "data").changes == ()


def test_neither_folder_nor_revision_is_refused(repo: Path) -> None:
    with pytest.raises(ChangesError, match="'no-such-rev' is neither a folder nor a git revision"):
        changes.diff("no-such-rev", "HEAD", repo / "data")
    with pytest.raises(ChangesError, match="neither a folder nor a git revision"):
        changes.diff("--output=/tmp/x", "HEAD", repo / "data")


def test_a_revision_without_the_package(repo: Path) -> None:
    (repo / "other").mkdir()
    (repo / "other" / "readme").write_text("x")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "other")
    first = _git(repo, "rev-list", "--max-parents=0", "HEAD")
    with pytest.raises(ChangesError, match="datapackage.json does not exist at revision"):
        changes.read_revision(first, repo / "other")


def _descriptor(folder: Path, change) -> None:
    path = folder / "datapackage.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_a_resource_dropped_removes_its_figures(old: Path, new: Path) -> None:
    _descriptor(new, lambda doc: doc["resources"].remove(_named(doc, "user_bases")))
    result = diff(old, new)
    assert {(c.dataset, c.kind) for c in result.changes} == {("user_bases", "removed")}
    # one users figure in each of its rows (2 in release 1, more since)
    assert len(result.changes) == len(_rows(old, "user_bases.csv")[1])


def test_a_resource_without_primary_key_is_not_compared(old: Path, new: Path) -> None:
    for folder in (old, new):
        _descriptor(folder, lambda doc: _named(doc, "companies")["schema"].pop("primaryKey"))
    drop(new, "companies.csv", "Banma")
    result = diff(old, new)
    assert result.not_compared == ("companies",) and result.other_changes == ()
    assert result.to_text().endswith("Not compared (no primary key): companies")


def _named(doc: dict, name: str) -> dict:
    return next(r for r in doc["resources"] if r["name"] == name)
