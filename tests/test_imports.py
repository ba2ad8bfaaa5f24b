"""`import analysis` stays cheap: heavy libraries load only when a submodule needs them."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_import_analysis_imports_no_heavy_library():
    mods = _modules_after("import analysis")
    assert not {"matplotlib", "papermill", "pandas", "nbconvert", "pandera"} & mods


def test_loading_data_does_not_import_matplotlib_or_papermill():
    mods = _modules_after(
        "from analysis import metrics\n"
        "from analysis.present import tables\n"
        "from analysis.data import Package\n"
        "pkg = Package.open()\n"
        "[pkg.load(n) for n in pkg.catalog()['name']]"
    )
    assert "pandas" in mods
    assert not {"matplotlib", "papermill", "nbconvert"} & mods
