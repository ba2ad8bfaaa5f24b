"""The papermill engine ``"roundup"``: papermill's nbclient engine with a report's limits.

Registered under papermill's entry point group ``papermill.engine`` (pyproject.toml), so
``papermill --engine roundup`` finds it too. Its notebook client (:class:`LimitedClient`)
enforces, in the job process, the limits nbclient and papermill lack (nbclient has no output
limit, and papermill's ``execution_timeout`` is per cell):

``ReportTimeoutError``    the report ran longer than ``Limits.report_timeout`` seconds in all:
                          each cell's timeout is capped at the time the report has left, and no
                          cell starts after the deadline.
``OutputLimitExceeded``   the outputs the report keeps (text, images, errors; cleared output no
                          longer counts) passed ``Limits.max_output`` characters: the output that
                          crossed the limit is cut, later output is dropped and the kernel is
                          killed at once, so neither memory nor the HTML grows with it.
``OutputLost``            output the cell produced was still unread ``iopub_timeout`` seconds
                          after its reply (nbclient would drop it with a warning).
``DeadKernelError``       (nbclient's) the kernel died; the message gives its exit code.

Consecutive stream messages of a cell are kept as one output (one block on the page).

The executed notebook is written when the run ends (papermill writes it again on success),
not at every cell's start and end as papermill's own engines do: those saves, a whole
notebook serialised and validated each time, cost a report about as much as its HTML page.
A run that ends in an error (a limit, a dead kernel) still leaves its notebook, every output
so far and the failed cell's status in it.

The engine also takes ``kernel_env``: the kernel process's whole environment (the job process's
own environment is never changed). This module imports papermill and nbclient: only a job that
runs a report imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import signal
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

from analysis.errors import RoundupError

__all__ = [
    "ENGINE_NAME",
    "Limits",
    "LimitedClient",
    "OutputLimitExceeded",
    "OutputLost",
    "ReportTimeoutError",
    "RoundupEngine",
    "error_output",
    "kill_kernels",
]

#: The engine's name for ``papermill.execute_notebook(engine_name=...)``.
ENGINE_NAME = "roundup"

#: Seconds at most to read a cell's queued output after its reply (never past the report's time).
IOPUB_WAIT = 600
#: Notebook clients running in this process, for :func:`kill_kernels`.
_LIVE_CLIENTS: weakref.WeakSet[LimitedClient] = weakref.WeakSet()


class ReportTimeoutError(RoundupError, RuntimeError):
    """The report ran longer than its wall-clock limit (``Limits.report_timeout``)."""

    def __init__(self, message: str, cell_index: int | None):
        super().__init__(message)
        self.cell_index = cell_index


class OutputLimitExceeded(RoundupError, RuntimeError):
    """The report's kept output passed its limit (``Limits.max_output``); the kernel was killed."""

    def __init__(self, message: str, cell_index: int | None):
        super().__init__(message)
        self.cell_index = cell_index


class OutputLost(RoundupError, RuntimeError):
    """Output a cell produced could not be read (still queued when the wait for it ended): the
    report would show part of its output as if it were all of it."""

    def __init__(self, message: str, cell_index: int | None):
        super().__init__(message)
        self.cell_index = cell_index


@dataclass(frozen=True)
class Limits:
    """A report's limits: ``deadline`` (``time.monotonic()`` at which its time is up),
    ``report_timeout`` (seconds, for messages) and ``max_output`` (characters)."""

    deadline: float
    report_timeout: float
    max_output: int

    @classmethod
    def starting_now(cls, report_timeout: float, max_output: int) -> Limits:
        return cls(time.monotonic() + report_timeout, report_timeout, max_output)


def kill_kernels() -> None:
    """Kill every kernel a client of this process started, with its process group.

    For a signal handler (a worker told to stop): synchronous, never raises. A kernel started by
    jupyter_client has its own process group, which is killed whole (its children too).
    """
    import os

    for client in list(_LIVE_CLIENTS):
        provisioner = getattr(getattr(client, "km", None), "provisioner", None)
        pgid = getattr(provisioner, "pgid", None)
        process = getattr(provisioner, "process", None)
        with contextlib.suppress(Exception):
            if pgid and pgid != os.getpgrp():
                os.killpg(pgid, signal.SIGKILL)
            elif process is not None:
                process.kill()


def output_size(output: Mapping[str, Any]) -> int:
    """Characters an output keeps in the notebook (text, data values, traceback)."""

    def size(value: Any) -> int:
        if isinstance(value, str):
            return len(value)
        if isinstance(value, list):
            return sum(size(v) for v in value)
        return len(json.dumps(value, default=str))

    kind = output.get("output_type")
    if kind == "stream":
        return size(output.get("text", ""))
    if kind == "error":
        return size(output.get("traceback", [])) + size(output.get("evalue", ""))
    return sum(size(v) for v in output.get("data", {}).values())


def error_output(ename: str, message: str) -> nbformat.NotebookNode:
    """An ``error`` output showing ``ename: message`` (no traceback)."""
    return nbformat.v4.new_output(
        "error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"]
    )


def _mb(chars: float) -> str:
    return f"{chars / 1024 / 1024:.1f} MB"


class LimitedClient(PapermillNotebookClient):
    """papermill's notebook client with a report deadline and an output limit (module docs)."""

    def __init__(self, nb_man: Any, limits: Limits, **kwargs: Any):
        super().__init__(nb_man, **kwargs)
        self.limits = limits
        self.timeout_func = self._cell_timeout
        self._capped_by_report = False
        self._sizes: dict[int, int] = {}
        self._overflow_cell: int | None = None
        self._kill: Any = None
        # output still queued when a cell's reply comes (a flood of flushed prints) is waited
        # for, within the report's time; if it cannot be read, the report fails (OutputLost)
        # rather than publish a page with lines missing
        self.raise_on_iopub_timeout = True
        self.iopub_timeout = int(min(max(limits.report_timeout, 4), IOPUB_WAIT))
        _LIVE_CLIENTS.add(self)

    # -- time
    def _cell_timeout(self, cell: Any) -> float | None:
        """The cell's timeout: ``timeout``, or less if the report has less time left."""
        if math.isinf(self.limits.deadline):
            return self.timeout
        left = max(self.limits.deadline - time.monotonic(), 0.01)
        self._capped_by_report = not self.timeout or left < self.timeout
        return left if self._capped_by_report else self.timeout

    def _report_timeout(self, cell_index: int) -> ReportTimeoutError:
        self.shutdown_kernel = "immediate"  # the cell may still be running
        return ReportTimeoutError(
            f"the report ran longer than its limit of {self.limits.report_timeout:g} s "
            "(--report-timeout) and was stopped",
            cell_index,
        )

    # -- output
    def _overflow(self) -> OutputLimitExceeded:
        return OutputLimitExceeded(
            f"the report's output passed its limit of {_mb(self.limits.max_output)} "
            "(--max-output); the output was cut there and the kernel was stopped",
            self._overflow_cell,
        )

    def _track(self, outs: list[Any], cell_index: int, added: Any, cleared: bool) -> None:
        if cleared:
            self._sizes[cell_index] = sum(output_size(o) for o in outs)
        else:
            self._sizes[cell_index] = self._sizes.get(cell_index, 0) + output_size(added)
        over = sum(self._sizes.values()) - self.limits.max_output
        if over <= 0:
            return
        # cut the output that crossed the limit, say so in the cell, kill the kernel
        if added is not None and added.get("output_type") == "stream":
            text = "".join(added["text"]) if isinstance(added["text"], list) else added["text"]
            added["text"] = text[: max(len(text) - over, 0)]
        elif added is not None and added in outs:
            outs.remove(added)
        self._overflow_cell = cell_index
        outs.append(error_output("OutputLimitExceeded", str(self._overflow())))
        self.shutdown_kernel = "immediate"
        self._kill = asyncio.ensure_future(ensure_async(self.km.signal_kernel(signal.SIGKILL)))

    def _coalesced(self, outs: list[Any], msg: dict[str, Any], cell_index: int) -> Any:
        """Append a stream message to the cell's last output when it is the same stream (one
        output per stream, not one per message: 300,000 flushed lines make one output, which
        the page shows as one block); the output, or None when it is not such a message."""
        content = msg.get("content", {})
        last = outs[-1] if outs else None
        if (
            msg["msg_type"] != "stream"
            or last is None
            or self.clear_before_next_output
            or self.output_hook_stack[msg["parent_header"].get("msg_id")]
            or last.get("output_type") != "stream"
            or last.get("name") != content.get("name")
        ):
            return None
        if isinstance(last["text"], str):
            last["text"] = [last["text"]]  # chunks: appending stays linear
        added = {"output_type": "stream", "text": content.get("text", "")}
        self._track(outs, cell_index, added, cleared=False)
        last["text"].append(added["text"])  # cut by _track at the limit
        return last

    def output(self, outs: list[Any], msg: dict[str, Any], display_id: Any, cell_index: int):
        if self._overflow_cell is not None:
            return None  # the kernel is being killed: drop what is still in flight
        coalesced = self._coalesced(outs, msg, cell_index)
        if coalesced is not None:
            return coalesced
        before = len(outs)
        out = super().output(outs, msg, display_id, cell_index)
        if out is not None:
            self._track(outs, cell_index, out, cleared=len(outs) <= before)
        return out

    def clear_output(self, outs: list[Any], msg: dict[str, Any], cell_index: int) -> None:
        super().clear_output(outs, msg, cell_index)
        if not outs:
            self._sizes[cell_index] = 0

    # -- the kernel's channels
    async def async_start_new_kernel_client(self) -> Any:
        """nbclient's client, whose sockets queue every message the kernel sends.

        The kernel publishes output on a zmq PUB socket, which silently drops messages once
        1000 are queued for a reader that lags (a loop of flushed prints outruns the client);
        with no receive limit here, zmq's own I/O thread drains the kernel's queue as fast as
        it fills, and the client reads it all in its own time (see ``iopub_timeout``).
        """
        import zmq

        make_client = self.km.client

        def unbounded_client(**kwargs: Any) -> Any:
            client = make_client(**kwargs)
            client.context.setsockopt(zmq.RCVHWM, 0)  # before its sockets exist: all of them
            return client

        self.km.client = unbounded_client
        try:
            return await super().async_start_new_kernel_client()
        finally:
            self.km.client = make_client

    # nbclient's sync wrapper calls the base class's coroutine: wrap ours (papermill is sync)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    # -- cells
    async def async_execute_cell(
        self,
        cell: Any,
        cell_index: int,
        execution_count: int | None = None,
        store_history: bool = True,
    ) -> Any:
        runs = cell.cell_type == "code" and cell.source.strip()
        if runs and self._overflow_cell is not None:
            raise self._overflow()
        if runs and time.monotonic() >= self.limits.deadline:
            raise self._report_timeout(cell_index)
        self._sizes[cell_index] = 0
        try:
            result = await super().async_execute_cell(
                cell, cell_index, execution_count, store_history
            )
        except CellTimeoutError as exc:
            if "IOPub" in str(exc):  # nbclient: "Timeout waiting for IOPub output"
                raise OutputLost(
                    f"the cell's output could not all be read within {self.iopub_timeout} s "
                    "after it finished; the report would miss part of its output",
                    cell_index,
                ) from None
            if self._capped_by_report:
                raise self._report_timeout(cell_index) from None
            raise
        except DeadKernelError:
            if self._overflow_cell is not None:
                raise self._overflow() from None
            raise await self._death() from None
        if self._overflow_cell is not None:  # the cell ended before the kill landed
            raise self._overflow()
        return result

    execute_cell = run_sync(async_execute_cell)

    async def _death(self) -> DeadKernelError:
        """nbclient's DeadKernelError, saying the kernel's exit code and where its stderr is."""
        code = None
        with contextlib.suppress(Exception):
            code = await self.km.provisioner.poll()
        status = f" (exit code {code})" if code is not None else ""
        return DeadKernelError(f"the kernel died{status}; its stderr is in kernel.log")


class _SavedAtEnd(NotebookExecutionManager):
    """papermill's execution manager, saving the notebook once: when the run completes."""

    final = False

    def save(self, **kwargs: Any) -> None:
        if self.final:
            super().save(**kwargs)

    def notebook_complete(self, **kwargs: Any) -> None:
        self.final = True
        super().notebook_complete(**kwargs)


class RoundupEngine(NBClientEngine):
    """papermill's nbclient engine running :class:`LimitedClient`.

    Extra keywords of ``papermill.execute_notebook``: ``limits`` (:class:`Limits`; none: no
    report deadline or output limit) and ``kernel_env`` (the kernel's environment; none: this
    process's).
    """

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = True,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        **kwargs: Any,
    ) -> Any:
        """papermill's ``Engine.execute_notebook`` with :class:`_SavedAtEnd` as manager."""
        nb_man = _SavedAtEnd(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        limits: Limits | None = None,
        kernel_env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        kwargs.pop("input_path", None)
        client = LimitedClient(
            nb_man,
            limits or Limits(float("inf"), float("inf"), 2**62),
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logging.getLogger("papermill"),
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            **kwargs,
        )
        try:
            if kernel_env is None:
                return client.execute()
            return client.execute(env=dict(kernel_env))
        finally:
            _LIVE_CLIENTS.discard(client)


# papermill registers the engine from its entry point (pyproject.toml); registering it here too
# keeps an environment installed before the entry point existed working (same class, same name).
papermill_engines.register(ENGINE_NAME, RoundupEngine)
