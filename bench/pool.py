"""Peer: the hand-wired build — a process pool calling papermill's and nbconvert's Python APIs.

What a competent engineer wires in an afternoon instead of using roundup: for each report of
the plan, ``papermill.execute_notebook`` with the standard ``python3`` kernel in the notebook's
folder, then nbconvert's ``HTMLExporter`` (inputs hidden) to a self-contained page, N reports at
a time in a ``ProcessPoolExecutor``. No incremental builds, no limits, no atomic publishing.

    .venv/bin/python bench/pool.py --jobs 2 --plan-json plan.json OUT_DIR

``--plan-json`` is ``roundup list --json`` (a list of {"name", "notebook", "parameters"}).
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import papermill
from nbconvert import HTMLExporter


def run_one(report: dict, notebooks: Path, out: Path) -> str:
    """Execute one report's notebook and write ``<name>.ipynb`` and ``<name>.html`` in ``out``."""
    source = notebooks / report["notebook"]
    executed = out / f"{report['name']}.ipynb"
    papermill.execute_notebook(
        str(source),
        str(executed),
        parameters=report["parameters"],
        kernel_name="python3",
        cwd=str(source.parent),
        progress_bar=False,
    )
    body, _ = HTMLExporter(exclude_input=True).from_filename(str(executed))
    (out / f"{report['name']}.html").write_text(body, encoding="utf-8")
    return report["name"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--plan-json", type=Path, required=True)
    parser.add_argument("--notebooks", type=Path, default=Path(__file__).parents[1] / "notebooks")
    args = parser.parse_args()
    reports = json.loads(args.plan_json.read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, r, args.notebooks, args.out) for r in reports]
        for future in futures:
            future.result()


if __name__ == "__main__":
    main()
