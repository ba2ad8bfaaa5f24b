"""The README's worked example of adding data works as written."""

from __future__ import annotations

import re
import shutil

from typer.testing import CliRunner

from analysis import paths
from analysis.cli import app
from analysis.data import Package

README = (paths.PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def _csv_block_after(marker: str) -> str:
    match = re.search(re.escape(marker) + r".*?```csv\n(.*?)```", README, re.S)
    assert match, f"no csv block after {marker!r} in README.md"
    return match.group(1)


def test_readme_example_adds_a_funding_round_from_another_source(tmp_path):
    mydata = tmp_path / "mydata"
    shutil.copytree(paths.PROJECT_ROOT / "data", mydata)
    for name in ("sources", "companies", "funding_rounds"):
        with open(mydata / f"{name}.csv", "a", encoding="utf-8") as fh:
            fh.write(_csv_block_after(f"`mydata/{name}.csv`"))
    result = CliRunner().invoke(app, ["validate", str(mydata)])
    assert result.exit_code == 0, result.output
    rounds = Package(mydata).load("funding_rounds")
    row = rounds[rounds["round_id"] == "example-co-2021-07"].iloc[0]
    assert (row["amount_usd"], row["qualifier"], row["source_id"]) == (
        25_000_000,
        "exact",
        "example-2021-07",
    )
    # the curated package itself is untouched by the example
    assert "example-co" not in (paths.PROJECT_ROOT / "data" / "funding_rounds.csv").read_text()
    # and the build the README runs next publishes the new company's profile with its round
    site = tmp_path / "mysite"
    result = CliRunner().invoke(
        app, ["build", "--data", str(mydata), "--out", str(site), "company-example-co"]
    )
    assert result.exit_code == 0, result.output
    page = (site / "company-example-co" / "index.html").read_text(encoding="utf-8")
    assert "$25M" in page and "Example Co: funding rounds" in page


def test_readme_error_example_is_what_the_loader_prints(data_copy):
    example = re.search(r"^funding_rounds\.csv, line 2, column 'amount_usd'.*$", README, re.M)
    assert example
    path = data_copy / "funding_rounds.csv"
    path.write_text(path.read_text().replace(",460000000,", ',"$460M",'))
    problems = Package.open().validate()
    assert example.group(0) in [str(p) for p in problems]
