"""The project's base exception.

Every error the project raises on purpose derives from :class:`RoundupError`, so a caller (the
``roundup`` command line, a notebook, a scheduler's wrapper) can tell "the project refused this
input, and says why" from a bug. Each concrete error class lives in the module of its concern
(data problems in ``analysis.data``, plan errors in ``analysis.reports.plan``, ...).
"""

from __future__ import annotations


class RoundupError(Exception):
    """Base of every error china-tech-roundup raises on purpose; its message is for a reader."""
