"""Interactive exploration in JupyterLab: a company dropdown that re-renders the profile.

Widgets need a live front end. Under papermill, nbclient or nbval there is none, so
:func:`company_explorer` returns ``None`` there and the notebook shows nothing extra; in
JupyterLab (a kernel started by jupyter_server, which sets ``JPY_SESSION_NAME``) it returns the
widget.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analysis.data import Package

__all__ = ["company_explorer", "in_live_frontend", "render_profile"]


def in_live_frontend() -> bool:
    """True in a kernel started by a Jupyter server (JupyterLab, Notebook), False headless."""
    return bool(os.environ.get("JPY_SESSION_NAME"))


def render_profile(pkg: Package, company: str, as_of: str | None = None) -> None:
    """Display the whole profile of ``company`` in ``pkg``: identity, tables and the profile chart.

    Raises :class:`analysis.metrics.UnknownCompanyError` for an unknown name.
    """
    from IPython.display import display

    from analysis import metrics
    from analysis.present import charts, tables

    profile = metrics.company_profile(pkg, company, as_of=as_of)
    sources = pkg.load("sources")
    display(tables.profile_header(profile, sources=sources))
    display(tables.user_bases_table(profile["user_bases"], sources=sources))
    display(tables.listings_table(profile["listings"], sources=sources))
    display(tables.events_table(profile["regulatory_events"], sources=sources))
    display(tables.funding_table(profile["funding_rounds"], sources=sources))
    display(tables.stakes_table(profile["stakes"], sources=sources))
    display(tables.downloads_table(profile["downloads"], sources=sources))
    charts.show(charts.profile_chart(profile, sources=sources))


def company_explorer(pkg: Package, company: str, as_of: str | None = None, *, force: bool = False):
    """A dropdown of every company in ``pkg`` above an output area holding its profile.

    Returns an ``ipywidgets.VBox`` in a live front end (or with ``force=True``), else ``None``.
    Choosing another company re-renders the profile in place.
    """
    if not (force or in_live_frontend()):
        return None
    import ipywidgets as widgets

    from analysis import metrics

    names = sorted(metrics.companies(pkg)["company"])
    start = metrics.resolve_company(pkg, company)
    dropdown = widgets.Dropdown(options=names, value=start, description="Company")
    out = widgets.Output()

    def _show(change=None) -> None:
        out.clear_output(wait=True)
        with out:
            render_profile(pkg, dropdown.value, as_of=as_of)

    dropdown.observe(_show, names="value")
    _show()
    return widgets.VBox([dropdown, out])
