"""Peer: Ploomber — the plan as a Ploomber DAG of notebook tasks, built in parallel.

One ``NotebookRunner`` task per report of the plan (same notebook, same parameters), each
producing the executed notebook and an HTML page with inputs hidden (nbconvert, as Ploomber
does it), run by Ploomber's ``Parallel`` executor with N processes. Ploomber skips tasks whose
source and parameters are unchanged, so a second run measures its no-change rebuild.

Needs the ``bench`` extra in its own environment (``make bench`` creates ``bench/.venv``):

    bench/.venv/bin/python bench/ploomber_pipeline.py --jobs 2 --plan-json plan.json OUT_DIR
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("PLOOMBER_STATS_ENABLED", "false")  # no telemetry calls from the bench

from ploomber import DAG  # noqa: E402
from ploomber.executors import Parallel  # noqa: E402
from ploomber.products import File  # noqa: E402
from ploomber.tasks import NotebookRunner  # noqa: E402


def pipeline(reports: list[dict], notebooks: Path, out: Path, jobs: int) -> DAG:
    """A DAG with one notebook task per report, run by ``jobs`` processes."""
    dag = DAG(executor=Parallel(processes=jobs, print_progress=False))
    for report in reports:
        NotebookRunner(
            notebooks / report["notebook"],
            {
                "nb": File(out / f"{report['name']}.ipynb"),
                "html": File(out / f"{report['name']}.html"),
            },
            dag=dag,
            name=report["name"],
            params=report["parameters"],
            nb_product_key=["nb", "html"],
            kernelspec_name="python3",
            static_analysis="disable",
            local_execution=True,
            nbconvert_export_kwargs={"exclude_input": True},
        )
    return dag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--plan-json", type=Path, required=True)
    parser.add_argument("--notebooks", type=Path, default=Path(__file__).parents[1] / "notebooks")
    args = parser.parse_args()
    reports = json.loads(args.plan_json.read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    pipeline(reports, args.notebooks.resolve(), args.out.resolve(), args.jobs).build()


if __name__ == "__main__":
    main()
