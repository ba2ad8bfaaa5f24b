"""Shared helpers for the browser tests (``pytest -m browser``): Debian's Chromium, offline.

Playwright cannot download its own browsers here, so every test drives the system Chromium at
:data:`CHROMIUM`; ``tests/conftest.py`` skips the ``browser`` tests when it is missing.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from analysis.reports.pdf import CHROMIUM_ARGS as PDF_CHROMIUM_ARGS
from analysis.reports.pdf import DEFAULT_CHROMIUM

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Playwright, Route

#: Debian's Chromium (``apt-get install chromium``), with the flags the PDF renderer uses for a
#: quiet, offline, container-friendly browser.
CHROMIUM = DEFAULT_CHROMIUM
CHROMIUM_ARGS = list(PDF_CHROMIUM_ARGS)

#: URLs a test page may load: local files, inline data, blobs and servers on this machine.
_LOCAL_URL = re.compile(
    r"^(?:file:|data:|blob:|about:|https?://(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?(?:[/?#]|$))",
    re.IGNORECASE,
)


def chromium_available() -> bool:
    """True if :data:`CHROMIUM` exists and is executable."""
    return CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)


def launch(playwright: Playwright, **kwargs) -> Browser:
    """Launch the system Chromium (headless unless ``headless=False``) with :data:`CHROMIUM_ARGS`."""
    kwargs.setdefault("headless", True)
    args = [*CHROMIUM_ARGS, *kwargs.pop("args", [])]
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=args, **kwargs)


def is_local_url(url: str) -> bool:
    """True for file:, data:, blob:, about: and http(s) URLs on 127.0.0.1, localhost or [::1]."""
    return bool(_LOCAL_URL.match(url))


def block_network(context: BrowserContext) -> list[str]:
    """Abort every request of ``context`` that would leave the machine.

    Returns the list (filled as the pages run) of the URLs that were blocked, so a test can end
    with ``assert blocked == []``.
    """
    blocked: list[str] = []

    def _route(route: Route) -> None:
        url = route.request.url
        if is_local_url(url):
            route.continue_()
        else:
            blocked.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", _route)
    return blocked
