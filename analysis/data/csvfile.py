"""Reading one CSV file of the data package into header and records, keeping line numbers.

UTF-8 (with or without BOM), CRLF or LF line endings, quoted cells holding newlines. A file
that cannot be read says where: the line, and for bad bytes the column and cell.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from analysis.data.problems import Problem

__all__ = ["read_records"]

Records = list[tuple[int, list[str]]]


def read_records(path: Path, label: str) -> tuple[list[str], Records, list[Problem]]:
    """Header, ``[(line, cells)]`` and problems of one CSV file.

    ``line`` is the physical line where a record starts (1 = header); ``label`` names the file
    in problems. A file that is not UTF-8 or is empty gives no header and one problem.
    """
    problems: list[Problem] = []
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column, value = _locate_bad_bytes(raw, exc.start)
        return [], [], [Problem(label, line, column, value, "not UTF-8 text (save as UTF-8)")]
    if not text.strip():
        return [], [], [Problem(label, None, None, None, "empty file: no header row")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: Records = []
    header: list[str] = []
    prev = 0
    try:
        for cells in reader:
            start = prev + 1
            prev = reader.line_num
            if not header:
                header = [c.strip() for c in cells]
                continue
            records.append((start, cells))
    except csv.Error as exc:
        problems.append(Problem(label, prev + 1, None, None, f"malformed CSV: {exc}"))
    # a trailing blank line is only the file's final newline: ignore it
    while records and records[-1][1] == []:
        records.pop()
    return header, records, problems


def _locate_bad_bytes(raw: bytes, offset: int) -> tuple[str | None, str]:
    """Column name and cell text (undecodable bytes shown as U+FFFD) holding ``raw[offset]``."""
    marked = raw[:offset] + b"\x00MARK\x00" + raw[offset:]
    text = marked.decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = [h.strip() for h in rows[0]] if rows else []
    for cells in rows:
        for i, cell in enumerate(cells):
            if "\x00MARK\x00" in cell:
                name = header[i] if i < len(header) and cells is not rows[0] else None
                return name, cell.replace("\x00MARK\x00", "")
    return None, repr(raw[offset : offset + 4])
