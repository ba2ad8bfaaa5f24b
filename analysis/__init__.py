"""china-tech-roundup: curated, cited data on China's tech sector, its analysis and its reports.

Submodules load lazily so that ``import analysis`` stays cheap (no pandas, matplotlib or
papermill until a submodule is used): ``analysis.data``, ``analysis.figures``,
``analysis.metrics``, ``analysis.present``, ``analysis.reports``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"
_SUBMODULES = {
    "data",
    "figures",
    "metrics",
    "present",
    "errors",
    "reports",
    "paths",
    "explore",
    "notebooks",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"analysis.{name}")
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
