"""Evidence checks in Package.validate / `roundup validate`: the words state the stored figure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis import paths
from analysis.cli import app
from analysis.data import Package
from analysis.data.checks import Copies, figure_text, reader_unit
from analysis.data.evidence import normalise, read_figure
from analysis.data.pairing import evidence_fields

FR = "funding_rounds.csv"
_BANMA = "recently secured $460 million in funding"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _only(data: Path):
    (problem,) = Package(data).validate()
    return problem


def test_the_tiny_package_is_valid(evidence_data):
    assert Package(evidence_data).validate() == []
    result = CliRunner().invoke(app, ["validate", str(evidence_data)])
    assert result.exit_code == 0, result.output


def test_real_package_validates():
    result = CliRunner().invoke(app, ["validate", str(paths.PROJECT_ROOT / "data")])
    assert result.exit_code == 0, result.output


def test_value_edited_without_its_words(evidence_data):
    edit(evidence_data / FR, "460000000,exact", "500000000,exact")
    p = _only(evidence_data)
    assert str(p) == (
        "funding_rounds.csv, line 2, column 'evidence': the words read as $460,000,000 (exact), "
        "the row says $500,000,000 (exact) (value: 'recently secured $460 million in funding')"
    )


def test_qualifier_the_words_contradict(evidence_data):
    edit(evidence_data / FR, "460000000,exact", "460000000,at_least")
    p = _only(evidence_data)
    assert (p.file, p.line, p.column) == (FR, 2, "evidence")
    assert "read as $460,000,000 (exact), the row says $460,000,000 (at_least)" in p.rule


def test_an_unqualified_phrase_may_be_stored_approximate(evidence_data):
    edit(evidence_data / FR, "460000000,exact", "460000000,approximate")
    assert Package(evidence_data).validate() == []


def test_words_not_in_the_local_copy(evidence_data):
    edit(evidence_data / FR, "recently secured $460 million", "secured $460 million")
    assert Package(evidence_data).validate() == []  # still in the copy
    edit(evidence_data / FR, "secured $460 million", "raised $460 million")
    p = _only(evidence_data)
    assert (p.file, p.line, p.column) == (FR, 2, "evidence")
    assert p.rule == "the words are not in the source's local copy shared/sources/a.txt"


def test_a_missing_local_copy_is_skipped_and_said_once(evidence_data):
    (evidence_data.parent.parent / "shared" / "sources" / "a.txt").unlink()
    edit(evidence_data / FR, "recently secured $460 million", "raised $460 million")
    package = Package(evidence_data)
    assert package.validate() == []
    assert package.missing_copies == ["shared/sources/a.txt"]
    result = CliRunner().invoke(app, ["validate", str(evidence_data)])
    assert result.exit_code == 0, result.output
    assert result.output.count("shared/sources/a.txt") == 1


def test_words_that_state_no_figure(evidence_data):
    edit(evidence_data / FR, "recently secured $460 million in funding", "recently secured funding")
    p = _only(evidence_data)
    assert (p.file, p.line, p.column, p.value) == (FR, 2, "evidence", "recently secured funding")
    assert p.rule == "the words state no single figure: states no figure in USD"


def test_evidence_missing_for_a_figure(evidence_data):
    edit(evidence_data / FR, "recently secured $460 million in funding", "")
    p = _only(evidence_data)
    assert (p.file, p.line, p.column) == (FR, 2, "evidence")
    assert p.rule.startswith("evidence required: amount_usd is given")


def test_words_in_another_unit(evidence_data):
    edit(evidence_data / FR, "recently secured $460 million in funding", "holding 17.2%")
    p = _only(evidence_data)
    assert "read as 17.2% (exact), the row says $460,000,000 (exact)" in p.rule


def test_second_figure_pairs_with_its_own_evidence(evidence_data):
    edit(evidence_data / FR, "funding,,,,src", "funding,400000000,approximate,,src")
    p = _only(evidence_data)
    assert (p.line, p.column) == (2, "valuation_evidence")
    edit(evidence_data / FR, "approximate,,src", "approximate,about $400 million,src")
    assert Package(evidence_data).validate() == []


def test_evidence_pairing_by_name():
    schema = {"fields": [{"name": "threshold_users", "type": "integer"}, {"name": "evidence"}]}
    assert evidence_fields(schema) == {"threshold_users": "evidence"}
    schema = {"fields": [{"name": "price_usd", "type": "number"}, {"name": "price_qualifier"},
                         {"name": "price_evidence"}, {"name": "amount_raised_usd", "type": "number"},
                         {"name": "qualifier"}, {"name": "evidence"}]}  # fmt: skip
    assert evidence_fields(schema) == {
        "price_usd": "price_evidence",
        "amount_raised_usd": "evidence",
    }
    assert evidence_fields({"fields": [{"name": "users", "type": "integer"}]}) == {}


def test_units_and_figure_text():
    assert [reader_unit(u) for u in ("USD", "USD per share or ADS", "percent", "users")] == [
        "USD", "USD", "percent", "count"]  # fmt: skip
    assert figure_text(17.2, "percent", "exact") == "17.2% (exact)"
    assert figure_text(3e6, "count", None) == "3,000,000"


def test_local_copy_resolves_absolute_and_above(tmp_path):
    text = tmp_path / "a" / "t.txt"
    text.parent.mkdir()
    text.write_text("x", encoding="utf-8")
    copies = Copies(tmp_path / "a" / "b" / "data", tmp_path / "elsewhere")
    assert copies.resolve(str(text)) == text
    assert copies.resolve("a/t.txt") == text
    assert copies.resolve("nowhere/t.txt") is None


def test_validation_reads_each_distinct_phrase_once_on_many_rows(
    evidence_data, tmp_path, monkeypatch
):
    """Many rows cost their distinct phrases, not their number: each phrase is read once and
    looked up in the source's copy once, the copy normalised once. (Its speed on 100,000 rows
    is bench F in bench/run.py: nothing is timed in a unit test.)"""
    from analysis.data import checks

    read, normalised = [], []
    monkeypatch.setattr(checks, "read_figure", lambda *a: read.append(a) or read_figure(*a))
    monkeypatch.setattr(checks, "normalise", lambda t: normalised.append(t) or normalise(t))
    checks._read.cache_clear()
    rows = "".join(
        f"r{i},{(i % 500) + 1}000000,approximate,about ${(i % 500) + 1} million,,,,src\n"
        for i in range(20_000)
    )
    header = (evidence_data / FR).read_text(encoding="utf-8").splitlines()[0]
    (evidence_data / FR).write_text(header + "\n" + rows, encoding="utf-8")
    edit(evidence_data.parent.parent / "shared" / "sources" / "a.txt", "\n", "\n" + "".join(
        f"about ${n} million\n" for n in range(1, 501)))  # fmt: skip
    assert Package(evidence_data).validate() == []
    assert len(read) == len(set(read)) == 500  # 20,000 rows, 500 distinct phrases
    assert len(normalised) == 500 + 1  # each phrase once, the copy once


def test_copied_real_package_validates(tmp_path):
    shutil.copytree(paths.PROJECT_ROOT / "data", tmp_path / "data")
    assert Package(tmp_path / "data").validate() == []


@pytest.mark.parametrize("as_json", [False, True])
def test_extract_lists_every_figure_of_a_text(evidence_data, as_json):
    path = evidence_data.parent.parent / "shared" / "sources" / "a.txt"
    result = CliRunner().invoke(app, ["extract", str(path), *(["--json"] if as_json else [])])
    assert result.exit_code == 0, result.output
    for said in ("$460 million", "17.2%", "about $400 million"):
        assert said in result.output


SEED = "shared/sources/techcrunch-china-roundup-data-security-2021-07.txt"


def test_extract_finds_every_figure_the_package_holds_from_the_seed(seed_article):
    import json

    from analysis.data.pairing import figure_fields

    seed = seed_article
    result = CliRunner().invoke(app, ["extract", str(seed), "--json"])
    assert result.exit_code == 0, result.output
    read = {(f["value"], f["unit"]) for f in json.loads(result.stdout)}
    package = Package(paths.PROJECT_ROOT / "data")
    sources = package.load("sources")
    cited = set(sources.loc[sources["local_copy"] == SEED, "source_id"])
    held = []
    for res in package.descriptor()["resources"]:
        frame = package.load(res["name"])
        units = {f["name"]: f.get("unit", "") for f in res["schema"]["fields"]}
        for figure in figure_fields(res["schema"]):
            rows = frame[frame["source_id"].isin(cited) & frame[figure].notna()]
            for _, row in rows.iterrows():
                unit = units[figure] if "see unit" not in units[figure] else row["unit"]
                held.append((float(row[figure]), reader_unit(unit)))
    assert len(held) >= 8
    assert [h for h in held if h not in read] == []


def test_data_dictionary_shows_evidence_fields_and_linked_urls(evidence_data, tmp_path):
    from analysis.reports import site

    site.write_data_dictionary(tmp_path, evidence_data)
    page = (tmp_path / "datasets.html").read_text(encoding="utf-8")
    assert "evidence of amount_usd" in page and "evidence of valuation_usd" in page
    assert '<a href="https://example.org/a?b=1&amp;c=&lt;x&gt;">src</a>' in page
    result = CliRunner().invoke(
        app, ["datasets", "--data", str(evidence_data)], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "evidence of" in flat and "https://example.org" in flat


def test_a_url_that_is_not_a_web_address_is_not_linked(evidence_data, tmp_path):
    from analysis.reports import site

    edit(evidence_data / "sources.csv", "https://example.org/a?b=1&c=<x>", "javascript:alert(1)")
    site.write_data_dictionary(tmp_path, evidence_data)
    assert "javascript:" not in (tmp_path / "datasets.html").read_text(encoding="utf-8")


def test_an_elision_stands_for_words_left_out(evidence_data):
    edit(evidence_data / FR, _BANMA, "Banma recently … $460 million in funding")
    assert Package(evidence_data).validate() == []
    edit(evidence_data / FR, "Banma recently … $460", "$460 million … Banma recently")
    (p,) = Package(evidence_data).validate()
    assert "not in the source's local copy" in p.rule


def test_words_of_passing_read_at_least():
    from analysis.data.evidence import read_figure

    for phrase in ("has crossed the one billion mark", "surpass 3 billion downloads"):
        assert read_figure(phrase).qualifier == "at_least"


def test_a_percentage_then_a_count_is_no_range():
    from analysis.data.evidence import read_figure

    assert read_figure("grew by 29.3% to 400.4 million", "count").value == 400.4e6
