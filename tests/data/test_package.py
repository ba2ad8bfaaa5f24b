"""Package: a data folder opened at the edge and passed down; the environment is read once."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis import paths
from analysis.data import DataError, Package
from analysis.errors import RoundupError


def test_open_reads_the_active_data_folder(data_copy):
    assert Package.open().path == data_copy
    assert Package.open() == Package(data_copy)
    assert Package.open(data_copy / "..") != Package(data_copy)


def test_open_defaults_to_the_project_data(monkeypatch):
    monkeypatch.delenv("ROUNDUP_DATA_DIR", raising=False)
    assert Package.open().path == paths.PROJECT_ROOT / "data"


def test_a_package_does_not_follow_the_environment_once_opened(data_copy, monkeypatch):
    pkg = Package(data_copy)
    monkeypatch.setenv("ROUNDUP_DATA_DIR", "/nonexistent")
    assert len(pkg.load("companies")) > 0
    assert pkg.names()[:2] == ["sources", "companies"]


def test_missing_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no datapackage.json in"):
        Package(tmp_path).load("sources")


def test_data_error_is_a_roundup_error_and_a_value_error(data_copy):
    (data_copy / "companies.csv").write_text("", encoding="utf-8")
    with pytest.raises(DataError) as info:
        Package(data_copy).load("companies")
    assert isinstance(info.value, RoundupError) and isinstance(info.value, ValueError)
