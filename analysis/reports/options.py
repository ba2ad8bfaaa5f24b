"""Every option of a site build and its default, in one place.

:class:`BuildOptions` is what the ``roundup build`` command parses its options into and what
:class:`analysis.reports.build.Build` runs with; the command line reads its defaults from here.
Standard library only: the no-change rebuild imports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from analysis import paths
from analysis.errors import RoundupError

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "DEFAULT_PDF_TIMEOUT",
    "DEFAULT_REPORT_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "EXECUTORS",
    "FORK",
    "FORK_KERNEL",
    "KEEP_RUNS",
    "MB",
    "BuildOptions",
    "OptionsError",
]

#: Bytes per megabyte (``--max-output`` is given in MB).
MB = 1024 * 1024
#: Per-cell execution timeout in seconds.
DEFAULT_TIMEOUT = 600
#: Wall-clock limit of one report's execution in seconds (all cells together).
DEFAULT_REPORT_TIMEOUT = 1800
#: Limit of a report's output in bytes: its executed notebook and its page each stay within it.
DEFAULT_MAX_OUTPUT = 10 * MB
#: Seconds allowed to print one report to PDF (Chromium's start included).
DEFAULT_PDF_TIMEOUT = 120.0
#: Runs kept per report under ``<report>/runs/`` (plus the one ``latest`` points to).
KEEP_RUNS = 5
#: ``kernel`` value choosing the fork-server kernel (see :mod:`analysis.reports.kernels`).
FORK = "fork"
#: Kernel name of the fork-server kernel: a fresh kernel per report, forked from a process that
#: has already imported pandas, matplotlib and analysis.
FORK_KERNEL = "roundup-fork"
#: Where reports can run (see :mod:`analysis.reports.executors`).
EXECUTORS = ("local", "dask")


class OptionsError(RoundupError, ValueError):
    """A build option is out of range or does not fit another one (e.g. ``keep`` < 1)."""


@dataclass(frozen=True)
class BuildOptions:
    """How a site build runs.

    ``out_dir``: the site folder (None: :func:`analysis.paths.site_dir`). ``data_dir``: the data
    package the reports read (None: :func:`analysis.paths.data_dir`); it is hashed and given to
    every kernel. ``jobs``: reports run in parallel (None: ``os.cpu_count()``). ``force``: rerun
    unchanged reports too. ``executor``: ``"local"`` processes or ``"dask"`` (``scheduler``: a
    dask address, None for a local cluster). ``wait``: wait for another build's lock (else
    :class:`~analysis.reports.build.SiteLocked`). ``timeout``: per-cell limit in seconds;
    ``report_timeout``: a whole report's limit in seconds; ``max_output``: a report's kept
    output in bytes (the executed notebook and the page each stay within it); ``keep``: runs
    kept per report; ``kernel``: None (each notebook's own kernelspec, the fork-server kernel
    for the project's Python kernel: :mod:`analysis.reports.kernelspecs`), or an override for
    every report: ``"fork"`` (a fresh kernel forked from a preloaded server) or a kernelspec
    name such as ``"python3"``. ``pdf``: make each good report's PDF too (True), never (False),
    or when Chromium and playwright are here (None, the default; see
    :mod:`analysis.reports.pdf`); ``chromium``: the Chromium to print with (None:
    ``/usr/bin/chromium``; the CLI passes :func:`analysis.reports.pdf.find_chromium`).
    ``pdf_timeout``: seconds allowed to print one report.
    """

    out_dir: Path | None = None
    data_dir: Path | None = None
    jobs: int | None = None
    force: bool = False
    executor: str = "local"
    scheduler: str | None = None
    wait: bool = True
    timeout: int = DEFAULT_TIMEOUT
    report_timeout: float = DEFAULT_REPORT_TIMEOUT
    max_output: int = DEFAULT_MAX_OUTPUT
    keep: int = KEEP_RUNS
    kernel: str | None = None
    pdf: bool | None = None
    chromium: Path | None = None
    pdf_timeout: float = DEFAULT_PDF_TIMEOUT

    def checked(self) -> BuildOptions:
        """These options with ``out_dir`` and ``data_dir`` resolved to folders.

        Raises :class:`OptionsError` for ``keep`` < 1, an unknown executor, or a scheduler
        without the dask executor.
        """
        if self.keep < 1:
            raise OptionsError("keep must be at least 1")
        if self.executor not in EXECUTORS:
            raise OptionsError(f"unknown executor {self.executor!r} (use 'local' or 'dask')")
        if self.scheduler and self.executor != "dask":
            raise OptionsError("--scheduler needs --executor dask")
        return dataclasses.replace(
            self,
            out_dir=Path(self.out_dir) if self.out_dir else paths.site_dir(),
            data_dir=Path(self.data_dir).resolve() if self.data_dir else paths.data_dir(),
        )

    @property
    def kernel_name(self) -> str:
        """The kernel every report runs in when ``kernel`` overrides the notebooks' own
        (:data:`FORK_KERNEL` for ``"fork"`` or None, else ``kernel``); per report, see
        :func:`analysis.reports.kernelspecs.kernel_for`."""
        return FORK_KERNEL if self.kernel in (None, FORK) else self.kernel
