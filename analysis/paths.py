"""Project-relative locations, each overridable by an environment variable.

The library reads these variables here and nowhere else: a notebook's first cell opens
``analysis.data.Package.open()`` (which asks :func:`data_dir`) and passes the Package down.

``ROUNDUP_DATA_DIR``  folder holding ``datapackage.json`` and its CSV files (default: ``data/``)
``ROUNDUP_SITE_DIR``  where ``roundup build`` publishes the site (default: ``reports/site/``)
``ROUNDUP_NOTEBOOKS_DIR``  the report notebooks the house-rule tests check (default: ``notebooks/``)
"""

from __future__ import annotations

import os
from pathlib import Path

#: Root of the source checkout (the folder holding ``pyproject.toml``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Folder of the active data package: ``$ROUNDUP_DATA_DIR`` or the project's ``data/``."""
    env = os.environ.get("ROUNDUP_DATA_DIR")
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "data"


def notebooks_dir() -> Path:
    """Folder of the report notebooks: ``$ROUNDUP_NOTEBOOKS_DIR`` or the project's
    ``notebooks/``."""
    env = os.environ.get("ROUNDUP_NOTEBOOKS_DIR")
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "notebooks"


def plan_file() -> Path:
    """The default report plan (``reports/plan.toml``)."""
    return PROJECT_ROOT / "reports" / "plan.toml"


def site_dir() -> Path:
    """Where reports are published: ``$ROUNDUP_SITE_DIR`` or ``reports/site/``."""
    env = os.environ.get("ROUNDUP_SITE_DIR")
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "reports" / "site"
