"""A notebook's parameters cell read as papermill reads it; declared types; typing -p values."""

from __future__ import annotations

import subprocess
import sys
from types import NoneType

import pytest

from analysis.errors import RoundupError
from analysis.reports import parameters
from analysis.reports.parameters import ParameterError
from analysis.reports.plan import PlanError


def _names(source: str) -> dict[str, tuple[str, str]]:
    found = parameters.read_parameters_cell(source)
    return {n: (s["inferred_type_name"], s["default"]) for n, s in found.items()}


def test_errors_are_the_projects():
    assert issubclass(ParameterError, PlanError)
    assert issubclass(PlanError, RoundupError) and issubclass(PlanError, ValueError)


def test_magics_and_shell_lines_are_read_as_a_kernel_runs_them():
    source = (
        "%matplotlib inline\n!echo hi\nfiles = !ls\ncompany = 'Didi'  # whose profile\n"
        "as_of: str | None = None\n%load_ext autoreload\nls?\n"
    )
    found = parameters.read_parameters_cell(source)
    assert list(found) == ["files", "company", "as_of"]
    assert found["company"]["help"] == "whose profile"
    assert found["as_of"]["inferred_type_name"] == "str | None"


def test_a_line_python_cannot_parse_falls_back_to_papermills_reading():
    assert _names("x = 1 +\ny = 2\nname: str = 'a'") == {
        "x": ("None", "1 +"),
        "y": ("None", "2"),
        "name": ("str", "'a'"),
    }
    assert _names("%%time\nx = 2\n") == {"x": ("None", "2")}


def test_blocks_type_comments_and_repeats():
    source = (
        "import os\n"
        "if os.environ.get('FAST'):\n    rows = 10\nelse:\n    rows = 100\n"
        "try:\n    limit = int('3')\nexcept ValueError:\n    limit = None\n"
        "flag = False  # type: bool\n"
        "def helper():\n    inner = 1\n"
        "class K:\n    attr = 2\n"
        "a = b = 'same'\n"
    )
    found = _names(source)
    assert found == {
        "rows": ("None", "100"),
        "limit": ("None", "None"),
        "flag": ("bool", "False"),
        "a": ("None", "'same'"),
        "b": ("None", "'same'"),
    }


@pytest.mark.parametrize(
    ("annotation", "default", "types"),
    [
        ("int", "1", (int,)),
        ("None", "1", (int,)),
        ("None", "1.5", (float,)),
        ("None", "'x'", (str,)),
        ("None", "None", None),
        ("None", "2 * 3", None),
        ("Optional[int]", "None", (int, NoneType)),
        ("typing.Optional[int]", "3", (int, NoneType)),
        ("int | None", "3", (int, NoneType)),
        ("None | str", "'a'", (NoneType, str)),
        ("Union[int, str]", "5", (int, str)),
        ("t.Union[int, float, None]", "5", (int, float, NoneType)),
        ("list[str]", "[]", (list,)),
        ("List[str] | None", "None", (list, NoneType)),
        ("dict[str, int]", "{}", (dict,)),
        ("Mapping[str, int]", "{}", (dict,)),
        ("'float'", "1.0", (float,)),
        ("Literal['a', 'b']", "'a'", (str,)),
        ("Annotated[int, 'people']", "1", (int,)),
        ("str", "None", (str, NoneType)),
        ("date", "date.today()", None),
        ("tuple[int, int]", "(1, 2)", None),
        ("Any", "1", None),
        ("list[", "[]", None),
    ],
)
def test_declared_types(annotation, default, types):
    spec = {"name": "p", "inferred_type_name": annotation, "default": default, "help": ""}
    assert parameters.declared_types(spec) == types


def test_cell_without_names_says_so(make_notebook):
    nb = make_notebook("empty.ipynb", "%matplotlib inline\nimport os")
    with pytest.raises(ParameterError, match="assigns no names"):
        parameters.check_parameters(nb, {"x": 1}, "r")


def test_union_and_optional_values(make_notebook):
    nb = make_notebook(
        "u.ipynb",
        "from typing import Optional, Union\nn: Union[int, str] = 1\nk: float | None = None",
    )
    check = parameters.check_parameters
    assert check(nb, {"n": "ten", "k": 3}, "r") == {"n": "ten", "k": 3.0}
    assert check(nb, {"n": 2, "k": None}, "r") == {"n": 2, "k": None}
    with pytest.raises(ParameterError, match="expected int or str"):
        check(nb, {"n": 1.5}, "r")
    with pytest.raises(ParameterError, match="expected float or None"):
        check(nb, {"k": "x"}, "r")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("company=2021", "2021"),  # str: the text stays text
        ("company=None", "None"),
        ("n=3", 3),  # Union[int, str]: an int fits
        ("n=three", "three"),
        ("as_of=None", None),  # Optional[str]
        ("as_of=2021", "2021"),
        ("flag=False", False),  # default None: typed as papermill types it
        ("flag=None", None),
        ("flag=1.5", 1.5),
        ("when=2021", 2021),  # expression default
        ("when=True", True),
    ],
)
def test_cli_values_as_declared(make_notebook, item, expected):
    nb = make_notebook(
        "cli.ipynb",
        "%matplotlib inline\nfrom typing import Optional, Union\ncompany = 'Didi'\n"
        "n: Union[int, str] = 1\nas_of: Optional[str] = None\nflag = None\nwhen = len('abc')",
    )
    given = parameters.as_declared(nb, parameters.parse_params([item]), [item])
    name = item.partition("=")[0]
    checked = parameters.check_parameters(nb, given, "r")
    assert checked == {name: expected} and type(checked[name]) is type(expected)


def test_parse_params_needs_name_and_value():
    import typer

    assert parameters.parse_params(["s=a=b", " x =None"]) == {"s": "a=b", "x": None}
    with pytest.raises(typer.BadParameter):
        parameters.parse_params(["=3"])


def test_no_change_rebuild_reads_no_cell_with_ipython_or_papermill(make_notebook):
    """Without parameters nothing parses the cell; with them, a plain cell needs only ast."""
    magic = make_notebook("m.ipynb", "%matplotlib inline\nx = 1")
    plain = make_notebook("p.ipynb", "x: int | None = 1")
    code = (
        "import sys\nfrom pathlib import Path\nfrom analysis.reports import parameters as p\n"
        f"p.check_parameters(Path({str(magic)!r}), {{}}, 'r')\n"
        f"p.check_parameters(Path({str(plain)!r}), {{'x': 2}}, 'r')\n"
        "print(sorted({'IPython', 'papermill', 'nbformat'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
