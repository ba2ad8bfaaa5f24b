"""SIGINT and SIGTERM during a build: :class:`BuildInterrupted` raised in the main thread, held
back while something must not be cut in half (publishing a run, writing the index)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["BuildInterrupted", "Signals"]


class BuildInterrupted(KeyboardInterrupt):
    """The build was stopped by a signal (``signum``: SIGINT or SIGTERM); nothing half-done was
    published.

    A KeyboardInterrupt, not a :class:`~analysis.errors.RoundupError`: raised from a signal
    handler anywhere in the build, it must pass every ``except Exception`` on its way out (the
    executors', papermill's), as Ctrl-C does.
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Signals:
    """SIGINT and SIGTERM raise :class:`BuildInterrupted` in the main thread, except inside
    :meth:`deferred` blocks (publishing, writing the index), after which they are raised."""

    def __init__(self) -> None:
        self.depth = 0
        self.pending: int | None = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.depth:
            self.pending = signum
            return
        raise BuildInterrupted(signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        saved = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if not self.depth and self.pending is not None:
            signum, self.pending = self.pending, None
            raise BuildInterrupted(signum)
