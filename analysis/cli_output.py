"""What the ``roundup`` command prints: progress and counts on stderr, results on stdout.

Rich consoles (no highlighting); every text that comes from data or a report is escaped for
rich markup.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import pandas as pd

    from analysis.reports.build import BuildEvent, BuildSummary
    from analysis.reports.plan import Report


#: ``roundup``'s exit codes (their meanings: :mod:`analysis.cli`).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


def out() -> Console:
    """stdout: results."""
    return Console(highlight=False)


def err() -> Console:
    """stderr: logs, progress, errors."""
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``message`` to stderr and return the Exit to raise."""
    err().print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def params_text(params: dict[str, Any]) -> str:
    """``name=<json>, ...`` (``-`` for none)."""
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in params.items()) or "-"


class Progress:
    """Build progress on stderr: a rich bar on a terminal, one plain line per report otherwise."""

    def __init__(self) -> None:
        self.console = err()
        self.bar: Any = None  # a rich.progress.Progress on a terminal
        self.task: Any = None
        self.done = 0
        self.total = 0

    def __enter__(self) -> Progress:
        if sys.stderr.isatty():
            from rich import progress as rich_progress  # not imported by piped runs

            self.bar = rich_progress.Progress(
                rich_progress.TextColumn("[progress.description]{task.description}"),
                rich_progress.BarColumn(),
                rich_progress.MofNCompleteColumn(),
                rich_progress.TimeElapsedColumn(),
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
        if event.kind == "waiting":
            lock = escape(str(entry.get("lock")))
            self.console.print(
                f"waiting for another build to finish (lock held on {lock})...", soft_wrap=True
            )
            return
        if event.kind == "planned":
            self.total = event.total
            if self.bar is not None:
                self.task = self.bar.add_task("building reports", total=event.total)
            else:
                self.console.print(f"running {event.total} report(s)")
            return
        if event.kind == "note":
            self.console.print(escape(event.message), soft_wrap=True)  # one line
            return
        if event.kind == "skipped":
            if self.bar is None:  # one plain line (a slug: nothing to style or wrap) per report
                self.console.file.write(f"{entry['name']}: unchanged, skipped\n")
            else:
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


def print_problems(problems: list, folder: Path, console: Console) -> None:
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
    err().print(f"[bold red]{len(problems)} problem(s)[/] in {len(by_file)} file(s) of {folder}")


def print_figures(found: list, as_json: bool) -> None:
    """``roundup extract``: each figure phrase (:class:`analysis.data.evidence.Found`) on one
    tab-separated line (line, column, phrase, reading or why not, context), or a JSON list."""
    if as_json:
        rows = [
            {
                "line": f.line,
                "column": f.column,
                "phrase": f.phrase,
                "value": f.reading.value if f.reading else None,
                "unit": f.reading.unit if f.reading else None,
                "qualifier": f.reading.qualifier if f.reading else None,
                "reads_as": str(f.reading) if f.reading else None,
                "problem": f.problem,
                "context": f.context,
            }
            for f in found
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    typer.echo("line\tcolumn\tphrase\treads as\tcontext")
    for f in found:
        said = str(f.reading) if f.reading else f"not read: {f.problem}"
        typer.echo(f"{f.line}\t{f.column}\t{f.phrase}\t{said}\t{f.context}")
    err().print(f"{len(found)} figure phrase(s)")


def print_summary(summary: BuildSummary, as_json: bool) -> None:
    """The build's reports to stdout, and its counts to stderr. JSON: every report. A table:
    the reports that ran (ok or failed); unchanged ones, already listed one per line on stderr,
    are counted in its caption, so a no-change rebuild of a thousand reports prints no table."""
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2, ensure_ascii=False))
    elif ran := [e for e in summary.entries if e["status"] != "skipped"]:
        skipped = len(summary.entries) - len(ran)
        caption = f"and {skipped} unchanged report(s), skipped" if skipped else None
        table = Table("report", "status", "duration", title="roundup build", caption=caption)
        table.add_column("page", overflow="fold")
        for entry in ran:
            style = {"ok": "green", "failed": "bold red"}.get(entry["status"], "dim")
            table.add_row(  # Text, not markup: a thousand rows are not parsed one by one
                Text(entry["name"]),
                Text(entry["status"], style=style),
                Text(f"{entry['duration_s']:.1f} s"),
                Text(entry["href"] or "(not published)"),
            )
        out().print(table)
    counts = summary.counts()
    err().print(
        f"{counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped: "
        f"{escape(str(summary.out_dir / 'index.html'))}"
    )


def print_datasets(
    catalog: pd.DataFrame, dictionary: pd.DataFrame, folder: Path, source_rows: pd.DataFrame | None
) -> None:
    """The data dictionary as tables: the catalog (one row per dataset), one table of fields
    per dataset (columns of :meth:`analysis.data.Package.catalog` and ``dictionary``; evidence
    fields say which figure they state), then the sources (source_id, publisher, url) if given."""
    import pandas as pd

    console = out()
    table = Table("dataset", "title", "rows", "description", title=f"datasets in {folder}")
    for row in catalog.itertuples(index=False):
        rows = "invalid" if pd.isna(row.rows) else str(row.rows)
        table.add_row(escape(row.name), escape(row.title), rows, escape(row.description))
    console.print(table)
    for name, fields in dictionary.groupby("dataset", sort=False):
        sources = fields["sources"].iloc[0] or "–"
        fields_table = Table(
            "field",
            "type",
            "unit",
            "constraints",
            "key",
            title=f"{escape(str(name))} — sources: {escape(str(sources))}",
        )
        for f in fields.itertuples(index=False):
            fields_table.add_row(
                escape(f.field),
                escape(f.type),
                escape(f.unit),
                escape(f.constraints),
                escape(f.key),
            )
        console.print(fields_table)
    if source_rows is not None:
        table = Table("source", "publisher", "url", title="sources")
        for r in source_rows.to_dict("records"):
            url, publisher = (r.get(c) for c in ("url", "publisher"))
            url = "" if pd.isna(url) else str(url)
            shown = f"[link={escape(url)}]{escape(url)}[/link]" if url else ""
            publisher = "" if pd.isna(publisher) else str(publisher)
            table.add_row(escape(str(r.get("source_id"))), escape(publisher), shown)
        console.print(table)


def print_plan(reports: list[Report], as_json: bool) -> None:
    """The expanded plan to stdout: one row per report (name, title, notebook, parameters).

    ``title`` is the one the site shows (:attr:`analysis.reports.plan.Report.heading`: the
    plan's title, else the notebook's first heading, else the name)."""
    if as_json:
        rows = [
            {
                "name": r.name,
                "title": r.heading,
                "notebook": r.notebook_label,
                "parameters": r.parameters,
            }
            for r in reports
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("report", "title", "notebook", "parameters", title=f"{len(reports)} report(s)")
    for r in reports:
        table.add_row(
            escape(r.name),
            escape(r.heading),
            escape(r.notebook_label),
            escape(params_text(r.parameters)),
        )
    out().print(table)
