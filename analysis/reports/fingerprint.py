"""Input hashes of a report, and "is this report unchanged since its last good run?".

A report's output depends on its notebook's cells, its parameters, the files beside the notebook
(its own modules and files: it runs in its folder), the data package, the ``analysis`` package's
code and the lock file of the environment. Each is hashed (SHA-256 of
length-prefixed chunks); the hashes are stored in ``run.json`` (``inputs``) and a report whose
hashes equal those of its last good run is not run again. Standard library only: this is what a
no-change rebuild runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from analysis import paths
from analysis.errors import RoundupError
from analysis.reports.record import RunRecord

__all__ = [
    "NotebookError",
    "folder_hash",
    "input_hashes",
    "last_good",
    "notebook_hash",
    "read_notebook_json",
    "shared_hashes",
    "tree_hash",
    "unchanged",
]


class NotebookError(RoundupError, ValueError):
    """A notebook file is not a Jupyter notebook (not JSON, or no list of cells)."""


def _sha256(*chunks: bytes) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(len(chunk).to_bytes(8, "big"))
        digest.update(chunk)
    return digest.hexdigest()


def tree_hash(root: Path, skip_suffix: str | None = None) -> str:
    """Hash of every file under ``root`` (names and contents), skipping hidden files and
    folders, ``__pycache__`` and files ending in ``skip_suffix``, and files that vanish or cannot
    be read while it runs; the hash of nothing when ``root`` does not exist."""
    files: list[tuple[str, ...]] = []
    for folder, dirs, names in os.walk(root):  # a folder gone or unreadable mid-walk is skipped
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        rel = Path(folder).relative_to(root).parts
        files += [
            (*rel, name)
            for name in names
            if not name.startswith(".") and not (skip_suffix and name.endswith(skip_suffix))
        ]
    chunks: list[bytes] = []
    for parts in sorted(files):
        path = root.joinpath(*parts)
        if not path.is_file():  # a socket or a pipe (never read), or deleted since the walk
            continue
        try:
            content = path.read_bytes()
        except OSError:  # deleted or unreadable since (a shared folder such as /tmp)
            continue
        chunks += ["/".join(parts).encode(), content]
    return _sha256(*chunks)


def read_notebook_json(notebook: Path) -> dict[str, Any]:
    """A notebook file as plain JSON (no nbformat: its import costs about a second).

    Raises ``OSError`` if it cannot be read and :class:`NotebookError` (a ``ValueError``) if it
    is not a notebook.
    """
    with open(notebook, encoding="utf-8") as fh:
        try:
            nb = json.load(fh)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise NotebookError(str(exc)) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{notebook} is not a Jupyter notebook (no list of cells)")
    return nb


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def notebook_hash(notebook: Path) -> str:
    """Hash of a notebook's cells (type and source only; outputs and metadata ignored)."""
    nb = read_notebook_json(notebook)
    cells = [[cell.get("cell_type"), _source(cell)] for cell in nb.get("cells", [])]
    return _sha256(json.dumps(cells, ensure_ascii=False).encode())


def shared_hashes(data_dir: Path | None = None) -> dict[str, str]:
    """Hashes shared by every report of a build.

    ``{"data": <data folder>, "code": <analysis/ package>, "requirements_lock": <lock file>}``;
    ``data_dir`` defaults to :func:`analysis.paths.data_dir`.
    """
    lock = paths.PROJECT_ROOT / "requirements.lock"
    return {
        "data": tree_hash(Path(data_dir) if data_dir else paths.data_dir()),
        "code": tree_hash(paths.PROJECT_ROOT / "analysis"),
        "requirements_lock": _sha256(lock.read_bytes()) if lock.is_file() else _sha256(),
    }


def folder_hash(folder: Path) -> str:
    """Hash of the files in a notebook's folder and below, notebooks excluded (each report
    hashes its own notebook's cells): the modules and files a notebook reads beside it."""
    return tree_hash(folder, skip_suffix=".ipynb")


def input_hashes(
    notebook: Path,
    parameters: Mapping[str, Any],
    shared: Mapping[str, str],
    cache: dict[tuple[str, Path], str] | None = None,
) -> dict[str, str]:
    """Hashes of everything a report's output depends on: ``shared`` (see
    :func:`shared_hashes`) plus ``notebook`` (cell sources), ``folder`` (:func:`folder_hash`
    of the notebook's folder) and ``parameters`` (canonical JSON).

    ``cache``, when given, keeps the notebook and folder hashes of one build: a notebook or
    folder shared by many reports (a grid) is read and hashed once.
    """
    cache = {} if cache is None else cache

    def once(kind: str, path: Path, digest: Callable[[Path], str]) -> str:
        if (kind, path) not in cache:
            cache[kind, path] = digest(path)
        return cache[kind, path]

    params = json.dumps(parameters, sort_keys=True, ensure_ascii=False).encode()
    return {
        "notebook": once("notebook", notebook, notebook_hash),
        "folder": once("folder", notebook.parent, folder_hash),
        "parameters": _sha256(params),
        **shared,
    }


def last_good(report_dir: Path) -> RunRecord | None:
    """The record of the run ``<report>/index.html`` shows (its last good run), or None."""
    if not (report_dir / "index.html").is_file():
        return None
    return RunRecord.read(report_dir)


def unchanged(report_dir: Path, inputs: Mapping[str, str]) -> RunRecord | None:
    """The last good record in ``report_dir`` if it was built from ``inputs``, else None."""
    last = last_good(report_dir)
    return last if last is not None and last.inputs == inputs else None
