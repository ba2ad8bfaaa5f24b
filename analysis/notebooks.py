"""Keep the notebooks' stored outputs in step with the code, the data and the pinned environment.

``python -m analysis.notebooks refresh [NOTEBOOK ...]`` (``make notebooks``) re-executes each
notebook in ``notebooks/`` in place with its default parameters, in a fresh kernel, and stores
the outputs that nbval compares in ``make test``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from analysis import paths

KERNEL_NAME = "python3"


def refresh(notebook: Path, timeout: int = 600) -> None:
    """Execute ``notebook`` top to bottom in a fresh kernel and write it back with its outputs.

    The working directory is ``notebooks/``. Raises ``nbclient.exceptions.CellExecutionError``
    (and leaves the file untouched) if a cell fails.
    """
    import tempfile

    import nbformat
    from nbclient import NotebookClient
    from traitlets.config import Config

    nb = nbformat.read(notebook, as_version=4)
    sockets = tempfile.mkdtemp(prefix="roundup-kernel-")
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout=timeout,
        record_timing=False,  # no timestamps in the committed notebooks: diffs show real changes
        resources={"metadata": {"path": str(paths.notebooks_dir())}},
        # IPC sockets, as the report runner uses: no TCP ports, no plain-text TCP warning
        config=Config(
            {
                "KernelManager": {
                    "transport": "ipc",
                    "connection_file": os.path.join(sockets, "kernel.json"),
                }
            }
        ),
    )
    # a kernel started by JupyterLab passes JPY_SESSION_NAME on to its children; without it,
    # analysis.explore knows this run is headless and stores no widget output
    session = os.environ.pop("JPY_SESSION_NAME", None)
    try:
        client.execute()
    finally:
        if session is not None:
            os.environ["JPY_SESSION_NAME"] = session
        shutil.rmtree(sockets, ignore_errors=True)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, notebook)


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "refresh":
        print("usage: python -m analysis.notebooks refresh [NOTEBOOK ...]", file=sys.stderr)
        return 2
    targets = [Path(a) for a in argv[1:]] or sorted(paths.notebooks_dir().glob("*.ipynb"))
    for nb in targets:
        print(f"executing {nb.name} ...", file=sys.stderr)
        refresh(nb)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
