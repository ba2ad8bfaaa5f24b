"""What a build tells as it goes (:class:`BuildEvent`) and what it did (:class:`BuildSummary`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BuildEvent", "BuildSummary"]


@dataclass(frozen=True)
class BuildEvent:
    """Progress of a build, passed to ``on_event``.

    ``kind`` is ``"waiting"`` (another build holds the lock, ``entry["lock"]`` its path),
    ``"planned"`` (once, ``total`` = reports to run), ``"skipped"`` (an unchanged report,
    ``entry`` set), ``"finished"`` (a report ran, ``entry`` set) or ``"note"`` (one line for
    the user in ``message``, e.g. that PDFs were skipped and how to get them).
    """

    kind: str
    total: int = 0
    entry: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""


@dataclass
class BuildSummary:
    """What a build did: ``entries`` are this build's index entries, in plan order."""

    out_dir: Path
    build_id: str
    entries: list[dict[str, Any]]

    @property
    def failed(self) -> list[dict[str, Any]]:
        """Entries of the reports that failed in this build."""
        return [e for e in self.entries if e["status"] == "failed"]

    def counts(self) -> dict[str, int]:
        """``{"ok": n, "failed": n, "skipped": n}`` for this build."""
        counts = {"ok": 0, "failed": 0, "skipped": 0}
        for entry in self.entries:
            counts[entry["status"]] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible summary: ``{"out_dir", "build_id", "counts", "reports"}``."""
        return {
            "out_dir": str(self.out_dir),
            "build_id": self.build_id,
            "counts": self.counts(),
            "reports": self.entries,
        }
