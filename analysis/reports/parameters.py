"""A notebook's parameters: its ``parameters`` cell read as papermill reads it, the type each
parameter declares, and the checking and typing of the values a plan or ``-p`` gives it.

The cell is read in three steps, each only when the one before cannot: :mod:`ast` on the cell
(fast, and all a no-change rebuild needs); IPython's own input transformer first, when the cell
holds magics (``%matplotlib inline``) or shell lines (``!ls``), as a kernel would run it; and
papermill's line-based inspection last (a line Python cannot parse, a cell magic). Values are
then checked more strictly than papermill does (papermill injects anything): unknown names,
values of the wrong type where the type is knowable, NaN, infinities and tuples are refused.
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from types import EllipsisType
from typing import Any

from analysis.reports.plan import PlanError

__all__ = [
    "ParameterError",
    "as_declared",
    "check_parameters",
    "cli_value",
    "declared_types",
    "language_override",
    "notebook_parameters",
    "parse_params",
    "read_parameters_cell",
]

NoneType = type(None)
#: Annotation names (last dotted part: ``typing.List`` -> ``List``) and the JSON-compatible
#: type a value must have; any other annotation (``date``, ``pd.Timestamp``) accepts anything.
_NAMED: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "List": list,
    "Sequence": list,
    "MutableSequence": list,
    "dict": dict,
    "Dict": dict,
    "Mapping": dict,
    "MutableMapping": dict,
    "None": NoneType,
    "NoneType": NoneType,
}
_LITERALS = (str, int, float, bool, list, dict)
Types = tuple[type, ...]


class ParameterError(PlanError):
    """A parameter (name, value or type) does not fit its notebook; the message says why."""


# --------------------------------------------------------------------------- reading the cell


def _read_notebook(notebook: Path) -> dict[str, Any]:
    from analysis.reports.fingerprint import read_notebook_json

    try:
        return read_notebook_json(notebook)
    except FileNotFoundError:
        raise ParameterError(f"notebook not found: {notebook}") from None
    except (OSError, ValueError) as exc:
        raise ParameterError(f"cannot read notebook {notebook}: {exc}") from None


def _parameters_source(nb: Mapping[str, Any]) -> str | None:
    """Source of the first code cell tagged ``parameters``, or None when there is none."""
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "code" and "parameters" in tags:
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else str(source)
    return None


def notebook_parameters(notebook: Path) -> dict[str, dict[str, str]] | None:
    """The parameters declared in ``notebook``'s code cell tagged ``parameters``.

    Returns ``{name: {"name", "inferred_type_name", "default", "help"}}``, the shape of
    ``papermill.inspect_notebook`` (``default`` and the type name are source text, e.g.
    ``'"Didi"'`` and ``"str | None"``; the type name is ``"None"`` when not annotated), or
    None when the notebook has no such cell. See :func:`read_parameters_cell`.
    Raises :class:`ParameterError` if the notebook is missing or not a notebook.
    """
    source = _parameters_source(_read_notebook(notebook))
    return None if source is None else read_parameters_cell(source)


def read_parameters_cell(source: str) -> dict[str, dict[str, str]]:
    """The names a parameters cell assigns, with annotation, default text and help comment.

    Read with :mod:`ast` (assignments at module level and inside ``if``/``for``/``with``/
    ``try`` blocks, annotations such as ``str | None``, ``# type: int`` comments, values over
    several lines); a cell holding IPython syntax is first turned into Python by IPython's
    input transformer; a cell that still does not parse (or is a cell magic) is read by
    papermill's ``PythonTranslator.inspect``, line by line. A name assigned twice keeps the
    last assignment, as papermill does. Never raises; ``{}`` when nothing is found.
    """
    found = _read_python(source)
    if found is None and not source.lstrip().startswith("%%"):
        found = _read_python(_ipython_to_python(source))
    if found is None:
        from papermill.translators import PythonTranslator

        found = {p.name: p._asdict() for p in PythonTranslator.inspect({"source": source})}
    return found


def _ipython_to_python(source: str) -> str:
    """``source`` with magics and shell lines as the Python IPython runs (``get_ipython()...``);
    ``source`` itself if IPython cannot transform it."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - IPython's transformers may raise anything on odd input
        return source


def _parse(source: str) -> ast.Module | None:
    for type_comments in (True, False):  # a misplaced "# type:" comment fails the first
        try:
            return ast.parse(source, type_comments=type_comments)
        except (SyntaxError, ValueError):
            continue
    return None


def _read_python(source: str) -> dict[str, dict[str, str]] | None:
    """Assignments of ``source`` (see :func:`read_parameters_cell`), or None if it does not
    parse as Python."""
    tree = _parse(source)
    if tree is None:
        return None
    lines = source.splitlines()
    found: dict[str, dict[str, str]] = {}
    for node in _assignments(tree.body):
        if isinstance(node, ast.AnnAssign):
            if not isinstance(node.target, ast.Name):
                continue
            annotation = ast.get_source_segment(source, node.annotation) or "None"
            targets = [node.target]
        else:
            annotation = node.type_comment or "None"
            targets = [t for t in node.targets if isinstance(t, ast.Name)]
        value = node.value
        default = (ast.get_source_segment(source, value) if value is not None else None) or "None"
        rest = lines[node.end_lineno - 1][node.end_col_offset :] if node.end_lineno else ""
        comment = rest.partition("#")[2].strip()
        help_text = "" if comment.startswith("type:") else comment
        for target in targets:
            found.pop(target.id, None)  # a later assignment wins, and orders the name
            found[target.id] = {
                "name": target.id,
                "inferred_type_name": annotation.strip(),
                "default": default,
                "help": help_text,
            }
    return found


def _assignments(nodes: Any) -> Any:
    """``Assign``/``AnnAssign`` nodes among ``nodes`` and inside their blocks (not inside
    functions or classes, whose names are not the notebook's)."""
    for node in nodes:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            yield node
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        elif isinstance(node, ast.stmt | ast.excepthandler | ast.match_case):
            yield from _assignments(ast.iter_child_nodes(node))


def language_override(notebook: Path) -> str | None:
    """The language to give papermill for ``notebook``: None when the notebook names its own
    (``metadata.language_info.name`` or ``metadata.kernelspec.language``), else ``"python"``
    (papermill refuses to parameterize a notebook without one; our kernels are Python).
    Raises :class:`ParameterError` if the notebook cannot be read."""
    metadata = _read_notebook(notebook).get("metadata") or {}
    declared = (metadata.get("language_info") or {}).get("name") or (
        metadata.get("kernelspec") or {}
    ).get("language")
    return None if declared else "python"


# --------------------------------------------------------------------------- declared types


def declared_types(spec: Mapping[str, str]) -> Types | None:
    """The types a parameter accepts, from its annotation or else its literal default.

    ``spec`` is one entry of :func:`notebook_parameters`. Returns a tuple of types among
    ``str, int, float, bool, list, dict, NoneType`` (``Optional[int]`` and ``int | None`` ->
    ``(int, NoneType)``; ``list[str]`` -> ``(list,)``; ``Union[int, str]`` -> ``(int, str)``),
    or None when any value is accepted: no annotation and a default that is ``None`` or an
    expression, or an annotation naming another type (``date``, ``tuple``, ``Any``). A default
    of ``None`` also admits None.
    """
    try:
        default = ast.literal_eval(spec.get("default", ""))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        default = ...  # an expression: its type is unknown
    annotation = spec.get("inferred_type_name", "None").strip()
    if annotation != "None":
        types = _annotation_types(annotation)
    elif type(default) in _LITERALS:
        types = (type(default),)
    else:
        return None
    if types is not None and default is None and NoneType not in types:
        types = (*types, NoneType)
    return types


def _annotation_types(text: str) -> Types | None:
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        return None
    return _types_of(node)


def _last_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _union(parts: list[Types | None]) -> Types | None:
    if any(part is None for part in parts):
        return None
    return tuple(dict.fromkeys(t for part in parts for t in part))  # type: ignore[union-attr]


def _types_of(node: ast.expr) -> Types | None:
    """Types an annotation expression allows, or None for any (see :func:`declared_types`)."""
    if isinstance(node, ast.Constant):
        if node.value is None:
            return (NoneType,)
        return _annotation_types(node.value) if isinstance(node.value, str) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([_types_of(node.left), _types_of(node.right)])
    if isinstance(node, ast.Subscript):
        outer = _last_name(node.value)
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if outer == "Optional":
            return _union([_types_of(args[0]), (NoneType,)])
        if outer == "Union":
            return _union([_types_of(a) for a in args])
        if outer == "Annotated":
            return _types_of(args[0])
        if outer == "Literal":
            values = [a.value if isinstance(a, ast.Constant) else ... for a in args]
            return _union(
                [(type(v),) if type(v) in (*_LITERALS, NoneType) else None for v in values]
            )
        return (_NAMED[outer],) if outer in _NAMED else None
    name = _last_name(node)
    return (_NAMED[name],) if name in _NAMED else None


def _type_names(types: Types) -> str:
    return " or ".join("None" if t is NoneType else t.__name__ for t in types)


def _fit(value: Any, types: Types) -> tuple[bool, Any]:
    """(whether ``value`` is of one of ``types``, the value to pass): an int given where a float
    but no int is declared becomes a float; a bool is never an int or a float."""
    if type(value) in types:
        return True, value
    if float in types and type(value) is int:
        return True, float(value)
    return False, value


# --------------------------------------------------------------------------- checking values


def _plain(value: Any, where: str) -> Any:
    """``value`` as a JSON-compatible Python value, or raise ParameterError.

    numpy scalars become Python scalars; ``datetime.date``/``datetime`` become ISO strings;
    lists and dicts are converted element by element; tuples, sets, NaN and infinities and
    other objects are refused.
    """
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic):
        value = value.item()
    if isinstance(value, date):  # datetime is a date too; both travel as ISO strings
        return value.isoformat()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParameterError(
                f"{where}: {value!r} is not a finite number (NaN and inf are refused)"
            )
        return value
    if isinstance(value, tuple):
        raise ParameterError(f"{where}: got a tuple {value!r}; use a list")
    if isinstance(value, list):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise ParameterError(f"{where}: dict keys must be strings, got {key!r}")
            out[key] = _plain(v, f"{where}[{key!r}]")
        return out
    raise ParameterError(
        f"{where}: unsupported value {value!r} of type {type(value).__name__} "
        "(use str, int, float, bool, None, a list or a dict)"
    )


def _unknown(notebook: Path, name: str, specs: Mapping[str, Any] | None, report: str) -> str:
    known = sorted(specs or {})
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if specs is None:
        listing = "none (no cell tagged 'parameters')"
    else:
        listing = ", ".join(known) or "none (its cell tagged 'parameters' assigns no names)"
    return f"report {report!r}: {notebook.name} has no parameter {name!r}{hint} (its parameters: {listing})"


def check_parameters(
    notebook: Path,
    parameters: Mapping[str, Any],
    report: str,
    *,
    specs: dict[str, dict[str, str]] | None | EllipsisType = ...,
) -> dict[str, Any]:
    """Check ``parameters`` against ``notebook``'s parameters cell; return them normalised.

    Normalised values are JSON-compatible (see :func:`_plain`): dates become ISO strings, numpy
    scalars Python scalars, an int given for a float parameter becomes a float. The accepted
    types are :func:`declared_types` (the annotation, else the literal default's type; None
    when the default is None or the annotation allows it; anything for an expression default).

    Raises :class:`ParameterError` (a :class:`~analysis.reports.plan.PlanError`) naming the
    report and parameter for an unknown name (with the closest known name), a value of the
    wrong type, NaN/inf, a tuple or an unsupported object, and for a missing or unreadable
    notebook. ``specs``: the notebook's :func:`notebook_parameters` when the caller read them
    already (a grid checks many reports against one notebook), else the notebook is read here.
    """
    if specs is ...:
        if not parameters:
            _read_notebook(notebook)  # must exist and be a notebook; its cell need not be read
            return {}
        specs = notebook_parameters(notebook)
    checked: dict[str, Any] = {}
    for name, raw in parameters.items():
        if specs is None or name not in specs:
            raise ParameterError(_unknown(notebook, name, specs, report))
        where = f"report {report!r}, parameter {name!r}"
        value = _plain(raw, where)
        types = declared_types(specs[name])
        if types is not None:
            fits, value = _fit(value, types)
            if not fits:
                default = " ".join(specs[name]["default"].split())  # one line
                expected = f"expected {_type_names(types)} (default {default})"
                if value is None:
                    raise ParameterError(f"{where}: got None; {expected}")
                raise ParameterError(f"{where}: {expected}, got {type(value).__name__} {value!r}")
        checked[name] = value
    return checked


# --------------------------------------------------------------------------- -p NAME=VALUE


def cli_value(text: str) -> Any:
    """One ``-p`` value: JSON if it parses (``3``, ``true``, ``null``, ``["a"]``, ``"x"``), else
    as papermill's command line types it (``papermill.cli._resolve_type``: ``True``, ``False``,
    ``None``, an int, a float), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    if text in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[text]
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            continue
    return text


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["NAME=VALUE", ...]`` -> ``{NAME: value}`` with each value typed by :func:`cli_value`.

    Raises ``typer.BadParameter`` (a usage error of the ``-p`` option, exit 2) for an item
    without ``=`` or without a name.
    """
    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            import typer

            raise typer.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="'-p'")
        params[name.strip()] = cli_value(raw)
    return params


def as_declared(notebook: Path, params: dict[str, Any], items: list[str] | None) -> dict[str, Any]:
    """``-p`` values (``params``, from :func:`parse_params` of ``items``) as the notebook
    declares them: a value whose type the parameter does not accept but whose declared types
    include ``str`` stays the text it was typed as (``-p as_of=2021`` is the text "2021" for
    ``as_of: str``; ``-p n=3`` stays 3 for ``n: Union[int, str]``). Other values are unchanged
    (:func:`check_parameters` then judges them). Raises :class:`ParameterError` as
    :func:`notebook_parameters` does.
    """
    raw = {n.strip(): v for n, _, v in (item.partition("=") for item in items or [])}
    declared = notebook_parameters(notebook) or {}
    out = dict(params)
    for name, value in params.items():
        types = declared_types(declared[name]) if name in declared else None
        if types and str in types and not _fit(value, types)[0] and name in raw:
            out[name] = raw[name]
    return out
