"""The report plan: expansion, naming, selection and parameter checks (no kernels)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest

from analysis.reports import parameters
from analysis.reports import plan as planning
from analysis.reports.plan import PlanError

PROFILE_PARAMS = 'company: str = "Didi"\nyear = 2021\nshare = 0.5\nshow_notes = True\nlabel = None'


@pytest.fixture
def profile(make_notebook) -> Path:
    return make_notebook("profile.ipynb", PROFILE_PARAMS, ["print(company)"])


def write_plan(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text('notebooks = "notebooks"\n' + text, encoding="utf-8")
    return path


def test_slugify():
    assert planning.slugify("company-Full Truck Alliance") == "company-full-truck-alliance"
    assert planning.slugify("  Boss  Zhipin!! ") == "boss-zhipin"
    assert planning.slugify("滴滴") == ""


def test_plan_expands_list_grid_and_companies(tmp_path, profile, tiny_data):
    path = write_plan(
        tmp_path,
        """
[[report]]
name = "overview"
notebook = "profile.ipynb"

[[report]]
name = "company-{company}"
notebook = "profile.ipynb"
parameters = {year = 2020}
[report.grid]
company = "companies"

[[report]]
name = "y{year}-{company}"
notebook = "profile.ipynb"
[report.grid]
year = [2019, 2020]
company = ["A", "B"]
""",
    )
    reports = planning.load_plan(path)
    assert [r.name for r in reports] == [
        "overview",
        "company-alpha-co",
        "company-beta",
        "y2019-a",
        "y2019-b",
        "y2020-a",
        "y2020-b",
    ]
    assert reports[0].parameters == {}
    assert reports[1].parameters == {"year": 2020, "company": "Alpha Co"}
    assert reports[1].notebook == profile.resolve()
    assert reports[1].workdir == profile.parent.resolve()
    assert reports[1].notebook_label == "profile.ipynb"


def test_real_plan_file_is_well_formed():
    """reports/plan.toml parses and names the five notebooks (their contents are not needed)."""
    import tomllib

    from analysis import paths

    plan_data = tomllib.loads(paths.plan_file().read_text())
    entries = plan_data["report"]
    assert [(e["name"], e["notebook"], e["section"]) for e in entries] == [
        ("roundup", "01-roundup.ipynb", "overview"),
        ("data-security-review", "03-data-security-review.ipynb", "topics"),
        ("app-downloads", "04-app-downloads.ipynb", "topics"),
        ("funding-and-stakes", "05-funding-and-stakes.ipynb", "topics"),
        ("company-{company}", "02-company-profile.ipynb", "companies"),
    ]
    assert entries[-1]["grid"] == {"company": "companies"}
    assert set(plan_data["site"]) == {"url", "publisher"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('name = "x"\nnotebook = "missing.ipynb"', "notebook not found"),
        ('name = "x"\nnotebook = "profile.ipynb"\ncolour = "red"', "unknown key(s) colour"),
        ('notebook = "profile.ipynb"', "'name' is required"),
        (
            'name = "x-{nope}"\nnotebook = "profile.ipynb"\n[report.grid]\ncompany = ["A"]',
            "bad name",
        ),
        ('name = "x"\nnotebook = "profile.ipynb"\n[report.grid]\ncompany = "everyone"', "grid"),
        ('name = "x"\nnotebook = "profile.ipynb"\n[report.grid]\ncompany = []', "non-empty"),
        (
            'name = "x"\nnotebook = "profile.ipynb"\n[report.grid]\ncompany = ["A", "B"]',
            "duplicate",
        ),
        ('name = "!!"\nnotebook = "profile.ipynb"', "no letters or digits"),
    ],
)
def test_plan_errors(tmp_path, profile, body, message):
    path = write_plan(tmp_path, f"[[report]]\n{body}\n")
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        planning.load_plan(path)


def test_missing_and_malformed_plan_files(tmp_path):
    with pytest.raises(PlanError, match="plan not found"):
        planning.load_plan(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[report]\n", encoding="utf-8")
    with pytest.raises(PlanError, match="not valid TOML"):
        planning.load_plan(bad)


def test_plan_parameter_error_names_report_and_parameter(tmp_path, profile):
    path = write_plan(
        tmp_path,
        '[[report]]\nname = "p"\nnotebook = "profile.ipynb"\nparameters = {compnay = "A"}\n',
    )
    with pytest.raises(PlanError) as info:
        planning.load_plan(path)
    assert "report 'p'" in str(info.value)
    assert "did you mean 'company'" in str(info.value)


def test_toml_dates_travel_as_iso_strings(tmp_path, make_notebook):
    make_notebook("dated.ipynb", 'as_of = "2021-07-31"')
    path = write_plan(
        tmp_path,
        '[[report]]\nname = "d-{as_of}"\nnotebook = "dated.ipynb"\n'
        "[report.grid]\nas_of = [2021-07-02, 2021-08-01]\n",
    )
    reports = planning.load_plan(path)
    assert [r.name for r in reports] == ["d-2021-07-02", "d-2021-08-01"]
    assert reports[0].parameters == {"as_of": "2021-07-02"}


# --------------------------------------------------------------------------- parameters


def test_unknown_parameter_suggests_the_close_one(profile):
    with pytest.raises(PlanError, match=r"no parameter 'compny'; did you mean 'company'\?"):
        parameters.check_parameters(profile, {"compny": "Didi"}, "r")


def test_notebook_without_parameters_cell(make_notebook):
    nb = make_notebook("bare.ipynb", None, ["x = 1"])
    assert parameters.check_parameters(nb, {}, "r") == {}
    with pytest.raises(PlanError, match="no cell tagged 'parameters'"):
        parameters.check_parameters(nb, {"x": 2}, "r")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("company", 3, "expected str"),
        ("year", "2021", "expected int"),
        ("year", True, "expected int"),
        ("year", 2021.5, "expected int"),
        ("share", "half", "expected float"),
        ("show_notes", 1, "expected bool"),
        ("company", None, "got None; expected str"),
    ],
)
def test_wrong_type(profile, name, value, expected):
    with pytest.raises(PlanError, match=expected) as info:
        parameters.check_parameters(profile, {name: value}, "company-didi")
    assert f"report 'company-didi', parameter '{name}'" in str(info.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), np.float64("nan")])
def test_nan_and_infinity_refused(profile, value):
    with pytest.raises(PlanError, match="not a finite number"):
        parameters.check_parameters(profile, {"share": value}, "r")


def test_tuple_refused(profile):
    with pytest.raises(PlanError, match="got a tuple .*use a list"):
        parameters.check_parameters(profile, {"label": ("a", "b")}, "r")


def test_unsupported_object_refused(profile):
    with pytest.raises(PlanError, match="unsupported value"):
        parameters.check_parameters(profile, {"label": {1, 2}}, "r")


def test_dates_become_iso_strings(profile):
    checked = parameters.check_parameters(profile, {"company": dt.date(2021, 7, 2)}, "r")
    assert checked == {"company": "2021-07-02"}
    stamp = dt.datetime(2021, 7, 2, 8, 30)
    assert parameters.check_parameters(profile, {"company": stamp}, "r") == {
        "company": "2021-07-02T08:30:00"
    }


def test_conversions(profile):
    checked = parameters.check_parameters(
        profile,
        {
            "year": np.int64(2020),
            "share": 1,  # int accepted for float, becomes float
            "show_notes": np.bool_(False),
            "company": np.str_("Meituan"),
            "label": ["x", np.float64(1.5), {"k": dt.date(2020, 1, 1)}],  # default None: any
        },
        "r",
    )
    assert checked == {
        "year": 2020,
        "share": 1.0,
        "show_notes": False,
        "company": "Meituan",
        "label": ["x", 1.5, {"k": "2020-01-01"}],
    }
    assert type(checked["year"]) is int and type(checked["share"]) is float
    assert type(checked["show_notes"]) is bool


def test_annotations_papermill_misses_are_read_with_ast(make_notebook):
    nb = make_notebook(
        "typed.ipynb",
        'as_of: str | None = None\nlimit: Optional[int] = None\nnames: list[str] = ["a"]\n'
        "threshold = 1_000_000",
    )
    checked = parameters.check_parameters(
        nb, {"as_of": "2021-07", "limit": None, "names": ["b"], "threshold": 5}, "r"
    )
    assert checked == {"as_of": "2021-07", "limit": None, "names": ["b"], "threshold": 5}
    with pytest.raises(PlanError, match="expected str"):
        parameters.check_parameters(nb, {"as_of": 2021}, "r")
    with pytest.raises(PlanError, match="expected int"):
        parameters.check_parameters(nb, {"limit": "3"}, "r")
    with pytest.raises(PlanError, match="expected list"):
        parameters.check_parameters(nb, {"names": "a"}, "r")


# --------------------------------------------------------------------------- selection


def test_select_by_name_pattern_and_notebook(tmp_path, profile):
    reports = [
        planning.Report("roundup", profile, {}, profile.parent),
        planning.Report("company-a", profile, {"company": "A"}, profile.parent),
        planning.Report("company-b", profile, {"company": "B"}, profile.parent),
    ]
    assert planning.select(reports, []) == reports
    assert [r.name for r in planning.select(reports, ["company-*"])] == ["company-a", "company-b"]
    chosen = planning.select(reports, ["roundup", "profile"], notebooks_dir=profile.parent)
    assert [r.name for r in chosen] == ["roundup", "profile"]
    with pytest.raises(PlanError, match="did you mean roundup"):
        planning.select(reports, ["rounup"], notebooks_dir=profile.parent)


def test_adhoc_report_is_named_after_notebook_and_values(profile):
    report = planning.adhoc_report(profile, {"company": "Full Truck Alliance", "year": 2020})
    assert report.name == "profile-full-truck-alliance-2020"
    assert report.workdir == profile.parent.resolve()
    assert planning.resolve_notebook(str(profile)) == profile.resolve()
    assert planning.resolve_notebook("profile", profile.parent) == profile.resolve()
    assert planning.resolve_notebook("nothing-here", profile.parent) is None


def test_long_names_are_capped_with_a_hash(tmp_path, profile):
    assert planning.report_name("A" * 80) == "a" * 80
    long_a, long_b = planning.report_name("x" * 200 + "a"), planning.report_name("x" * 200 + "b")
    assert len(long_a) == len(long_b) == planning.MAX_NAME and long_a != long_b
    assert long_a.startswith("x" * 70) and planning.slugify(long_a) == long_a
    path = write_plan(
        tmp_path,
        '[[report]]\nname = "p-{company}"\nnotebook = "profile.ipynb"\n'
        f'[report.grid]\ncompany = ["{"Very Long Name " * 10}1", "{"Very Long Name " * 10}2"]\n',
    )
    names = [r.name for r in planning.load_plan(path)]
    assert all(len(n) == planning.MAX_NAME for n in names) and len(set(names)) == 2


def test_adhoc_names_of_values_a_slug_cannot_spell_stay_apart(profile):
    didi = planning.adhoc_report(profile, {"company": "滴滴"}).name
    banma = planning.adhoc_report(profile, {"company": "斑马"}).name
    assert didi != banma
    assert re.fullmatch(r"profile-[0-9a-f]{8}", didi), didi
    assert planning.adhoc_report(profile, {"company": "滴滴"}).name == didi  # stable
    assert planning.adhoc_report(profile, {"company": "Didi"}).name == "profile-didi"


def test_adhoc_report_takes_an_explicit_name(profile):
    report = planning.adhoc_report(profile, {"company": "A" * 300}, name="didi-special")
    assert report.name == "didi-special" and report.parameters == {"company": "A" * 300}
    for bad in ("Didi Special", "x" * 81, "-x-", ""):
        with pytest.raises(PlanError, match="name"):
            planning.adhoc_report(profile, {}, name=bad)
