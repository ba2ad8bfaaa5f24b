"""Notebooks written the way people outside this project write them, against papermill itself.

The notebooks beside this file (excluded from nbval in tests/conftest.py) hold what a
``parameters`` cell may hold in the wild: magics and shell lines, comments, annotations
(``Union``, ``|``, ``Optional``, string annotations, ``# type:`` comments), expression and None
defaults; one has no language metadata at all, one takes a very long value. For each, the values
we would inject for some ``-p NAME=VALUE`` must be what papermill's own command line would inject
(same values, same types), except where README.md documents a stricter or different rule (tested
at the end of this file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from papermill.cli import _resolve_type as papermill_cli_value
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from papermill.translators import PythonTranslator

from analysis.reports import build as building
from analysis.reports import parameters, plan
from analysis.reports.parameters import ParameterError

HERE = Path(__file__).resolve().parent


def _ours(notebook: Path, items: list[str]) -> dict[str, Any]:
    """What `roundup build -p ITEM... NOTEBOOK` passes to papermill (cli.py's two steps)."""
    given = parameters.as_declared(notebook, parameters.parse_params(items), items)
    return parameters.check_parameters(notebook, given, "outside")


def _papermills(items: list[str]) -> dict[str, Any]:
    """What `papermill -p NAME VALUE ...` passes on (papermill.cli types each value)."""
    return {n: papermill_cli_value(v) for n, _, v in (i.partition("=") for i in items)}


def _injected(notebook: Path, values: dict[str, Any]) -> dict[str, Any]:
    """The namespace papermill's injected-parameters cell creates for ``values``."""
    nb = load_notebook_node(str(notebook))  # as papermill loads it (every cell gets tags)
    nb = parameterize_notebook(nb, values, kernel_name="python3", language="python")
    [cell] = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    namespace: dict[str, Any] = {}
    exec(cell.source, namespace)  # noqa: S102 - papermill's generated assignments only
    return {k: (type(v), v) for k, v in namespace.items() if k != "__builtins__"}


PARITY = [
    ("magic", ["region=EMEA", "limit=25"]),
    ("annotated", ["as_of=2021-06-30", "threshold=2.5e6", "window=48", "verbose=True"]),
    ("annotated", ["start=2021-02-01", "as_of=31 July"]),  # expression default; text
    ("unions", ["limit=7", "cap=None", "label=None", "scale=2.5", "codes=None"]),
    ("unions", ["limit=ten", "cap=3", "label=Didi", "limit=true"]),
    ("defaults", ["flag=False", "threshold=0.5", "when=None", "count=7", "ratio=1e-3"]),
    ("defaults", ["flag=True", "note=None", "count=-2", "when=2021-07"]),
    ("nolanguage", ["x=5", "label=fancy"]),
    ("longvalue", ["title=" + "a long title " * 40]),
]


@pytest.mark.parametrize(
    ("name", "items"), PARITY, ids=[f"{n}-{i}" for i, (n, _) in enumerate(PARITY)]
)
def test_injected_parameters_match_papermills(name, items):
    notebook = HERE / f"{name}.ipynb"
    ours = _ours(notebook, items)
    assert _injected(notebook, ours) == _injected(notebook, _papermills(items))


@pytest.mark.parametrize("name", ["magic", "annotated", "unions", "defaults", "nolanguage"])
def test_we_know_every_parameter_papermill_finds(name):
    """papermill's inspection is a subset of ours (it misses `x: int | None = ...`)."""
    notebook = HERE / f"{name}.ipynb"
    nb = nbformat.read(str(notebook), as_version=4)
    [cell] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    theirs = {p.name for p in PythonTranslator.inspect(cell)}
    ours = parameters.notebook_parameters(notebook)
    assert theirs <= set(ours)
    if name == "unions":
        assert set(ours) - theirs == {"cap", "codes"}


def test_magic_cell_declares_its_parameters_with_their_types():
    specs = parameters.notebook_parameters(HERE / "magic.ipynb")
    assert {n: parameters.declared_types(s) for n, s in specs.items()} == {
        "region": (str,),
        "limit": (int,),
    }
    with pytest.raises(ParameterError, match=r"no parameter 'regoin'; did you mean 'region'\?"):
        _ours(HERE / "magic.ipynb", ["regoin=EMEA"])


def test_no_language_notebook_takes_parameters():
    notebook = HERE / "nolanguage.ipynb"
    assert parameters.language_override(notebook) == "python"
    assert parameters.language_override(HERE / "magic.ipynb") is None
    assert _ours(notebook, ["x=5"]) == {"x": 5}


def test_long_value_gives_a_short_unique_report_name():
    notebook = HERE / "longvalue.ipynb"
    one = plan.adhoc_report(notebook, _ours(notebook, ["title=" + "x" * 300 + "1"]))
    two = plan.adhoc_report(notebook, _ours(notebook, ["title=" + "x" * 300 + "2"]))
    assert len(one.name) == len(two.name) == plan.MAX_NAME
    assert one.name != two.name and one.name.startswith("longvalue-xxx")


# --------------------------------------------------------------------------- where we differ


@pytest.mark.parametrize(
    ("name", "item", "ours", "papermills"),
    [
        # text stays text for a str parameter (papermill would hand the notebook an int)
        ("annotated", "as_of=2021", "2021", 2021),
        # an int for a float parameter becomes a float
        ("annotated", "threshold=2000000", 2000000.0, 2000000),
        # -p values are JSON first: lists, dicts, true/false/null
        ("unions", "codes=[1, 2]", [1, 2], "[1, 2]"),
        ("defaults", "flag=true", True, "true"),
        ("defaults", "when=null", None, "null"),
    ],
)
def test_documented_differences(name, item, ours, papermills):
    notebook = HERE / f"{name}.ipynb"
    key = item.partition("=")[0]
    assert _ours(notebook, [item]) == {key: ours}
    assert _papermills([item]) == {key: papermills}


@pytest.mark.parametrize(
    ("name", "item", "message"),
    [
        ("magic", "limit=ten", "expected int"),  # papermill injects the text
        ("unions", "cap=ten", "expected int or None"),
        ("annotated", "threshold=nan", "not a finite number"),  # papermill injects float('nan')
        ("annotated", "verbose=1", "expected bool"),
        ("annotated", "names=Didi", r"expected list \(default \[ \"Didi\", # first"),
        ("magic", "colour=red", "no parameter 'colour'"),  # papermill warns and injects it
    ],
)
def test_stricter_than_papermill(name, item, message):
    with pytest.raises(ParameterError, match=message):
        _ours(HERE / f"{name}.ipynb", [item])


def test_cli_values_are_papermills_where_json_does_not_apply():
    texts = ["True", "False", "None", "3", "-3", "007", "1_000", "2.5", "1e3", "inf", "2021-07"]
    texts += ["", " ", "Didi", "a=b", "0x10", "3.0.1"]
    for text in texts:
        ours, theirs = parameters.cli_value(text), papermill_cli_value(text)
        assert (type(ours), ours) == (type(theirs), theirs), text
    assert parameters.cli_value('"007"') == "007" and json.loads("[1]") == [1]


# --------------------------------------------------------------------------- end to end


@pytest.mark.e2e
def test_outside_notebooks_run_with_parameters(tmp_path, tiny_data):
    """Magic, no language metadata, a long value: each runs, with its parameters, in a kernel."""
    reports = [
        plan.adhoc_report(HERE / "magic.ipynb", _ours(HERE / "magic.ipynb", ["limit=25"])),
        plan.adhoc_report(
            HERE / "nolanguage.ipynb", _ours(HERE / "nolanguage.ipynb", ["label=fancy", "x=5"])
        ),
        plan.adhoc_report(HERE / "longvalue.ipynb", {"title": "t" * 400}),
    ]
    summary = building.build(reports, tmp_path / "site", jobs=2, data_dir=tiny_data)
    assert [e["status"] for e in summary.entries] == ["ok", "ok", "ok"], summary.entries
    printed = {}
    for report in reports:
        executed = next((tmp_path / "site" / report.name).glob("runs/*/*.ipynb"))
        cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
        printed[report.name] = "".join(cells[-1]["outputs"][0]["text"])
    assert list(printed.values()) == ["APAC 25\n", "fancy 10\n", "400\n"]
