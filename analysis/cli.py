"""``roundup``: build the report site, list the plan, validate and describe the data package.

Exit codes: 0 all good; 1 some report failed (the others are still built) or the data package
has problems (``validate``); 2 usage or configuration error (bad option, plan, parameter, data
folder); 3 another build holds the site's lock (``--no-wait``); 130 (SIGINT, Ctrl-C) or 143
(SIGTERM) the build was interrupted: running reports were stopped and the site keeps its
previous reports. Logs and progress go to stderr (a progress bar on a terminal, plain lines
otherwise); results go to stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from analysis import paths

if TYPE_CHECKING:
    from analysis.reports.site import BuildEvent

app = typer.Typer(
    name="roundup",
    help="China tech roundup: build the report site and check the data package.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


class ExecutorKind(StrEnum):
    """Where reports run."""

    local = "local"
    dask = "dask"


def _out() -> Console:
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``message`` to stderr and return the Exit to raise."""
    _err().print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


@contextlib.contextmanager
def _data_dir(data: Path | None) -> Iterator[Path]:
    """Use ``data`` as ``ROUNDUP_DATA_DIR`` inside the block (restored after); yield the folder.

    Raises typer.Exit(2) when ``data`` has no ``datapackage.json``.
    """
    if data is None:
        yield paths.data_dir()
        return
    folder = data.expanduser().resolve()
    if not (folder / "datapackage.json").is_file():
        raise _fail(f"no datapackage.json in {folder}")
    saved = os.environ.get("ROUNDUP_DATA_DIR")
    os.environ["ROUNDUP_DATA_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if saved is None:
            os.environ.pop("ROUNDUP_DATA_DIR", None)
        else:
            os.environ["ROUNDUP_DATA_DIR"] = saved


def _as_declared(notebook: Path, params: dict[str, Any], items: list[str] | None) -> dict[str, Any]:
    """``-p`` values as the notebook declares them: text stays text for a ``str`` parameter.

    ``-p as_of=2021`` parses as the JSON number 2021; for a parameter whose default is a string
    it is meant as the text "2021".
    """
    from analysis.reports import plan as planning

    raw = {n.strip(): v for n, _, v in (item.partition("=") for item in items or [])}
    declared = planning.notebook_parameters(notebook)
    out = dict(params)
    for name, value in params.items():
        spec = declared.get(name)
        if spec and planning._expected_type(spec)[0] is str and not isinstance(value, str):
            out[name] = raw[name]
    return out


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["NAME=VALUE", ...]`` -> dict; a VALUE is JSON if it parses (``3``, ``true``,
    ``["a"]``), else the text itself. Raises typer.BadParameter for an item without ``=``."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="'-p'")
        try:
            params[name.strip()] = json.loads(raw)
        except ValueError:
            params[name.strip()] = raw
    return params


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in params.items()) or "-"


class _Progress:
    """Build progress on stderr: a rich bar on a terminal, one plain line per report otherwise."""

    def __init__(self) -> None:
        self.console = _err()
        self.bar: Progress | None = None
        self.task: Any = None
        self.done = 0
        self.total = 0

    def __enter__(self) -> _Progress:
        if sys.stderr.isatty():
            self.bar = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __call__(self, event: BuildEvent) -> None:
        entry = event.entry
        if event.kind == "planned":
            self.total = event.total
            if self.bar is not None:
                self.task = self.bar.add_task("building reports", total=event.total)
            else:
                self.console.print(f"running {event.total} report(s)")
            return
        if event.kind == "skipped":
            self.console.print(f"{escape(entry['name'])}: unchanged, skipped")
            return
        self.done += 1
        status = entry["status"]
        style = "green" if status == "ok" else "bold red"
        error = entry.get("error") or {}
        detail = f" ({error.get('type')}: {error.get('message')})" if error else ""
        self.console.print(
            f"[{self.done}/{self.total}] {escape(entry['name'])}: [{style}]{status}[/]"
            f" in {entry['duration_s']:.1f} s{escape(detail)}"
        )
        if self.bar is not None:
            self.bar.advance(self.task)


@app.command()
def build(
    reports: Annotated[
        list[str] | None,
        typer.Argument(
            help="Reports to build (names or patterns like 'company-*'; default: all). "
            "A notebook name (e.g. 02-company-profile) runs it ad hoc.",
            show_default=False,
        ),
    ] = None,
    plan: Annotated[
        Path | None, typer.Option(help="Plan file (default: reports/plan.toml)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Site folder (default: reports/site or $ROUNDUP_SITE_DIR)")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Parallel reports (default: CPUs)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rerun unchanged reports too.")] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            help="NAME=VALUE (JSON if it parses), with one notebook name: run it ad hoc.",
        ),
    ] = None,
    executor: Annotated[
        ExecutorKind, typer.Option(case_sensitive=False, help="Where reports run.")
    ] = ExecutorKind.local,
    scheduler: Annotated[
        str | None, typer.Option(help="dask scheduler address (default: a local cluster)")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait for another build's lock, or exit 3.")
    ] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON summary to stdout.")
    ] = False,
    data: Annotated[
        Path | None, typer.Option(help="Data folder for the build and its kernels.")
    ] = None,
    timeout: Annotated[int, typer.Option(min=1, help="Per-cell timeout in seconds.")] = 600,
    report_timeout: Annotated[
        float,
        typer.Option(
            "--report-timeout",
            min=1,
            metavar="SECONDS",
            help="Wall-clock limit of one report (all its cells); then it is stopped and failed.",
        ),
    ] = 1800,
    max_output: Annotated[
        float,
        typer.Option(
            "--max-output",
            min=0.001,
            metavar="MB",
            help="Limit of one report's kept output; past it the kernel is stopped and the "
            "report failed.",
        ),
    ] = 10,
    keep: Annotated[
        int,
        typer.Option(
            "--keep", min=1, metavar="N", help="Runs kept per report under <report>/runs/."
        ),
    ] = 5,
    kernel: Annotated[
        str,
        typer.Option(
            help="'fork': a fresh kernel per report, forked from a server that has already "
            "imported pandas, matplotlib and analysis (fast); or a kernelspec name (python3)."
        ),
    ] = "fork",
) -> None:
    """Run the reports that changed and publish them with an index."""
    from analysis.reports import plan as planning
    from analysis.reports import site

    reports = reports or []
    if scheduler and executor is not ExecutorKind.dask:
        raise _fail("--scheduler needs --executor dask")
    if executor is ExecutorKind.dask:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise _fail("the dask executor needs: pip install 'china-tech-roundup[dask]'") from None
    params = parse_params(param or [])
    with _data_dir(data) as data_dir:
        try:
            if params:
                if len(reports) != 1:
                    raise _fail("-p needs exactly one notebook name (e.g. 02-company-profile)")
                notebook = planning.resolve_notebook(reports[0])
                if notebook is None:
                    raise _fail(f"-p runs one notebook ad hoc; no notebook named {reports[0]!r}")
                selected = [planning.adhoc_report(notebook, _as_declared(notebook, params, param))]
            else:
                selected = planning.select(planning.load_plan(plan), reports)
            with _Progress() as progress:
                summary = site.build(
                    selected,
                    out_dir=out,
                    jobs=jobs,
                    force=force,
                    executor=executor.value,
                    scheduler=scheduler,
                    wait=wait,
                    timeout=timeout,
                    data_dir=data_dir,
                    on_event=progress,
                    report_timeout=report_timeout,
                    max_output=int(max_output * 1024 * 1024),
                    keep=keep,
                    kernel=kernel,
                )
        except KeyboardInterrupt as exc:  # site.BuildInterrupted: SIGINT or SIGTERM
            signum = getattr(exc, "signum", signal.SIGINT)
            raise _fail(
                f"interrupted ({signal.Signals(signum).name}): running reports were stopped; "
                "nothing half-done was published and the site keeps its previous reports",
                128 + signum,
            ) from None
        except planning.PlanError as exc:
            # a plan grid over the companies cannot expand from a broken package: say why
            from analysis.data import Package

            try:
                problems = Package.open(data_dir).validate()
            except FileNotFoundError:
                problems = []
            if problems:
                raise _invalid_data(problems, data_dir) from None
            raise _fail(str(exc)) from None
        except site.InvalidData as exc:
            raise _invalid_data(exc.problems, exc.data_dir) from None
        except FileNotFoundError as exc:  # no datapackage.json
            raise _fail(str(exc)) from None
        except site.SiteLocked as exc:
            raise _fail(f"{exc}; not building (--no-wait)", EXIT_LOCKED) from None
        except (ValueError, OSError, TimeoutError) as exc:  # names, out dir, dask scheduler
            raise _fail(f"cannot build: {exc}") from None

    counts = summary.counts()
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False))
    else:
        table = Table("report", "status", "duration", title="roundup build")
        table.add_column("page", overflow="fold")
        for entry in summary.entries:
            style = {"ok": "green", "failed": "bold red"}.get(entry["status"], "dim")
            table.add_row(
                escape(entry["name"]),
                f"[{style}]{entry['status']}[/]",
                f"{entry['duration_s']:.1f} s",
                escape(entry["href"]),
            )
        _out().print(table)
    _err().print(
        f"{counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped: "
        f"{escape(str(summary.out_dir / 'index.html'))}"
    )
    if summary.failed:
        raise typer.Exit(EXIT_FAILED)


@app.command("list")
def list_reports(
    plan: Annotated[
        Path | None, typer.Option(help="Plan file (default: reports/plan.toml)")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="Data folder (for company grids).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
) -> None:
    """List the expanded plan: one line per report."""
    from analysis.reports import plan as planning

    with _data_dir(data):
        try:
            reports = planning.load_plan(plan)
        except planning.PlanError as exc:
            raise _fail(str(exc)) from None
    if as_json:
        rows = [
            {"name": r.name, "notebook": r.notebook_label, "parameters": r.parameters}
            for r in reports
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("report", "notebook", "parameters", title=f"{len(reports)} report(s)")
    for r in reports:
        table.add_row(escape(r.name), escape(r.notebook_label), escape(_params_text(r.parameters)))
    _out().print(table)


def _print_problems(problems: list, folder: Path, console: Console) -> None:
    """Every problem of a data package, one table per file: line, column, value, rule."""
    by_file: dict[str, list] = {}
    for problem in problems:
        by_file.setdefault(problem.file, []).append(problem)
    for file, found in by_file.items():
        table = Table("line", "column", "value", "rule", title=f"{file}: {len(found)} problem(s)")
        for p in found:
            table.add_row(
                "" if p.line is None else str(p.line),
                escape(p.column or ""),
                escape("" if p.value is None else repr(p.value)),
                escape(p.rule),
            )
        console.print(table)
    _err().print(f"[bold red]{len(problems)} problem(s)[/] in {len(by_file)} file(s) of {folder}")


def _invalid_data(problems: list, data_dir: Path) -> typer.Exit:
    _print_problems(problems, data_dir, _err())
    return _fail("the data package is invalid: nothing was built or published")


@app.command()
def validate(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="Data folder (default: data/ or $ROUNDUP_DATA_DIR)", show_default=False
        ),
    ] = None,
) -> None:
    """Check every file of the data package; print each problem grouped by file (exit 1 if any)."""
    from analysis.data import Package

    folder = directory.expanduser().resolve() if directory else paths.data_dir()
    try:
        problems = Package(folder).validate()
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
    if not problems:
        _out().print(f"[green]valid:[/] {escape(str(folder))}")
        return
    _print_problems(problems, folder, _out())
    raise typer.Exit(EXIT_FAILED)


@app.command("datasets")
def list_datasets(
    data: Annotated[Path | None, typer.Option(help="Data folder (default: data/)")] = None,
) -> None:
    """The data dictionary: every dataset (rows, sources) and its fields (type, unit, constraints,
    keys), from ``analysis.data.Package.dictionary``."""
    import pandas as pd

    from analysis.data import Package

    with _data_dir(data) as folder:
        try:
            catalog = Package(folder).catalog()
            dictionary = Package(folder).dictionary()
        except FileNotFoundError as exc:
            raise _fail(str(exc)) from None
    console = _out()
    table = Table("dataset", "title", "rows", "description", title=f"datasets in {folder}")
    for row in catalog.itertuples(index=False):
        rows = "invalid" if pd.isna(row.rows) else str(row.rows)
        table.add_row(escape(row.name), escape(row.title), rows, escape(row.description))
    console.print(table)
    for name, fields in dictionary.groupby("dataset", sort=False):
        sources = fields["sources"].iloc[0] or "–"
        out = Table(
            "field",
            "type",
            "unit",
            "constraints",
            "key",
            title=f"{escape(str(name))} — sources: {escape(str(sources))}",
        )
        for f in fields.itertuples(index=False):
            out.add_row(
                escape(f.field),
                escape(f.type),
                escape(f.unit),
                escape(f.constraints),
                escape(f.key),
            )
        console.print(out)


if __name__ == "__main__":
    app()
