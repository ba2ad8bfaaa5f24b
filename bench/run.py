"""Side-by-side benchmarks of report builds; writes bench/RESULTS.md.

Run from the repository root with the project's environment:

    .venv/bin/python bench/run.py            # every benchmark, 3 runs each
    .venv/bin/python bench/run.py --runs 5 --only A B C

Every build runs the 12-report plan of issue 12, bench/plan.toml (the overview and 11 company
profiles; reports/plan.toml has grown since), unless --plan names another. Each build makes
the same outputs: per report the executed notebook and its HTML page. roundup runs with
--no-pdf, since no peer prints PDFs (its index, data.zip and run records it does make).

A  the naive way: bench/naive.sh (papermill CLI + nbconvert CLI per report, sequentially)
P  the hand-wired peer: bench/pool.py (a process pool of papermill + HTMLExporter), -j 2
L  the Ploomber peer: bench/ploomber_pipeline.py (Parallel executor), -j 2, cold and no-change;
   needs bench/.venv (`make bench` makes it); skipped with a note without it
B  roundup build --force -j 1, and -j 2; the floor: the cells' own durations (papermill's
   per-cell timings in roundup's executed notebooks) summed and divided by the workers
C  a no-change rebuild (roundup build after a build)
D  a synthetic plan (a grid over generated parameters of 04-app-downloads), at two sizes:
   total time, time per report, the orchestrator's peak memory (sampled RSS), and a no-change
   rebuild of the largest
E  python -c "import analysis; load every dataset" against python -c "import pandas"
F  loading and validating a 100,000-row user_bases file (target: under 2 s)
G  comparing today's data package with itself, as every build does (target: under 0.2 s)

Every build runs the same plan (`roundup list --plan PLAN --json`) in the same invocation. Only public
tools are used: the roundup, papermill and nbconvert command lines and Python APIs, Ploomber,
psutil to sample memory. Each figure is the median, min and max over the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
PLOOMBER_PYTHON = ROOT / "bench" / ".venv" / "bin" / "python"
JOBS = 2  # the parallelism at which roundup and its peers are compared (this machine's cores)
PLAN = ROOT / "bench" / "plan.toml"  # the 12-report plan of issue 12 (see its comment)
NO_PDF = "--no-pdf"  # no peer prints PDFs: roundup builds the same outputs (notebook + page)


def timed(
    cmd: list[str], *, cwd: Path = ROOT, sample_rss: bool = False, env: dict | None = None
) -> tuple[float, int]:
    """Wall seconds of ``cmd`` and, if asked, the peak RSS (bytes) of its own process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env or ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    if sample_rss:
        ps = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                peak = max(peak, ps.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    return elapsed, peak


def stats(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def roundup_build(plan: Path, out: Path | str, *args: str) -> list[str]:
    """The ``roundup build`` command line of the bench: ``plan`` into ``out``, no PDFs."""
    return ["roundup", "build", "--plan", str(plan), NO_PDF, "--out", str(out), *args]


def bench_a(runs: int, plan: Path) -> dict:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as out:
            times.append(timed(["bash", str(ROOT / "bench" / "naive.sh"), out, str(plan)])[0])
    return stats(times)


def bench_b(runs: int, jobs: int, plan: Path) -> dict:
    times, overheads, floors = [], [], []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(runs):
            cmd = roundup_build(plan, out, "--force", "-j", str(jobs))
            times.append(timed(cmd)[0])
            cells = cell_seconds(Path(out))
            overheads += [job - cell for job, cell in cells]
            floors.append(sum(cell for _, cell in cells) / jobs)
    # the first build goes into an empty folder: it validates the data and writes datasets.html,
    # which the others skip (the site's index.json says this data, code and lock passed)
    return {
        **stats(times), "first": times[0], "overhead": stats(overheads), "floor": stats(floors)
    }  # fmt: skip


def cell_seconds(site: Path) -> list[tuple[float, float]]:
    """Per report of the last build: (wall time of the whole job — kernel start, execution,
    HTML export, run.json —, time its cells ran by papermill's per-cell durations)."""
    found = []
    for run_json in site.glob("*/run.json"):
        run = json.loads(run_json.read_text())
        nb = json.loads((run_json.parent / run["files"]["notebook"]).read_text())
        cells = sum(
            c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0 for c in nb["cells"]
        )
        found.append((run["duration_s"], cells))
    return found


def plan_reports(plan: Path) -> list[dict]:
    """The expanded plan as ``roundup list --plan PLAN --json`` prints it."""
    cmd = ["roundup", "list", "--plan", str(plan), "--json"]
    return json.loads(subprocess.check_output(cmd, env=ENV, cwd=ROOT))


def plan_json(folder: Path, plan: Path) -> Path:
    """The expanded plan (:func:`plan_reports`) in a file for the peers."""
    path = folder / "plan.json"
    path.write_text(json.dumps(plan_reports(plan)), encoding="utf-8")
    return path


def bench_p(runs: int, jobs: int, plan: Path) -> dict:
    """The hand-wired pool (bench/pool.py) on the plan, a fresh output folder each run."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        reports = plan_json(Path(tmp), plan)
        for i in range(runs):
            cmd = [sys.executable, str(ROOT / "bench" / "pool.py"), "--jobs", str(jobs)]
            times.append(timed([*cmd, "--plan-json", str(reports), f"{tmp}/out-{i}"])[0])
    return stats(times)


def bench_l(runs: int, jobs: int, plan: Path) -> dict | None:
    """Ploomber on the plan: cold builds (fresh folders), then no-change rebuilds of the last."""
    if not PLOOMBER_PYTHON.is_file():
        print("L skipped: no bench/.venv (run `make bench`)", file=sys.stderr)
        return None
    env = {**ENV, "PATH": f"{PLOOMBER_PYTHON.parent}{os.pathsep}{ENV['PATH']}"}
    env["PLOOMBER_STATS_ENABLED"] = "false"
    script = str(ROOT / "bench" / "ploomber_pipeline.py")
    cold, again = [], []
    with tempfile.TemporaryDirectory() as tmp:
        reports = plan_json(Path(tmp), plan)
        for i in range(runs):
            cmd = [str(PLOOMBER_PYTHON), script, "--jobs", str(jobs), "--plan-json", str(reports)]
            cold.append(timed([*cmd, f"{tmp}/out-{i}"], env=env)[0])
        for _ in range(runs):
            again.append(timed([*cmd, f"{tmp}/out-{runs - 1}"], env=env)[0])
    return {"cold": stats(cold), "no_change": stats(again)}


def bench_c(runs: int, plan: Path) -> dict:
    times = []
    with tempfile.TemporaryDirectory() as out:
        timed(roundup_build(plan, out))
        for _ in range(runs):
            times.append(timed(roundup_build(plan, out))[0])
        index = json.loads((Path(out) / "index.json").read_text())
        assert {r["status"] for r in index["reports"]} == {"skipped"}
    return stats(times)


def synthetic_plan(folder: Path, size: int) -> Path:
    """A plan of ``size`` reports: 04-app-downloads over generated milestones."""
    milestones = [1_000_000_000 + i * 10_000_000 for i in range(size)]
    plan = folder / f"plan-{size}.toml"
    plan.write_text(
        f'notebooks = "{ROOT / "notebooks"}"\n'
        '[[report]]\nname = "downloads-{milestone}"\nnotebook = "04-app-downloads.ipynb"\n'
        f"parameters = {{}}\n[report.grid]\nmilestone = {json.dumps(milestones)}\n",
        encoding="utf-8",
    )
    return plan


def bench_d(sizes: list[int], jobs: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            plan = synthetic_plan(Path(tmp), size)
            out = Path(tmp) / f"site-{size}"
            cmd = roundup_build(plan, out, "-j", str(jobs))
            elapsed, peak = timed(cmd, sample_rss=True)
            row = {
                "reports": size,
                "seconds": elapsed,
                "per_report": elapsed / size,
                "orchestrator_peak_mib": peak / 2**20,
            }
            if size == max(sizes):
                row["no_change"] = stats([timed(cmd)[0] for _ in range(3)])
            rows.append(row)
            shutil.rmtree(out, ignore_errors=True)
    return rows


def bench_e(runs: int) -> dict:
    load = "from analysis.data import Package; p = Package.open(); [p.load(n) for n in p.names()]"
    py = str(BIN / "python")
    a = [timed([py, "-c", load])[0] for _ in range(runs)]
    b = [timed([py, "-c", "import pandas"])[0] for _ in range(runs)]
    return {"load_all": stats(a), "import_pandas": stats(b)}


F_SCRIPT = """
import random, shutil, sys, tempfile, time
from pathlib import Path
from analysis import paths
from analysis.data import Package
tmp = Path(tempfile.mkdtemp())
shutil.copytree(paths.PROJECT_ROOT / "data", tmp / "data")
rows = ["record_id,company,product,metric,users,qualifier,evidence,as_of,source_id,note"]
companies = ["Didi", "Banma", "Meituan", "Tencent"]
rng = random.Random(0)
for i in range(100_000):  # each figure with words stating it (a source without a local copy)
    users = rng.randint(1, 10**9)
    rows.append(f"r{i},{companies[i % 4]},app {i},annual_users,{users},"
                f"approximate,about {users} users,2021-07,ecns-2018-01-09-didi-2017,row {i}")
(tmp / "data" / "user_bases.csv").write_text("\\n".join(rows) + "\\n", encoding="utf-8")
import pandera.pandas  # imports are not what is measured
start = time.perf_counter()
df = Package(tmp / "data").load("user_bases")
assert len(df) == 100_000 and Package(tmp / "data").validate() == []
print(time.perf_counter() - start)
shutil.rmtree(tmp)
"""


G_SCRIPT = """
import time
from analysis import paths
from analysis.reports import changes
data = paths.data_dir()
changes.compare(changes.read_folder(data), changes.read_folder(data))  # imports, not measured
start = time.perf_counter()
assert not changes.compare(changes.read_folder(data), changes.read_folder(data)).changes
print(time.perf_counter() - start)
"""


def bench_g(runs: int) -> dict:
    """A no-change comparison of today's data package with itself (read both, compare), in
    process: what every build does for changes.html and each report's "What changed"."""
    py = str(BIN / "python")
    times = [
        float(subprocess.check_output([py, "-c", G_SCRIPT], env=ENV, cwd=ROOT)) for _ in range(runs)
    ]
    return stats(times)


def bench_f(runs: int) -> dict:
    py = str(BIN / "python")
    times = [
        float(subprocess.check_output([py, "-c", F_SCRIPT], env=ENV, cwd=ROOT)) for _ in range(runs)
    ]
    return stats(times)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
        f"{mem:.0f} GiB RAM, Python {platform.python_version()}"
    )


def fmt(s: dict) -> str:
    return f"{s['median']:.2f} s ({s['min']:.2f}–{s['max']:.2f}, n={s['n']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=["A", "P", "L", "B", "C", "D", "E", "F", "G"])
    parser.add_argument("--sizes", type=int, nargs=2, default=[200, 1000])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.json")
    parser.add_argument("--md", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--plan", type=Path, default=PLAN, help="default: bench/plan.toml")
    args = parser.parse_args()
    plan = args.plan.resolve()
    results: dict = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results["machine"] = machine()
    results["date"] = time.strftime("%Y-%m-%d")
    results["plan"] = plan.relative_to(ROOT).as_posix() if plan.is_relative_to(ROOT) else str(plan)
    results["plan_reports"] = len(plan_reports(plan))
    steps = {
        "A": lambda: results.__setitem__("A", bench_a(args.runs, plan)),
        "P": lambda: results.__setitem__("P", bench_p(args.runs, JOBS, plan)),
        "L": lambda: results.__setitem__("L", bench_l(args.runs, JOBS, plan)),
        "B": lambda: results.__setitem__(
            "B", {"j1": bench_b(args.runs, 1, plan), "j2": bench_b(args.runs, 2, plan)}
        ),
        "C": lambda: results.__setitem__("C", bench_c(max(args.runs, 5), plan)),
        "D": lambda: results.__setitem__("D", bench_d(args.sizes, JOBS)),
        "E": lambda: results.__setitem__("E", bench_e(max(args.runs, 5))),
        "F": lambda: results.__setitem__("F", bench_f(max(args.runs, 5))),
        "G": lambda: results.__setitem__("G", bench_g(max(args.runs, 5))),
    }
    for key in args.only:
        print(f"running {key} ...", file=sys.stderr, flush=True)
        steps[key]()
        args.out.write_text(json.dumps(results, indent=2))
    args.md.write_text(report(results), encoding="utf-8")
    print(args.md.read_text())


def ratio(a: dict | None, b: dict | None) -> str:
    return f"{a['median'] / b['median']:.2f}" if a and b else "—"


def met(value: float, limit: float) -> str:
    """The target column's verdict: "yes" when ``value`` is at most ``limit``."""
    return "yes" if value <= limit else "**no**"


# Issue 12's targets: roundup -j 2 at most this times each build of the same plan (same -j)
PEER_TARGETS = {"P": 0.45, "L": 0.35, "floor": 2.0}
REBUILD_TARGETS = {12: 0.3, 1000: 1.0}  # seconds, by the plan's number of reports
F_TARGET = 2.0  # seconds
G_TARGET = 0.2  # seconds (the bound tests/reports/test_changes.py once timed)


def peers_table(r: dict) -> list[str]:
    """The 12-report plan at the same parallelism: every peer, roundup's ratio to each, the floor."""
    ours = r.get("B", {}).get("j2")
    ploomber = r.get("L") or {}
    rows = [
        ("A. naive loop: papermill CLI + nbconvert CLI, one report after another", r.get("A"), None),
        ("P. hand-wired pool: papermill + HTMLExporter in 2 processes (`bench/pool.py`)",
         r.get("P"), "P"),
        ("L. Ploomber, Parallel executor, 2 processes (`bench/ploomber_pipeline.py`)",
         ploomber.get("cold"), "L"),
        ("Floor: the cells' own durations (papermill's, in roundup's notebooks) / 2 workers",
         ours.get("floor") if ours else None, "floor"),
    ]  # fmt: skip
    lines = [
        "| build of the plan | time | roundup `-j 2` ÷ this | target | met |",
        "|---|---|---|---|---|",
    ]
    for label, value, key in rows:
        if not value:
            continue
        target = PEER_TARGETS.get(key or "")
        shown = f"≤ {target:.2f}" if target else ""
        verdict = met(ours["median"] / value["median"], target) if ours and target else ""
        lines.append(f"| {label} | {fmt(value)} | {ratio(ours, value)} | {shown} | {verdict} |")
    if ours:
        lines.append(f"| **roundup `build --force -j 2 --no-pdf`** | {fmt(ours)} | 1.00 | | |")
    if ours and "first" in ours:
        lines.append(
            "| roundup, the first of those builds (an empty folder: it also validates the data "
            f"and writes `datasets.html`) | {ours['first']:.2f} s | | | |"
        )
    return lines


def rebuild_table(r: dict) -> list[str]:
    lines = ["| no-change rebuild | time | target | met |", "|---|---|---|---|"]
    found = [(r.get("plan_reports"), r["C"])] if r.get("C") else []
    found += [(row["reports"], row["no_change"]) for row in r.get("D") or [] if "no_change" in row]
    for reports, value in found:
        target = REBUILD_TARGETS.get(reports)
        shown, verdict = (f"≤ {target} s", met(value["median"], target)) if target else ("", "")
        lines.append(f"| roundup, {reports} reports | {fmt(value)} | {shown} | {verdict} |")
    if (r.get("L") or {}).get("no_change"):
        lines.append(
            f"| Ploomber, {r.get('plan_reports')} reports | {fmt(r['L']['no_change'])} | | |"
        )
    return lines


def other_rows(r: dict) -> list[str]:
    lines = ["| benchmark | time | note |", "|---|---|---|"]
    b1 = r.get("B", {}).get("j1")
    if b1:
        lines.append(f"| roundup `build --force -j 1` | {fmt(b1)} | {ratio(b1, r.get('A'))} × A |")
    for key, label in (("j1", "-j 1"), ("j2", "-j 2")):
        b = r.get("B", {}).get(key)
        if b and "overhead" in b:
            lines.append(
                f"| per-report overhead at {label} (job time − cell time) | "
                f"{fmt(b['overhead'])} | kernel start, HTML export, run.json |"
            )
    e = r.get("E")
    if e:
        lines.append(
            f"| `import analysis` + load every dataset | {fmt(e['load_all'])} | "
            f"{ratio(e['load_all'], e['import_pandas'])} × `import pandas` |"
        )
        lines.append(f"| `import pandas` | {fmt(e['import_pandas'])} | |")
    if r.get("F"):
        lines.append(
            f"| load + validate a 100,000-row `user_bases.csv` (in process) | {fmt(r['F'])} | "
            f"target < {F_TARGET:.0f} s: {'met' if r['F']['median'] < F_TARGET else '**not met**'} |"
        )
    if r.get("G"):
        lines.append(
            f"| compare today's data package with itself (in process) | {fmt(r['G'])} | "
            f"target < {G_TARGET} s: {'met' if r['G']['median'] < G_TARGET else '**not met**'} |"
        )
    return lines


def scale_table(r: dict) -> list[str]:
    lines = [
        "Synthetic plans (a grid over generated milestones of `04-app-downloads`, `-j 2`, "
        "`--no-pdf`, a fresh site): the build's total time, time per report, and the "
        "orchestrator's peak RSS (the `roundup` process itself, sampled every 50 ms; workers "
        "and kernels are separate processes).",
        "",
        "| reports | total | per report | orchestrator peak RSS |",
        "|---|---|---|---|",
    ]
    for row in r.get("D") or []:
        lines.append(
            f"| {row['reports']:,} | {row['seconds']:.1f} s | {row['per_report']:.3f} s | "
            f"{row['orchestrator_peak_mib']:.0f} MiB |"
        )
    return lines


def report(r: dict) -> str:
    plan = r.get("plan", "bench/plan.toml")
    sections = [
        "# Benchmark results",
        "",
        f"Machine: {r['machine']}. Date: {r['date']}. Produced by `make bench` "
        "(`.venv/bin/python bench/run.py`); raw figures in `bench/RESULTS.json`. Each cell: "
        "median (min–max, n runs).",
        "",
        f"Plan: {r.get('plan_reports')} reports, `{plan}`: the 12-report plan of issue 12 (the "
        "overview and the profiles of the 11 companies of data release 1), fixed so that "
        "figures stay comparable while `reports/plan.toml` grows. Every build of a table runs "
        "this plan (`roundup list --plan ... --json` gives the peers the same reports and "
        "parameters) and makes the same outputs: per report the executed notebook and its HTML "
        "page with inputs hidden. roundup runs with `--no-pdf`, since no peer prints PDFs "
        "(with Chromium installed, `roundup build` prints one per report by default); what "
        "else roundup does is in its times: fingerprints, `data.zip`, run records, the index "
        "and site pages, and data validation before any kernel (once per data, code and lock "
        "file: the first build into a folder pays it, the others find it in the site's "
        "`index.json`; that first build is shown on its own). `analysis/` is byte-compiled "
        "first (`make bytecode`), as a regular install would be.",
        "",
        "## roundup against what a user would pick instead",
        "",
        *peers_table(r),
        "",
        "## No-change rebuilds",
        "",
        *rebuild_table(r),
        "",
        "## Other measures",
        "",
        *other_rows(r),
        "",
    ]
    if r.get("D"):
        sections += ["## Scale", "", *scale_table(r), ""]
    return "\n".join(sections)


if __name__ == "__main__":
    main()
