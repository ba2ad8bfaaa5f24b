"""Work every report repeats at its start, done once in the fork server before it forks kernels.

After :data:`~analysis.reports.kernels.server.PRELOAD` the server parses and validates the data
package of its data folder (``$ROUNDUP_DATA_DIR`` or ``data/`` when it started) and looks up the
CJK font the charts fall back to. Both results sit in caches a fresh process would fill the
same way on its first use: ``analysis.data.package`` keys parsed files by path, modification time
and size (a file changed since is parsed again by the kernel) and the font lookup depends only
on the installed fonts. Nothing here changes rcParams, warning filters or loggers, starts a
thread or keeps a file open; warnings are recorded and only logged, so a report still sees the
warnings of its own work. Failures (no data folder, invalid data) are logged and skipped, as is
a data package over :data:`MAX_DATA_BYTES`: the kernel then does that work itself and reports
any error as before.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable


def warm_up() -> list[str]:
    """Fill the data and font caches; one line per step for the server's log (never raises)."""
    notes: list[str] = []
    for name, step in (("data", _parse_data), ("cjk font", _find_cjk_font)):
        notes.append(_timed(name, step))
    return notes


def _timed(name: str, step: Callable[[], str]) -> str:
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # "always" records nothing in __warningregistry__
        try:
            result = step()
        except Exception as exc:  # the kernel redoes the step and reports its error
            result = f"skipped ({type(exc).__name__}: {exc})"
    extra = "".join(f"; warning: {w.message}" for w in caught)
    return f"warm-up {name}: {result} in {time.perf_counter() - started:.2f} s{extra}"


#: A data package whose CSV files total more than this (bytes) is left to the kernels: the
#: server answers no request while it warms up.
MAX_DATA_BYTES = 20_000_000


def _parse_data() -> str:
    from analysis.data import Package

    package = Package.open()
    resources = package.descriptor()["resources"]
    size = sum((package.path / res["path"]).stat().st_size for res in resources)
    if size > MAX_DATA_BYTES:
        return f"skipped ({size} bytes of CSV in {package.path} is more than {MAX_DATA_BYTES})"
    for res in resources:
        package.load(res["name"])  # parses it and the resources its foreign keys point to
    return f"{len(resources)} datasets of {package.path}"


def _find_cjk_font() -> str:
    from analysis.present.charts import fonts

    return str(fonts._find_cjk_font())  # matplotlib closes font files in forks (at_fork)
