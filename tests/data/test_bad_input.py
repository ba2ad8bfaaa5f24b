"""Bad input gets one clear error naming the file, the CSV line and the column; good oddities load."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.cli import app
from analysis.data import DataError, Package, Problem


@pytest.fixture
def data_copy(article_data: Path) -> Path:
    """These tests break release 1's rows (the July 2021 article) at known lines and cells."""
    return article_data


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _nothing_is_built_from(data_dir: Path, problems: list[Problem]) -> None:
    """`roundup build --data` refuses the package before any kernel starts (exit 2), prints
    each problem, and leaves the published site as it was."""
    site = data_dir.parent / "site"
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text("last good site", encoding="utf-8")
    result = CliRunner().invoke(app, ["build", "--data", str(data_dir), "--out", str(site)])
    assert result.exit_code == 2, result.output
    assert "nothing was built" in result.output
    assert problems[0].file in result.output and (problems[0].column or "") in result.output
    assert sorted(p.name for p in site.iterdir()) == ["index.html"]
    assert (site / "index.html").read_text(encoding="utf-8") == "last good site"


def _problems(name: str) -> list[Problem]:
    with pytest.raises(DataError) as info:
        Package.open().load(name)
    msg = str(info.value)
    for p in info.value.problems:
        assert p.file in msg or len(info.value.problems) > 5
    _nothing_is_built_from(Package.open().path, info.value.problems)
    return info.value.problems


def _one(name: str, file: str, line: int | None, column: str | None, rule: str) -> Problem:
    problems = _problems(name)
    hits = [p for p in problems if p.file == file and p.line == line and p.column == column]
    assert hits, f"no problem at {file}:{line}:{column}; got {[str(p) for p in problems]}"
    assert any(rule in p.rule for p in hits), [str(p) for p in hits]
    return hits[0]


# ----------------------------------------------------------------- header and file shape


def test_missing_column(data_copy):
    _edit(data_copy / "stakes.csv", ",investment_qualifier,", ",")
    lines = (data_copy / "stakes.csv").read_text().splitlines()
    (data_copy / "stakes.csv").write_text(
        "\n".join([lines[0]] + [",".join(r.split(",")[:7] + r.split(",")[8:]) for r in lines[1:2]])
        + "\n"
    )
    _one("stakes", "stakes.csv", 1, "investment_qualifier", "missing column")


def test_extra_unknown_column(data_copy):
    p = data_copy / "listings.csv"
    lines = p.read_text().splitlines()
    p.write_text("\n".join([lines[0] + ",ticker"] + [r + ",DIDI" for r in lines[1:]]) + "\n")
    _one("listings", "listings.csv", 1, "ticker", "unknown column")


def test_renamed_header(data_copy):
    _edit(
        data_copy / "user_bases.csv",
        "record_id,company,product,metric,users,",
        "record_id,company,product,metric,user_count,",
    )
    problems = _problems("user_bases")
    rules = {(p.column, p.rule.split(" (")[0]) for p in problems}
    assert ("users", "missing column") in rules
    assert ("user_count", "unknown column") in rules


def test_empty_file(data_copy):
    (data_copy / "listings.csv").write_text("")
    _one("listings", "listings.csv", None, None, "empty file")


def test_header_only(data_copy):
    p = data_copy / "listings.csv"
    p.write_text(p.read_text().splitlines()[0] + "\n")
    _one("listings", "listings.csv", None, None, "header only")


def test_bom_loads(data_copy):
    p = data_copy / "user_bases.csv"
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    assert len(Package.open().load("user_bases")) == 2


def test_crlf_line_endings_load(data_copy):
    p = data_copy / "regulatory_events.csv"
    p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))
    assert len(Package.open().load("regulatory_events")) == 6


def test_non_utf8_bytes(data_copy):
    p = data_copy / "companies.csv"
    raw = p.read_bytes().replace(
        b"Food delivery leader.", "Food delivery l\xe9ader.".encode("latin-1")
    )
    p.write_bytes(raw)
    line = raw[: raw.index(b"\xe9")].count(b"\n") + 1
    p = _one("companies", "companies.csv", line, "description", "not UTF-8")
    assert p.value == "Food delivery l\ufffdader."


def test_blank_line_in_the_middle(data_copy):
    p = data_copy / "listings.csv"
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines[:3] + [""] + lines[3:]) + "\n")
    _one("listings", "listings.csv", 4, None, "blank line")


def test_quoted_field_with_newline_and_comma_loads_and_lines_stay_right(data_copy):
    _edit(
        data_copy / "listings.csv",
        '"""recently launched on U.S. exchanges""; exchange',
        '"Two lines,\nwith a comma; exchange',
    )
    df = Package.open().load("listings")
    assert (
        "Two lines,\nwith a comma"
        in df.set_index("listing_id").loc["full-truck-alliance-us", "note"]
    )
    # a later bad cell is still reported at its physical line
    _edit(
        data_copy / "listings.csv",
        "alibaba-wall-street,Alibaba,Wall Street,true",
        "alibaba-wall-street,Alibaba,Wall Street,maybe",
    )
    _one("listings", "listings.csv", 7, "overseas", "not a boolean")


def test_row_with_too_few_cells(data_copy):
    p = data_copy / "user_bases.csv"
    p.write_text(p.read_text() + "x,Didi,Didi app\n")
    _one("user_bases", "user_bases.csv", 4, None, "row has 3 cells")


# ----------------------------------------------------------------- cells


@pytest.mark.parametrize("amount", ["$460M", "460,000,000", "460 million", "4.6e8x"])
def test_amount_with_symbols_or_separators(data_copy, amount):
    _edit(data_copy / "funding_rounds.csv", ",460000000,", f',"{amount}",')
    p = _one("funding_rounds", "funding_rounds.csv", 2, "amount_usd", "not a number")
    assert p.value == amount
    # one problem, not follow-ons (an empty amount, a qualifier without its figure)
    assert [str(x) for x in Package.open().validate()] == [str(p)]


def test_negative_amount(data_copy):
    _edit(data_copy / "funding_rounds.csv", ",460000000,", ",-460000000,")
    p = _one("funding_rounds", "funding_rounds.csv", 2, "amount_usd", "below the minimum 0")
    assert p.value == "-460000000"  # as written


@pytest.mark.parametrize(
    ("pct", "rule"), [("117.2", "above the maximum 100"), ("-1", "below the minimum 0")]
)
def test_stake_out_of_range(data_copy, pct, rule):
    _edit(data_copy / "stakes.csv", ",17.2,", f",{pct},")
    _one("stakes", "stakes.csv", 2, "stake_pct", rule)


def test_date_after_as_of(data_copy):
    _edit(
        data_copy / "regulatory_events.csv",
        "didi-review-2021-07-02,2021-07-02,",
        "didi-review-2021-07-02,2021-08-02,",
    )
    _one("regulatory_events", "regulatory_events.csv", 3, "date", "after the row's as_of")


def test_as_of_in_the_future(data_copy):
    _edit(data_copy / "user_bases.csv", "annually,2021-07,", "annually,2099-07,")
    _one("user_bases", "user_bases.csv", 2, "as_of", "in the future")


@pytest.mark.parametrize("bad", ["2021-02-30", "2021-13", "21-07-02", "July 2021"])
def test_impossible_or_malformed_date(data_copy, bad):
    _edit(
        data_copy / "regulatory_events.csv",
        "didi-review-2021-07-02,2021-07-02,",
        f"didi-review-2021-07-02,{bad},",
    )
    p = _one("regulatory_events", "regulatory_events.csv", 3, "date", "date")
    assert p.value == bad


def test_unknown_qualifier(data_copy):
    _edit(data_copy / "user_bases.csv", ",approximate,", ",almost,")
    _one(
        "user_bases",
        "user_bases.csv",
        2,
        "qualifier",
        "not one of exact, approximate, at_least, at_most",
    )


def test_figure_without_qualifier(data_copy):
    _edit(data_copy / "user_bases.csv", ",approximate,", ",,")
    _one("user_bases", "user_bases.csv", 2, "qualifier", "a qualifier is required")


def test_figure_without_evidence(data_copy):
    _edit(data_copy / "user_bases.csv", ",utilized by almost 500 million users annually,", ",,")
    _one("user_bases", "user_bases.csv", 2, "evidence", "evidence is required when users is given")


def test_evidence_without_figure(data_copy):
    _edit(data_copy / "listings.csv", ",4000000000,approximate,", ",,,")
    _one("listings", "listings.csv", 2, "evidence", "evidence given but amount_raised_usd is empty")


def test_duplicate_primary_key(data_copy):
    p = data_copy / "listings.csv"
    lines = p.read_text().splitlines()
    p.write_text("\n".join(lines + [lines[1]]) + "\n")
    problems = _problems("listings")
    dups = [p for p in problems if p.column == "listing_id" and "duplicate" in p.rule]
    assert {p.line for p in dups} == {2, 7}


def test_source_id_that_does_not_exist(data_copy):
    _edit(
        data_copy / "stakes.csv",
        '$400 million",2021-07,tc-2021-07,Tencent',
        '$400 million",2021-07,tc-2099-01,Tencent',
    )
    _one("stakes", "stakes.csv", 2, "source_id", "not found in sources.source_id")


def test_company_not_in_companies(data_copy):
    _edit(
        data_copy / "stakes.csv",
        "tencent-meituan-2021-07,Tencent,Meituan,",
        "tencent-meituan-2021-07,Tencent,Meituan Dianping,",
    )
    p = _one("stakes", "stakes.csv", 2, "company", "not found in companies.company")
    assert p.value == "Meituan Dianping"


def test_required_cell_empty(data_copy):
    _edit(data_copy / "listings.csv", "didi-new-york,Didi,New York,", "didi-new-york,Didi,,")
    _one("listings", "listings.csv", 2, "venue", "required")


def test_formula_looking_cell_loads_as_text(data_copy):
    formula = '=HYPERLINK("http://example.invalid","x")'
    _edit(
        data_copy / "companies.csv", "Food delivery leader.", '"' + formula.replace('"', '""') + '"'
    )
    df = Package.open().load("companies").set_index("company")
    assert df.loc["Meituan", "description"] == formula


def test_chinese_characters_load(data_copy):
    _edit(data_copy / "companies.csv", "Meituan,,,", "Meituan,美团,,")
    df = Package.open().load("companies").set_index("company")
    assert df.loc["Meituan", "name_zh"] == "美团"


def test_validate_reports_every_problem_across_files(data_copy):
    _edit(data_copy / "stakes.csv", ",17.2,", ",117.2,")
    _edit(data_copy / "user_bases.csv", ",approximate,", ",almost,")
    _edit(data_copy / "funding_rounds.csv", ",460000000,", ",$460M,")
    problems = Package.open().validate()
    files = {p.file for p in problems}
    assert files == {"stakes.csv", "user_bases.csv", "funding_rounds.csv"}
    assert all(p.line is not None and p.column for p in problems)


def test_error_message_names_file_line_column_value_and_rule(data_copy):
    _edit(data_copy / "funding_rounds.csv", ",460000000,", ',"$460M",')
    with pytest.raises(DataError) as info:
        Package.open().load("funding_rounds")
    msg = str(info.value)
    assert "funding_rounds.csv, line 2, column 'amount_usd'" in msg
    assert "'$460M'" in msg and "not a number" in msg


def test_malformed_datapackage_json(data_copy):
    (data_copy / "datapackage.json").write_text('{"resources": [\n  {bad\n', encoding="utf-8")
    problems = Package.open().validate()
    assert len(problems) == 1
    assert problems[0].file == "datapackage.json" and problems[0].line == 2
    assert "not valid JSON" in problems[0].rule
    _nothing_is_built_from(data_copy, problems)
    result = CliRunner().invoke(app, ["validate", str(data_copy)])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_unknown_field_type_in_the_schema(data_copy):
    path = data_copy / "datapackage.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"type": "number"', '"type": "strnig"', 1), encoding="utf-8")
    problems = Package.open().validate()
    assert problems and problems[0].file == "datapackage.json"
    assert problems[0].value == "strnig" and "unknown field type" in problems[0].rule
    _nothing_is_built_from(data_copy, problems)


# ----------------------------------------------------------------- evidence (tiny package)

_FR = "funding_rounds.csv"
_BANMA = "recently secured $460 million in funding"


def _evidence_problem(data: Path, line: int, column: str, rule: str) -> Problem:
    """The one problem `roundup validate` prints for the package, which also stops a build."""
    problems = Package(data).validate()
    assert [(p.file, p.line, p.column) for p in problems] == [(_FR, line, column)], problems
    assert rule in problems[0].rule, str(problems[0])
    result = CliRunner().invoke(app, ["validate", str(data)])
    assert result.exit_code == 1 and _FR in result.output and column in result.output
    _nothing_is_built_from(data, problems)
    return problems[0]


def test_value_edited_without_its_evidence(evidence_data):
    _edit(evidence_data / _FR, "460000000,exact", "500000000,exact")
    _evidence_problem(evidence_data, 2, "evidence", "the row says $500,000,000 (exact)")


def test_qualifier_the_evidence_contradicts(evidence_data):
    _edit(evidence_data / _FR, "460000000,exact", "460000000,at_most")
    _evidence_problem(evidence_data, 2, "evidence", "read as $460,000,000 (exact)")


def test_evidence_not_in_the_local_copy(evidence_data):
    _edit(evidence_data / _FR, _BANMA, "secured as much as $460 million")
    _edit(evidence_data / _FR, "460000000,exact", "460000000,at_most")
    _evidence_problem(evidence_data, 2, "evidence", "not in the source's local copy")


def test_evidence_that_states_no_figure(evidence_data):
    _edit(evidence_data / _FR, _BANMA, "recently secured funding")
    _evidence_problem(evidence_data, 2, "evidence", "the words state no single figure")


def test_evidence_missing_for_a_figure(evidence_data):
    _edit(evidence_data / _FR, _BANMA, "")
    _evidence_problem(evidence_data, 2, "evidence", "evidence required")
