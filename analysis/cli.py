"""``roundup``: build the report site, list the plan, validate and describe the data package,
compare two data packages (``diff``).

Exit codes: 0 all good; 1 some report failed (the others are still built) or the data package
has problems (``validate``); 2 usage or configuration error (bad option, plan, parameter, data
folder); 3 another build holds the site's lock (``--no-wait``); 130 (SIGINT, Ctrl-C) or 143
(SIGTERM) the build was interrupted: running reports were stopped and the site keeps its
previous reports. ``diff`` exits 0 whether or not figures changed (2 for an argument that is
neither a data folder nor a git revision). Notifications never change an exit code. Logs and progress go to stderr (a progress bar on a terminal, plain lines
otherwise); results go to stdout.

Each command parses its options and calls the library (:mod:`analysis.reports.build` with a
:class:`~analysis.reports.options.BuildOptions`, whose defaults the options show).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from analysis import cli_notify, cli_output, paths
from analysis.cli_notify import Notify as _Notify
from analysis.cli_notify import NotifyFile as _NotifyFile
from analysis.cli_notify import NotifyOnChange as _NotifyOnChange
from analysis.cli_output import EXIT_FAILED, EXIT_LOCKED
from analysis.cli_output import fail as _fail
from analysis.errors import RoundupError
from analysis.reports.options import MB, BuildOptions
from analysis.reports.parameters import as_declared as _as_declared
from analysis.reports.parameters import parse_params

if TYPE_CHECKING:
    from analysis.reports.plan import Report

app = typer.Typer(
    name="roundup",
    help="China tech roundup: build the report site and check the data package.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_DEFAULTS = BuildOptions()


class ExecutorKind(StrEnum):
    """Where reports run."""

    local = "local"
    dask = "dask"


_DEFAULT_EXECUTOR = ExecutorKind(_DEFAULTS.executor)


def _data_folder(data: Path | None) -> Path | None:
    """The ``--data`` folder, resolved (None when not given).

    Raises typer.Exit(2) when it has no ``datapackage.json``.
    """
    if data is None:
        return None
    folder = data.expanduser().resolve()
    if not (folder / "datapackage.json").is_file():
        raise _fail(f"no datapackage.json in {folder}")
    return folder


# --------------------------------------------------------------------------- build options

_Reports = Annotated[
    list[str] | None,
    typer.Argument(
        help="Reports to build (names or patterns like 'company-*'; default: all). "
        "A notebook name (e.g. 02-company-profile) runs it ad hoc.",
        show_default=False,
    ),
]
_Plan = Annotated[Path | None, typer.Option(help="Plan file (default: reports/plan.toml)")]
_Out = Annotated[
    Path | None, typer.Option(help="Site folder (default: reports/site or $ROUNDUP_SITE_DIR)")
]
_Jobs = Annotated[
    int | None, typer.Option("--jobs", "-j", min=1, help="Parallel reports (default: CPUs)")
]
_Force = Annotated[bool, typer.Option("--force", help="Rerun unchanged reports too.")]
_Params = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help="NAME=VALUE (JSON if it parses), with one notebook name: run it ad hoc.",
    ),
]
_Executor = Annotated[ExecutorKind, typer.Option(case_sensitive=False, help="Where reports run.")]
_Scheduler = Annotated[
    str | None, typer.Option(help="dask scheduler address (default: a local cluster)")
]
_Wait = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for another build's lock, or exit 3.")
]
_Json = Annotated[bool, typer.Option("--json", help="Print a JSON summary to stdout.")]
_Data = Annotated[Path | None, typer.Option(help="Data folder for the build and its kernels.")]
_Timeout = Annotated[int, typer.Option(min=1, help="Per-cell timeout in seconds.")]
_ReportTimeout = Annotated[
    float,
    typer.Option(
        "--report-timeout",
        min=1,
        metavar="SECONDS",
        help="Wall-clock limit of one report (all its cells); then it is stopped and failed.",
    ),
]
_MaxOutput = Annotated[
    float,
    typer.Option(
        "--max-output",
        min=0.001,
        metavar="MB",
        help="Limit in MiB (1,048,576 bytes) of one report's output, kept within its page "
        "and its executed notebook; past it the kernel is stopped and the report failed.",
    ),
]
_Keep = Annotated[
    int,
    typer.Option("--keep", min=1, metavar="N", help="Runs kept per report under <report>/runs/."),
]
_Name = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="Name of an ad-hoc report (with -p; lowercase letters, digits and '-'). "
        "Default: the notebook and its parameter values.",
        show_default=False,
    ),
]
_Kernel = Annotated[
    str | None,
    typer.Option(
        help="Run every report in this kernel: 'fork', a fresh kernel per report forked from "
        "a server that has already imported pandas, matplotlib and analysis (fast), or a "
        "kernelspec name (python3). Default: each notebook's own kernelspec, 'fork' for "
        "python3.",
        show_default=False,
    ),
]

_Pdf = Annotated[
    bool | None,
    typer.Option(
        "--pdf/--no-pdf",
        help="Print each good report to <report>.pdf too (needs Chromium and playwright). "
        "Default: when they are installed; else one line says PDFs were skipped.",
        show_default=False,
    ),
]


def _check_executor(executor: ExecutorKind, scheduler: str | None) -> None:
    """Exit 2 for a scheduler without dask, or the dask executor without dask installed."""
    if scheduler and executor is not ExecutorKind.dask:
        raise _fail("--scheduler needs --executor dask")
    if executor is ExecutorKind.dask:
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise _fail("the dask executor needs: pip install 'china-tech-roundup[dask]'") from None


def _select(
    names: list[str],
    plan: Path | None,
    items: list[str] | None,
    data: Path | None,
    adhoc_name: str | None = None,
) -> list[Report]:
    """The reports to build: ``names`` of the plan (all when empty), or with ``-p`` items one
    notebook run ad hoc (named ``adhoc_name`` if given). Raises PlanError, or typer.Exit(2) for
    a misused ``-p`` or ``--name``."""
    from analysis.reports import plan as planning

    params = parse_params(items or [])
    if adhoc_name is not None and not params:
        raise _fail("--name names an ad-hoc report: give it with -p NAME=VALUE and one notebook")
    if not params:
        return planning.select(planning.load_plan(plan, data_dir=data), names)
    if len(names) != 1:
        raise _fail("-p needs exactly one notebook name (e.g. 02-company-profile)")
    notebook = planning.resolve_notebook(names[0])
    if notebook is None:
        raise _fail(f"-p runs one notebook ad hoc; no notebook named {names[0]!r}")
    values = _as_declared(notebook, params, items)
    return [planning.adhoc_report(notebook, values, name=adhoc_name)]


@contextlib.contextmanager
def _build_errors(data: Path | None) -> Iterator[None]:
    """Turn what a build raises into the command's exit code (see the module docstring)."""
    from analysis.reports import build as building
    from analysis.reports import plan as planning

    try:
        yield
    except KeyboardInterrupt as exc:  # build.BuildInterrupted: SIGINT or SIGTERM
        signum = getattr(exc, "signum", signal.SIGINT)
        raise _fail(
            f"interrupted ({signal.Signals(signum).name}): running reports were stopped; "
            "nothing half-done was published and the site keeps its previous reports",
            128 + signum,
        ) from None
    except planning.PlanError as exc:
        raise _plan_failure(exc, data or paths.data_dir()) from None
    except building.InvalidData as exc:
        raise _invalid_data(exc.problems, exc.data_dir) from None
    except FileNotFoundError as exc:  # no datapackage.json
        raise _fail(str(exc)) from None
    except building.SiteLocked as exc:
        raise _fail(f"{exc}; not building (--no-wait)", EXIT_LOCKED) from None
    except (RoundupError, OSError) as exc:  # names, options, out dir, dask scheduler
        raise _fail(f"cannot build: {exc}") from None


def _plan_failure(exc: Exception, data_dir: Path) -> typer.Exit:
    """A plan grid over the companies cannot expand from a broken package: say why."""
    from analysis.data import Package

    try:
        problems = Package.open(data_dir).validate()
    except FileNotFoundError:
        problems = []
    if problems:
        return _invalid_data(problems, data_dir)
    return _fail(str(exc))


@app.command()
def build(
    reports: _Reports = None,
    plan: _Plan = None,
    out: _Out = None,
    jobs: _Jobs = _DEFAULTS.jobs,
    force: _Force = _DEFAULTS.force,
    param: _Params = None,
    name: _Name = None,
    executor: _Executor = _DEFAULT_EXECUTOR,
    scheduler: _Scheduler = _DEFAULTS.scheduler,
    wait: _Wait = _DEFAULTS.wait,
    as_json: _Json = False,
    data: _Data = None,
    timeout: _Timeout = _DEFAULTS.timeout,
    report_timeout: _ReportTimeout = _DEFAULTS.report_timeout,
    max_output: _MaxOutput = _DEFAULTS.max_output // MB,
    keep: _Keep = _DEFAULTS.keep,
    kernel: _Kernel = _DEFAULTS.kernel,
    pdf: _Pdf = _DEFAULTS.pdf,
    notify: _Notify = None,
    notify_file: _NotifyFile = None,
    notify_on_change: _NotifyOnChange = False,
) -> None:
    """Run the reports that changed and publish them with an index (and PDFs); notify."""
    from analysis.reports import build as building

    _check_executor(executor, scheduler)
    data_dir = _data_folder(data)
    notifier, on_change = cli_notify.notifier(
        notify or [], notify_file or [], plan, notify_on_change
    )
    site = out or paths.site_dir()
    previous = cli_notify.published_data(site) if notifier and on_change else None
    options = BuildOptions(
        out_dir=out,
        data_dir=data_dir,
        jobs=jobs,
        force=force,
        executor=executor.value,
        scheduler=scheduler,
        wait=wait,
        timeout=timeout,
        report_timeout=report_timeout,
        max_output=int(max_output * MB),
        keep=keep,
        kernel=kernel,
        pdf=pdf,
        chromium=None if pdf is False else _chromium(),  # --no-pdf: no need to look for one
    )
    with _build_errors(data_dir):
        selected = _select(reports or [], plan, param, data_dir, name)
        with cli_output.Progress() as progress:
            summary = building.build(selected, options=options, on_event=progress)
    cli_output.print_summary(summary, as_json)
    if notifier is not None:
        cli_notify.tell(notifier, summary, on_change, previous, data_dir or paths.data_dir())
    if summary.failed:
        raise typer.Exit(EXIT_FAILED)


def _chromium() -> Path | None:
    """The Chromium to print PDFs with (``$ROUNDUP_CHROMIUM``, else ``chromium`` on ``PATH``);
    None for the default ``/usr/bin/chromium`` (the :class:`BuildOptions` default)."""
    from analysis.reports.pdf import DEFAULT_CHROMIUM, find_chromium

    found = find_chromium(os.environ)
    return None if found is None or found == DEFAULT_CHROMIUM else found


@app.command("list")
def list_reports(
    plan: _Plan = None,
    data: Annotated[Path | None, typer.Option(help="Data folder (for company grids).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
) -> None:
    """List the expanded plan: one line per report."""
    from analysis.reports import plan as planning

    try:
        reports = planning.load_plan(plan, data_dir=_data_folder(data))
    except planning.PlanError as exc:
        raise _fail(str(exc)) from None
    cli_output.print_plan(reports, as_json)


def _invalid_data(problems: list, data_dir: Path) -> typer.Exit:
    cli_output.print_problems(problems, data_dir, cli_output.err())
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
    package = Package(folder)
    try:
        problems = package.validate()
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
    if package.missing_copies:
        listed = ", ".join(package.missing_copies)
        cli_output.err().print(
            f"note: local copies not on this machine, evidence not looked up in them: {escape(listed)}"
        )
    if not problems:
        cli_output.out().print(f"[green]valid:[/] {escape(str(folder))}")
        return
    cli_output.print_problems(problems, folder, cli_output.out())
    raise typer.Exit(EXIT_FAILED)


@app.command()
def extract(
    file: Annotated[Path, typer.Argument(help="A source's text (UTF-8), e.g. its local copy")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
) -> None:
    """List the figure phrases of a source text: line, column, phrase, what it reads as (exit 2
    for an unreadable file)."""
    from analysis.data.evidence import EvidenceError
    from analysis.data.evidence import extract as find

    try:
        found = find(file)
    except EvidenceError as exc:
        raise _fail(str(exc)) from None
    cli_output.print_figures(found, as_json)


@app.command("datasets")
def list_datasets(
    data: Annotated[Path | None, typer.Option(help="Data folder (default: data/)")] = None,
) -> None:
    """The data dictionary: every dataset (rows, sources) and its fields (type, unit, constraints,
    keys), from :meth:`analysis.data.Package.dictionary`."""
    from analysis.data import Package

    package = Package.open(_data_folder(data))
    folder = package.path
    try:
        catalog = package.catalog()
        dictionary = package.dictionary()
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
    sources = package._load_or_none("sources") if "sources" in package.names() else None
    cli_output.print_datasets(catalog, dictionary, folder, sources)


@app.command("diff")
def diff_packages(
    old: Annotated[str, typer.Argument(help="Old package: a data folder or a git revision.")],
    new: Annotated[str, typer.Argument(help="New package: a data folder or a git revision.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON to stdout.")] = False,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Data folder whose git history revisions are read from (default: data/)."
        ),
    ] = None,
) -> None:
    """Figure-level changes between two data packages (exit 0 whether or not any changed).

    OLD and NEW are folders holding a datapackage.json, or git revisions (HEAD~3, a tag, a
    commit) of the data folder. Exit 2 when one is neither.
    """
    from analysis.reports import changes

    folder = data.expanduser().resolve() if data else paths.data_dir()
    try:
        result = changes.diff(old, new, folder)
    except changes.ChangesError as exc:
        raise _fail(str(exc)) from None
    typer.echo(result.to_json() if as_json else result.to_text())


if __name__ == "__main__":
    app()
