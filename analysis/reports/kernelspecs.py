"""Which kernel runs a report, and whether it is installed.

A report runs in the kernel its notebook names (``metadata.kernelspec.name``): an R notebook in
its R kernel. A notebook of the project's Python kernel (:data:`PYTHON_KERNEL`), or one without
a kernelspec, runs in the fork-server kernel by default. ``--kernel`` (``BuildOptions.kernel``)
overrides both. :func:`check_installed` refuses a kernel that is not installed before any kernel
starts. jupyter_client is imported only to check, i.e. only when some report will run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from analysis.errors import RoundupError
from analysis.reports.options import FORK, FORK_KERNEL

__all__ = ["PYTHON_KERNEL", "UnknownKernel", "check_installed", "kernel_for", "notebook_kernel"]

#: The kernelspec of the project's notebooks: the environment's own Python.
PYTHON_KERNEL = "python3"


class UnknownKernel(RoundupError, LookupError):
    """A report would run in a kernel that is not installed (``--kernel`` or its notebook's
    kernelspec)."""


def notebook_kernel(notebook: Path) -> str | None:
    """The kernelspec name in ``notebook``'s metadata, or None (none, or an unreadable file)."""
    try:
        metadata = json.loads(Path(notebook).read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError, AttributeError):
        return None
    spec = metadata.get("kernelspec") if isinstance(metadata, dict) else None
    name = spec.get("name") if isinstance(spec, dict) else None
    return name if isinstance(name, str) and name else None


def kernel_for(notebook: Path, option: str | None) -> str:
    """The kernel a report of ``notebook`` runs in: ``option`` (``--kernel``; ``"fork"`` is
    :data:`FORK_KERNEL`) when given, else the notebook's kernelspec, with the fork-server kernel
    for the project's Python kernel or none."""
    name = option or notebook_kernel(notebook)
    if name in (None, FORK) or (option is None and name == PYTHON_KERNEL):
        return FORK_KERNEL
    return name


def check_installed(kernels: Mapping[str, str]) -> None:
    """Raise :class:`UnknownKernel` naming every report (``{report name: kernel}``) whose kernel
    is neither the fork-server kernel nor an installed kernelspec."""
    wanted = {kernel for kernel in kernels.values() if kernel != FORK_KERNEL}
    if not wanted:
        return
    from jupyter_client.kernelspec import KernelSpecManager

    installed = set(KernelSpecManager().find_kernel_specs())
    missing = {report: k for report, k in kernels.items() if k in wanted - installed}
    if missing:
        which = "; ".join(f"report {r!r} needs kernel {k!r}" for r, k in missing.items())
        raise UnknownKernel(
            f"{which}, which is not installed (installed kernels: "
            f"{', '.join(sorted(installed)) or 'none'}; --kernel fork or a kernelspec name)"
        )
