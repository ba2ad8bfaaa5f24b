"""``roundup diff OLD NEW``: figure-level changes between two data packages, from the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.cli import app

runner = CliRunner()


def _edit_employees(folder: Path, company: str, value: int) -> None:
    path = folder / "companies.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    edited = [
        f"{company},{value},{line.split(',')[2]}" if line.startswith(f"{company},") else line
        for line in lines
    ]
    path.write_text("\n".join(edited) + "\n", encoding="utf-8")


@pytest.fixture
def old_new(tmp_path: Path, tiny_package_writer) -> tuple[Path, Path]:
    old = tiny_package_writer(tmp_path / "old", ["Alpha Co", "Beta"])
    new = tmp_path / "new"
    shutil.copytree(old, new)
    _edit_employees(new, "Beta", 25)
    return old, new


def test_folder_against_folder_shows_exactly_the_edited_figure(old_new):
    old, new = old_new
    result = runner.invoke(app, ["diff", str(old), str(new)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("companies Beta employees: ")
    assert "20" in lines[0] and "25" in lines[0] and "->" in lines[0]


def test_no_change_exits_0_too(old_new):
    old, _ = old_new
    result = runner.invoke(app, ["diff", str(old), str(old)])
    assert result.exit_code == 0
    assert "No change in figures." in result.output


def test_json_shape(old_new):
    old, new = old_new
    result = runner.invoke(app, ["diff", str(old), str(new), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {
        "old",
        "new",
        "figures_changed",
        "changes",
        "other_changes",
        "not_compared",
    }
    assert data["figures_changed"] is True
    [change] = data["changes"]
    assert (change["dataset"], change["key"], change["field"], change["kind"]) == (
        "companies",
        "Beta",
        "employees",
        "changed",
    )
    assert change["old"]["value"] == 20 and change["new"]["value"] == 25
    assert change["new"]["source_id"] == "s1"
    assert data["other_changes"] == []


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
    )


def test_a_pair_of_git_revisions(tmp_path: Path, tiny_package_writer):
    repo = tmp_path / "repo"
    data = tiny_package_writer(repo / "data", ["Alpha Co", "Beta"])
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "first")
    _edit_employees(data, "Alpha Co", 11)
    _git(repo, "commit", "-q", "-am", "second")
    result = runner.invoke(app, ["diff", "HEAD~1", "HEAD", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    [change] = json.loads(result.output)["changes"]
    assert (change["key"], change["old"]["value"], change["new"]["value"]) == ("Alpha Co", 10, 11)


def test_a_bad_revision_exits_2_with_a_clear_message(tmp_path: Path, tiny_package_writer):
    repo = tmp_path / "repo"
    data = tiny_package_writer(repo / "data", ["Alpha Co"])
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "first")
    result = runner.invoke(app, ["diff", "no-such-rev", "HEAD", "--data", str(data)])
    assert result.exit_code == 2
    assert "'no-such-rev' is neither a folder nor a git revision" in result.output
    assert "Traceback" not in result.output
