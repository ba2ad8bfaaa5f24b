"""The notification options of ``roundup build`` (``--notify``, ``--notify-file``,
``--notify-on-change``, ``$ROUNDUP_NOTIFY``, the plan's ``[notify]``): who is told, the site's
published data package to compare with, and telling them after the build
(:mod:`analysis.reports.notify` sends the messages). Notifications never change an exit code.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from analysis import cli_output, paths

if TYPE_CHECKING:
    from analysis.reports.build import BuildSummary
    from analysis.reports.changes import Snapshot
    from analysis.reports.notify import Notifier

__all__ = ["Notify", "NotifyFile", "NotifyOnChange", "notifier", "published_data", "tell"]

Notify = Annotated[
    list[str] | None,
    typer.Option(
        "--notify",
        metavar="URL",
        help="Apprise URL told when a report fails (repeatable); also $ROUNDUP_NOTIFY, "
        "--notify-file and [notify] in the plan.",
        show_default=False,
    ),
]
NotifyFile = Annotated[
    list[Path] | None,
    typer.Option(
        "--notify-file",
        metavar="PATH",
        help="File of receiver URLs, one per line, outside the repository (repeatable).",
        show_default=False,
    ),
]
NotifyOnChange = Annotated[
    bool,
    typer.Option(
        "--notify-on-change",
        help="Also notify when figures changed since the site's last build.",
    ),
]


def notifier(
    urls: list[str], files: list[Path], plan: Path | None, on_change: bool
) -> tuple[Notifier | None, bool]:
    """The receivers of this build (command line, files, ``$ROUNDUP_NOTIFY``, the plan's
    ``[notify]``) and whether figure changes are told; ``(None, False)`` without receivers.
    Exit 2 for an unusable file or URL (named redacted), before any kernel starts."""
    from analysis.reports import notify
    from analysis.reports import plan as planning

    try:
        settings = notify.notify_settings(plan)
        found = notify.collect_urls(
            [*urls, *settings.urls], files, os.environ, repo_root=paths.PROJECT_ROOT
        )
        notifier = notify.Notifier(found) if found else None
    except (notify.NotifyError, planning.PlanError) as exc:
        raise cli_output.fail(str(exc)) from None
    return notifier, notifier is not None and (on_change or settings.on_change)


def published_data(site: Path) -> Snapshot | None:
    """The data package the site's last build published (``<site>/data.zip``), read now,
    before this build replaces it; None when there is none (then no figure changes are told)."""
    from analysis.reports import changes, publication

    archive = site / publication.DATA_ZIP
    if not archive.is_file():
        return None
    try:
        return publication.read_zip(archive)
    except changes.ChangesError:
        return None


def tell(
    notifier: Notifier,
    summary: BuildSummary,
    on_change: bool,
    previous: Snapshot | None,
    data_dir: Path,
) -> None:
    """Notify the receivers about the build; each delivery is one line on stderr (receivers
    redacted). Never raises and never changes the exit code."""
    from analysis.reports import changes, notify

    package_diff = None
    if on_change and previous is not None:
        with contextlib.suppress(changes.ChangesError):
            package_diff = changes.compare(previous, changes.read_folder(data_dir))
    news = notify.news_from_summary(summary.to_dict(), diff=package_diff)
    for result in notifier.notify(news, on_change=on_change):
        line = "notified" if result.delivered else "could not notify"
        reason = f": {result.reason}" if result.reason else ""
        cli_output.err().print(escape(f"{line} {result.receiver}{reason}"))
