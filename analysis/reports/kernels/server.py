"""The fork server process: preload the heavy libraries once, then fork a kernel per request.

Started by :func:`analysis.reports.kernels.client.ensure_server` as
``python -c "<boot>" <socket path>`` (:func:`main`). It imports :data:`PRELOAD`, freezes those
objects out of the garbage collector's reach (``gc.freeze()``, so forks share their pages),
listens on its Unix socket and says it is ready, fills the caches of the work every report
repeats (:mod:`~analysis.reports.kernels.warm`; requests wait meanwhile) and runs a
single-threaded select loop (:class:`Server`): it answers status requests, forks kernels
(:mod:`~analysis.reports.kernels.child`) and reports each kernel's exit over the connection that
asked for it. Reports never run in the server itself.

It stops accepting as soon as its owner (the process that started it, holding its stdin) exits,
and exits when the last kernel it forked has been released; on SIGTERM it kills its kernels and
exits. A kernel whose client connection closes while it still runs is killed (unless launched
``independent``). Its log (stderr) is ``<socket>.log`` next to the socket.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import selectors
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from analysis.reports.kernels import protocol
from analysis.reports.kernels.child import run_child
from analysis.reports.kernels.warm import warm_up

#: Modules the server imports before forking (a module that fails to import is skipped).
PRELOAD = (
    "numpy",
    "pandas",
    "matplotlib",
    "matplotlib.pyplot",
    "matplotlib.backends.backend_agg",
    "matplotlib_inline.backend_inline",
    "IPython",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",  # debugpy: every kernel imports it as it starts
    "IPython.core.debugger",
    "IPython.core.completerlib",
    "IPython.core.logger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "faulthandler",
    "sqlite3",
    "tornado.gen",
    "tornado.queues",
    "tornado.platform.asyncio",
    "psutil",  # ipykernel looks for the kernel's child processes at shutdown
    "pandera",
    "pandera.backends.pandas.builtin_checks",  # imports hypothesis: the first validation does
    "jinja2",
    "pandas.io.formats.style",  # compiles the Styler's templates: the first table does
    "PIL.PngImagePlugin",  # and the plugins PIL.Image.preinit() imports at the first save
    "PIL.BmpImagePlugin",
    "PIL.GifImagePlugin",
    "PIL.JpegImagePlugin",
    "PIL.PpmImagePlugin",
    "analysis.data.package",
    "analysis.metrics",
    "analysis.present.tables",
    "analysis.present.charts",
)


@dataclass
class _Kernel:
    pid: int
    conn: socket.socket | None
    independent: bool
    status: int | None = None  # exit status once the child exited (still unreaped)


class Server:
    """Single-threaded select loop: accepts requests, forks kernels, reports their exits."""

    def __init__(
        self,
        path: str,
        base_path: list[str],
        startup_env: dict[str, str],
        preloaded: list[str],
        failed: dict[str, str],
    ):
        self.path = path
        self.base_path = base_path  # sys.path and startup environment before the preload
        self.startup_env = startup_env
        self.preloaded = preloaded
        self.failed = failed
        self.warmed: list[str] = []  # what warm.warm_up() did, one line per step
        self.kernels: dict[int, _Kernel] = {}
        self.draining = False
        self.stopping = False
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        self.selector.register(0, selectors.EVENT_READ, "owner")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        temporary = f"{path}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        self.listener.bind(temporary)
        self.listener.listen(64)
        os.replace(temporary, path)  # appears atomically, already listening
        self.inode = os.stat(path).st_ino
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.libc_prctl = _prctl()

    def _on_sigterm(self, *_: Any) -> None:
        self.stopping = True

    # ---- main loop

    def serve(self) -> None:
        try:
            while not self.stopping:
                if self.draining and not self.kernels:
                    break
                for key, _events in self.selector.select(timeout=1.0):
                    if key.data == "wake":
                        with contextlib.suppress(OSError):
                            while os.read(self.wake_r, 512):
                                pass
                    elif key.data == "owner":
                        if not os.read(0, 512):
                            self._start_draining()
                    elif key.data == "accept":
                        self._accept()
                    else:
                        self._on_kernel_conn(key.data)
                self._check_children()
        finally:
            self._shutdown()

    def _start_draining(self) -> None:
        self.draining = True
        self.selector.unregister(0)
        self._close_listener()
        _say(f"owner exited; draining {len(self.kernels)} kernel(s)")

    def _close_listener(self) -> None:
        if self.listener is None:
            return
        self.selector.unregister(self.listener)
        self.listener.close()
        self.listener = None
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)

    def _shutdown(self) -> None:
        self._close_listener()
        for kernel in self.kernels.values():
            if kernel.status is None:
                with contextlib.suppress(OSError):
                    os.killpg(kernel.pid, signal.SIGKILL)
        for pid in list(self.kernels):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        _say("stopped")

    # ---- requests

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            conn, _addr = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        conn.setblocking(True)
        conn.settimeout(10.0)
        fds: list[int] = []
        keep = False
        try:
            request = protocol.recv_msg(conn, fds)
            if request is None:  # a probe
                return
            op = request.get("op")
            if op == "status":
                protocol.send_msg(conn, self._status(request.get("modules") or []))
            elif op == "spawn":
                keep = self._spawn(conn, request, fds)
            else:
                protocol.send_msg(conn, {"error": f"unknown request {op!r}"})
        except Exception as exc:  # one bad request must not stop the server
            _say(f"request failed: {exc!r}")
            with contextlib.suppress(Exception):
                protocol.send_msg(conn, {"error": f"{type(exc).__name__}: {exc}"})
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            if not keep:
                conn.close()

    def _status(self, modules: list[str]) -> dict[str, Any]:
        """The reply to a status request: which of ``modules`` are in this server's sys.modules."""
        return {
            "pid": os.getpid(),
            "preloaded": self.preloaded,
            "failed": self.failed,
            "kernels": len(self.kernels),
            "threads": threading.active_count(),  # 1: forking copies no other thread's state
            "warmed": self.warmed,
            "modules": {name: name in sys.modules for name in modules},
        }

    def _spawn(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> bool:
        if len(fds) != 2:
            raise ValueError(f"expected stdout and stderr descriptors, got {len(fds)}")
        fast = self._can_fork_kernel(request)
        status_r, status_w = os.pipe()  # close-on-exec: EOF once the child is set up
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            os.close(status_r)
            run_child(self, conn, request, fds, status_w, fast)
        os.close(status_w)
        error = _read_all(status_r, timeout=protocol.REQUEST_TIMEOUT)
        os.close(status_r)
        if error is None or error:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            message = error.decode(errors="replace") if error else "the child did not start"
            protocol.send_msg(conn, {"error": message})
            return False
        protocol.send_msg(conn, {"pid": pid, "fast": fast})
        conn.setblocking(False)
        self.kernels[pid] = _Kernel(pid, conn, bool(request.get("independent")))
        self.selector.register(conn, selectors.EVENT_READ, pid)
        return True

    def _can_fork_kernel(self, request: dict[str, Any]) -> bool:
        """Whether a fork of this server can stand in for ``exec`` of the request's argv."""
        argv = request.get("argv") or []
        return (
            "ipykernel.kernelapp" in self.preloaded
            and len(argv) >= 3
            and _same_interpreter(argv[0], sys.executable)
            and argv[1:3] in (["-m", "ipykernel_launcher"], ["-m", "ipykernel"])
            and protocol.startup_environment(request.get("env") or {}) == self.startup_env
        )

    # ---- kernels

    def _on_kernel_conn(self, pid: int) -> None:
        kernel = self.kernels[pid]
        assert kernel.conn is not None
        try:
            data = kernel.conn.recv(512)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            return  # clients send nothing after the request; ignore
        self.selector.unregister(kernel.conn)
        kernel.conn.close()
        kernel.conn = None
        if kernel.status is None and not kernel.independent:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        self._check_children()

    def _check_children(self) -> None:
        for pid, kernel in list(self.kernels.items()):
            if kernel.status is None:
                try:
                    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                except ChildProcessError:
                    info = None
                    kernel.status = -1
                if info is not None:
                    code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
                    kernel.status = code
                    if kernel.conn is not None:
                        with contextlib.suppress(OSError):
                            kernel.conn.setblocking(True)
                            kernel.conn.settimeout(5.0)
                            protocol.send_msg(kernel.conn, {"exit": code})
                            kernel.conn.setblocking(False)
            if kernel.status is not None and kernel.conn is None:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)  # exited: does not block
                del self.kernels[pid]

    def close_in_child(self, keep: socket.socket) -> None:
        """Drop the server's descriptors in a freshly forked child."""
        signal.set_wakeup_fd(-1)
        self.selector.close()
        if self.listener is not None:
            self.listener.close()
        for kernel in self.kernels.values():
            if kernel.conn is not None:
                kernel.conn.close()
        keep.close()
        os.close(self.wake_r)
        os.close(self.wake_w)


def _same_interpreter(a: str, b: str) -> bool:
    """Same binary in the same folder: a venv's python links to its base interpreter, so the
    resolved path alone does not tell two virtual environments apart."""
    a, b = os.path.abspath(a), os.path.abspath(b)
    return os.path.dirname(a) == os.path.dirname(b) and os.path.realpath(a) == os.path.realpath(b)


def _read_all(fd: int, timeout: float) -> bytes | None:
    """Read ``fd`` to EOF; None when that takes longer than ``timeout``."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            ready = select.select([fd], [], [], remaining)[0]
        except InterruptedError:
            continue
        if ready:
            data = os.read(fd, 4096)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def _prctl():
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _say(message: str) -> None:
    print(f"[forkserver {os.getpid()} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr)
    sys.stderr.flush()


def _preload() -> tuple[list[str], dict[str, str]]:
    import importlib

    preloaded: list[str] = []
    failed: dict[str, str] = {}
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
            _say(f"could not preload {name}: {exc!r}")
        else:
            preloaded.append(name)
    return preloaded, failed


def main() -> None:  # pragma: no cover - runs in the server process
    """Entry point of the server process: ``python -c <client._SERVER_BOOT> <socket path>``.

    Writes one line ``ready`` to stdout once it listens; its stdin is held by its owner.
    """
    path = sys.argv[1]
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does: no imports from the working directory
    base_path = list(sys.path)
    startup_env = protocol.startup_environment()
    started = time.perf_counter()
    preloaded, failed = _preload()
    _freeze()
    server = Server(path, base_path, startup_env, preloaded, failed)
    _say(f"listening at {path} after {time.perf_counter() - started:.2f} s of imports")
    os.write(1, b"ready\n")
    os.dup2(2, 1)  # the starter stops reading; keep fd 1 valid
    # Ready already: the starter goes on (starting its workers, say) while the server parses
    # the data and finds the CJK font once for every kernel; requests wait in the backlog.
    server.warmed = warm_up()
    for note in server.warmed:
        _say(note)
    if threading.active_count() > 1:  # a fork copies only the forking thread
        _say(f"warning: threads running in the server: {threading.enumerate()}")
    _freeze()
    server.serve()


def _freeze() -> None:
    """Move every object so far out of the collector's reach: a kernel's gc.collect() (IPython
    runs one at exit) then neither walks nor copies the preloaded modules' pages."""
    gc.collect()
    gc.freeze()
