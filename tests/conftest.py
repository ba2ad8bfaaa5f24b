"""Shared fixtures: a private copy of the data package that a test may break."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analysis import paths


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of data/ in a temporary folder, made the active data package (ROUNDUP_DATA_DIR)."""
    dest = tmp_path / "data"
    shutil.copytree(paths.PROJECT_ROOT / "data", dest)
    monkeypatch.setenv("ROUNDUP_DATA_DIR", str(dest))
    return dest
