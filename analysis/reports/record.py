"""The record of one report run (``run.json``): written and read here, and nowhere else.

``run.json``::

    {"report", "notebook", "parameters", "status": "ok" | "failed",
     "error": null | {"type", "message", "cell_index", "execution_count"},
     "run_id", "started", "finished", "duration_s", "versions": {...}, "inputs": {...},
     "limits": {"cell_timeout_s", "report_timeout_s", "max_output_bytes"},
     "files": {"html": "index.html", "notebook": null | "<name>.ipynb",
               "kernel_log": null | "kernel.log", "pdf": null | "<name>.pdf"},
     "kernel": "<the kernel that ran it: a kernelspec name, or roundup-fork>",
     "title", "description", "section",
     "data": null | {"file": "data.zip", "sha256", "bytes"},
     "changes": null | {"first", "since_run_id", "since", "figures_changed", "changes": [...],
                        "other_changes"}}

``data`` describes the run's copy of the data package it used (``data.zip`` in the run folder,
see :mod:`analysis.reports.publication`); ``changes`` what changed in the report's figures
since its previous good run (:func:`analysis.reports.publication.report_changes`).

``error.cell_index`` indexes ``cells`` of the published ``.ipynb`` (papermill's error banner
included); ``inputs`` are the hashes of :func:`analysis.reports.fingerprint.input_hashes`.
``files.pdf`` is null for a run made without PDFs (``--no-pdf``, no Chromium) or a failed one.
Standard library only: a no-change rebuild reads records.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["RECORD_FILE", "RunError", "RunRecord", "now_iso", "versions"]

RECORD_FILE = "run.json"
_VERSIONED = ("pandas", "matplotlib", "papermill", "nbconvert", "nbclient", "ipykernel")


def now_iso() -> str:
    """The current UTC time as ISO 8601 to the second (``2026-11-29T18:45:07+00:00``)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Versions of Python, the analysis package and the libraries a report depends on (read
    once per process: a worker's installed packages do not change under it)."""
    return dict(_versions())


@functools.cache
def _versions() -> dict[str, str]:
    from importlib import metadata  # 15 ms of imports that a no-change build does not need

    found = {"python": platform.python_version()}
    for key, dist in (*((d, d) for d in _VERSIONED), ("analysis", "china-tech-roundup")):
        try:
            found[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[key] = "not installed"
    return found


@dataclass(frozen=True)
class RunError:
    """Why a run failed: the error's ``type`` (e.g. ``CellTimeoutError``), its ``message``, and
    the cell it happened in (``cell_index`` into the executed notebook; None when no cell ran)."""

    type: str
    message: str
    cell_index: int | None = None
    execution_count: int | None = None

    def text(self) -> str:
        """``"<type>: <message> (cell <n>)"``, as the report's banner shows it."""
        where = f" (cell {self.cell_index})" if self.cell_index is not None else ""
        return f"{self.type}: {self.message}{where}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> RunError | None:
        """The error of a run.json (None for null or a value that is not an error)."""
        if not isinstance(data, dict):
            return None
        return cls(
            str(data.get("type", "Error")),
            str(data.get("message", "")),
            data.get("cell_index"),
            data.get("execution_count"),
        )


@dataclass(frozen=True)
class RunRecord:
    """One run of one report, as ``run.json`` stores it (see the module docstring).

    ``parameters`` are the values the notebook ran with; ``started``/``finished`` ISO 8601 UTC
    times; ``duration_s`` seconds; ``kernel`` the kernel that ran it (a kernelspec name, or
    ``roundup-fork``; empty in records written before it was kept); ``limits`` the run's limits
    (seconds, bytes).
    """

    report: str
    notebook: str
    parameters: dict[str, Any]
    status: str
    error: RunError | None
    run_id: str
    started: str
    finished: str
    duration_s: float
    versions: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str | None] = field(default_factory=dict)
    kernel: str = ""
    title: str = ""
    description: str = ""
    section: str = ""
    data: dict[str, Any] | None = None
    changes: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def pdf(self) -> str | None:
        """The PDF's file name in the run folder (``<name>.pdf``), or None when none was made."""
        name = self.files.get("pdf")
        return name if isinstance(name, str) and name else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``run.json`` (keys in the order above)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["error"] = self.error.to_dict() if self.error else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        """A record from the JSON of ``run.json``; missing keys get empty values."""
        names = {f.name for f in dataclasses.fields(cls)}
        known = {key: value for key, value in data.items() if key in names}
        known["error"] = RunError.from_dict(data.get("error"))
        for key in ("report", "notebook", "status", "run_id", "started", "finished"):
            known.setdefault(key, "")
        known.setdefault("parameters", {})
        known.setdefault("duration_s", 0.0)
        return cls(**known)

    def write(self, folder: Path) -> None:
        """Write ``folder/run.json``."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        (Path(folder) / RECORD_FILE).write_text(text, encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> RunRecord | None:
        """The record in ``path`` (a run.json, or a folder holding one); None if it is missing
        or unreadable."""
        path = Path(path)
        if path.is_dir() or path.name != RECORD_FILE:
            path = path / RECORD_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        try:
            return cls.from_dict(data)
        except TypeError:
            return None
