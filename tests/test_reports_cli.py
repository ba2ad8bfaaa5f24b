"""The ``roundup`` command line: exit codes and output of every command that starts no kernel."""

from __future__ import annotations

import json
from pathlib import Path

import filelock
import pytest
import typer
from typer.testing import CliRunner

from analysis.cli import app, parse_params

runner = CliRunner()


@pytest.fixture
def plan_file(tmp_path: Path, make_notebook) -> Path:
    make_notebook("profile.ipynb", 'company = "Didi"\nyear = 2021', ["print(company)"])
    path = tmp_path / "plan.toml"
    path.write_text(
        'notebooks = "notebooks"\n'
        '[[report]]\nname = "roundup"\nnotebook = "profile.ipynb"\n'
        '[[report]]\nname = "company-{company}"\nnotebook = "profile.ipynb"\n'
        '[report.grid]\ncompany = ["Alpha", "Beta"]\n',
        encoding="utf-8",
    )
    return path


def test_parse_params_json_else_text():
    assert parse_params(["n=3", "flag=true", "as_of=2021-07-02", "xs=[1, 2]", "s=a=b"]) == {
        "n": 3,
        "flag": True,
        "as_of": "2021-07-02",
        "xs": [1, 2],
        "s": "a=b",
    }
    with pytest.raises(typer.BadParameter):
        parse_params(["novalue"])


def test_list_prints_the_expanded_plan(plan_file):
    result = runner.invoke(app, ["list", "--plan", str(plan_file), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["roundup", "company-alpha", "company-beta"]
    assert rows[1] == {
        "name": "company-alpha",
        "title": "profile: Alpha",
        "notebook": "profile.ipynb",
        "parameters": {"company": "Alpha"},
    }
    table = runner.invoke(app, ["list", "--plan", str(plan_file)])
    assert table.exit_code == 0 and "company-beta" in table.stdout


def test_list_shows_the_title_the_site_shows(tmp_path, make_notebook):
    """The plan's title (a grid's filled in), else the notebook's first heading: the page's."""
    make_notebook("profile.ipynb", 'company = "Didi"', ["print(company)"])
    plan = tmp_path / "plan.toml"
    plan.write_text(
        'notebooks = "notebooks"\n'
        '[[report]]\nname = "roundup"\nnotebook = "profile.ipynb"\n'
        '[[report]]\nname = "own"\nnotebook = "profile.ipynb"\ntitle = "Our <own> title"\n'
        '[[report]]\nname = "company-{company}"\nnotebook = "profile.ipynb"\n'
        'title = "Who is {company}?"\n[report.grid]\ncompany = ["Alpha"]\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["list", "--plan", str(plan), "--json"])
    assert result.exit_code == 0, result.output
    titles = {r["name"]: r["title"] for r in json.loads(result.stdout)}
    assert titles == {
        "roundup": "profile",
        "own": "Our <own> title",
        "company-alpha": "Who is Alpha?",
    }
    table = runner.invoke(app, ["list", "--plan", str(plan)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "title" in table.stdout and "Our <own> title" in table.stdout
    assert "Who is Alpha?" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "nonesuch"], "no report or notebook named 'nonesuch'"),
        (["build", "company-alpah"], "did you mean company-alpha"),
        (["build", "-p", "company=X"], "-p needs exactly one notebook"),
        (["build", "roundup", "company-alpha", "-p", "company=X"], "-p needs exactly one"),
        (["build", "nonesuch", "-p", "company=X"], "no notebook named 'nonesuch'"),
        (["build", "--scheduler", "tcp://127.0.0.1:8786"], "--scheduler needs --executor dask"),
        (["build", "--name", "mine"], "--name names an ad-hoc report"),
    ],
)
def test_build_usage_errors_exit_2(plan_file, tmp_path, args, message):
    result = runner.invoke(app, [*args, "--plan", str(plan_file), "--out", str(tmp_path / "site")])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split())
    assert not (tmp_path / "site" / "index.html").exists()


def test_build_bad_plan_and_bad_parameters_exit_2(tmp_path, plan_file):
    out = ["--out", str(tmp_path / "site")]
    missing = runner.invoke(app, ["build", "--plan", str(tmp_path / "none.toml"), *out])
    assert missing.exit_code == 2 and "plan not found" in missing.stderr
    nb = str(plan_file.parent / "notebooks" / "profile.ipynb")
    wrong = runner.invoke(app, ["build", nb, "-p", "year=soon", *out])
    assert wrong.exit_code == 2
    assert "parameter 'year': expected int" in " ".join(wrong.stderr.split())
    bad_p = runner.invoke(app, ["build", nb, "-p", "year", *out])
    assert bad_p.exit_code == 2 and "NAME=VALUE" in bad_p.output
    bad_data = runner.invoke(app, ["build", "--data", str(tmp_path), "--plan", str(plan_file)])
    assert bad_data.exit_code == 2 and "no datapackage.json" in bad_data.stderr


def test_build_exits_3_when_locked_and_not_waiting(plan_file, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    with filelock.FileLock(site / ".lock"):
        result = runner.invoke(
            app, ["build", "--plan", str(plan_file), "--out", str(site), "--no-wait"]
        )
    assert result.exit_code == 3, result.output
    assert "another build holds" in result.stderr
    assert not (site / "index.html").exists()


def test_validate_valid_package_exits_0(tiny_data):
    result = runner.invoke(app, ["validate", str(tiny_data)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout


def test_validate_lists_every_problem_grouped_by_file_and_exits_1(tiny_data):
    (tiny_data / "companies.csv").write_text(
        "company,employees,source_id\nAlpha,ten,s1\nAlpha,3,s9\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["validate", str(tiny_data)])
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "companies.csv: 4 problem(s)" in out
    assert "'ten'" in out and "not an integer" in out
    assert "duplicate value" in out
    assert "not found in" in out and "sources.source_id" in out
    assert "4 problem(s) in 1 file(s)" in " ".join(result.stderr.split())


def test_validate_missing_package_exits_2(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 2
    assert "no datapackage.json" in result.stderr


def test_datasets_shows_catalog_and_fields(tiny_data):
    result = runner.invoke(app, ["datasets", "--data", str(tiny_data)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("sources", "companies", "employees", "integer", "people", "required; unique"):
        assert text in out


def test_list_expands_company_grids_from_data_without_touching_the_environment(
    tmp_path, make_notebook, monkeypatch, tiny_data
):
    """``--data`` reaches the plan as an argument: the process environment is not rewritten."""
    import os

    monkeypatch.delenv("ROUNDUP_DATA_DIR")
    make_notebook("profile.ipynb", 'company = "Didi"', ["print(company)"])
    plan = tmp_path / "plan.toml"
    plan.write_text(
        'notebooks = "notebooks"\n[[report]]\nname = "company-{company}"\n'
        'notebook = "profile.ipynb"\n[report.grid]\ncompany = "companies"\n',
        encoding="utf-8",
    )
    seen = []
    monkeypatch.setattr(os, "putenv", lambda *a: seen.append(a))
    result = runner.invoke(app, ["list", "--plan", str(plan), "--data", str(tiny_data), "--json"])
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in json.loads(result.stdout)] == ["company-alpha-co", "company-beta"]
    assert "ROUNDUP_DATA_DIR" not in os.environ
    assert [name for name, *_ in seen if name.startswith(b"ROUNDUP")] == []


def _entry(name: str, status: str) -> dict:
    return {"name": name, "status": status, "duration_s": 1.25, "href": f"{name}/index.html"}


def test_summary_table_lists_the_reports_that_ran_and_counts_the_unchanged(tmp_path, capsys):
    from analysis.cli_output import print_summary
    from analysis.reports.summary import BuildSummary

    entries = [_entry("alpha", "ok"), _entry("beta", "skipped"), _entry("gamma", "failed")]
    entries += [_entry(f"same-{i}", "skipped") for i in range(3)]
    print_summary(BuildSummary(tmp_path, "b1", entries), as_json=False)
    out, err = capsys.readouterr()
    assert "alpha" in out and "gamma" in out and "failed" in out
    assert "beta" not in out and "same-0" not in out  # listed on stderr as they were skipped
    assert "and 4 unchanged report(s), skipped" in out
    assert "1 ok, 1 failed, 4 skipped" in err

    print_summary(BuildSummary(tmp_path, "b2", entries[1:2]), as_json=False)
    out, err = capsys.readouterr()
    assert out == ""  # nothing ran: no table
    assert "0 ok, 0 failed, 1 skipped" in err

    print_summary(BuildSummary(tmp_path, "b3", entries[1:2]), as_json=True)
    assert json.loads(capsys.readouterr().out)["reports"][0]["name"] == "beta"  # JSON: all
