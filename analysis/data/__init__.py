"""The data package: curated facts, their schema, and the evidence that states each figure.

Modules:
  ``package``   :class:`Package` — a data folder opened: ``load(name)``, ``validate()``,
                ``catalog()``, ``dictionary()``
  ``schema``    a Table Schema turned into typed parsing, pandera checks and project rules
  ``csvfile``   reading one CSV file into header and records with their line numbers
  ``problems``  :class:`Problem` (one broken rule) and :class:`DataError`
  ``evidence``  a source's figure phrase -> value, unit, qualifier; checks against the data
  ``phrases``   finding figure phrases in text (number words, scales, qualifier words)

``from analysis.data import Package, Problem, DataError`` is the short way in; the names load
their module on first use, so importing ``analysis.data`` alone imports no pandas.
"""

from __future__ import annotations

import importlib

__all__ = ["DataError", "Package", "Problem"]

_HOMES = {"Package": "package", "DataError": "problems", "Problem": "problems"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"analysis.data.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'analysis.data' has no attribute {name!r}")
