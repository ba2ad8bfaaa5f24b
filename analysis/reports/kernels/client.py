"""The orchestrator's side of the fork server: find or start a server, ask it for kernels.

One server per user, Python interpreter, ``analysis`` checkout and *startup environment* (see
:func:`~analysis.reports.kernels.protocol.startup_environment`), listening on a Unix socket in
``$ROUNDUP_FORKSERVER_DIR`` or ``<tmp>/roundup-forkserver-<uid>/`` (a folder only this user may
access). The first launch starts it under a file lock (so parallel launches in threads or
processes start one server); a stale socket is replaced, and a server that crashed or hangs is
replaced on the next request. The server stops when the process that started it exits: it stops
accepting at once and exits when the last kernel it forked has been released
(:func:`stop_servers` runs at exit). Kernels never outlive their server, and a kernel whose
launching process goes away without shutting it down is killed.

:func:`spawn_kernel` returns a ``Popen``-like :class:`ForkedProcess` for a kernel that is the
server's child, not ours. Standard library only: importing this module is cheap.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from analysis.errors import RoundupError
from analysis.reports.kernels import protocol
from analysis.reports.kernels.server import PRELOAD
from analysis.reports.procs import pid_alive

log = logging.getLogger(__name__)

#: Seconds to wait for a new server to import :data:`~analysis.reports.kernels.server.PRELOAD`
#: and listen.
START_TIMEOUT = 120.0

_PER_KERNEL_VARS = ("JPY_PARENT_PID", "JPY_SESSION_NAME")
# what a new server process runs (``python -c _SERVER_BOOT <socket path>``)
_SERVER_BOOT = "from analysis.reports.kernels.server import main; main()"


class ForkServerError(RoundupError, RuntimeError):
    """The fork server could not be started or reached, or it could not start a kernel."""


# --------------------------------------------------------------------------- locations


def _runtime_dir() -> Path:
    configured = os.environ.get("ROUNDUP_FORKSERVER_DIR")
    folder = Path(configured or Path(tempfile.gettempdir()) / f"roundup-forkserver-{os.getuid()}")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ForkServerError(
            f"{folder} must be a folder only you can access (owner uid {info.st_uid}, "
            f"mode {oct(info.st_mode & 0o777)}); remove it or set ROUNDUP_FORKSERVER_DIR"
        )
    return folder


def _analysis_dir() -> str:
    import analysis

    return os.path.dirname(os.path.realpath(analysis.__file__))


def _socket_path(env: dict[str, str] | os._Environ) -> str:
    """The server socket for this interpreter, checkout and startup environment."""
    key = json.dumps(
        [
            os.path.abspath(sys.executable),
            sys.version,
            _analysis_dir(),
            sorted(protocol.startup_environment(env).items()),
            PRELOAD,
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = str(_runtime_dir() / f"{digest}.sock")
    if len(path.encode()) > 100:
        raise ForkServerError(f"socket path too long for a Unix socket: {path}")
    return path


# --------------------------------------------------------------------------- servers

_start_lock = threading.Lock()
_owned: dict[str, subprocess.Popen] = {}  # servers this process started, by socket path
_exit_hook_installed = False


def _connect(path: str) -> socket.socket | None:
    """A connection to the server at ``path``, or None when no server listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(protocol.REQUEST_TIMEOUT)
    try:
        sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.contextmanager
def _file_lock(path: str):
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log_tail(path: str, lines: int = 20) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _start_server(path: str, env: dict[str, str] | os._Environ) -> None:
    """Start a server listening at ``path`` (caller holds the locks and found none)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # stale: nobody accepts on it
    logfile = path[: -len(".sock")] + ".log"
    server_env = {k: v for k, v in env.items() if k not in _PER_KERNEL_VARS}
    with open(logfile, "wb") as log_handle:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER_BOOT, path],
            stdin=subprocess.PIPE,  # held open by this process: EOF tells the server we exited
            stdout=subprocess.PIPE,  # one "ready" line once the server listens
            stderr=log_handle,
            env=server_env,
            cwd="/",
            start_new_session=True,  # a Ctrl-C at the terminal is not for the server
        )
    _wait_until_ready(proc, logfile)
    previous = _owned.pop(path, None)
    if previous is not None:  # it crashed or hung: its socket was stale
        if previous.stdin is not None:
            previous.stdin.close()
        previous.poll()
    _owned[path] = proc
    _install_exit_hook()
    log.debug("started fork server %d at %s", proc.pid, path)


def _wait_until_ready(proc: subprocess.Popen, logfile: str) -> None:
    """Wait for the new server's ``ready`` line; ForkServerError (with its log) if none comes."""
    assert proc.stdout is not None
    ready = b""
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([proc.stdout], [], [], remaining)[0]:
            proc.kill()
            proc.wait()
            raise ForkServerError(
                f"fork server did not start within {START_TIMEOUT:.0f} s; log {logfile}:\n"
                + _log_tail(logfile)
            )
        chunk = os.read(proc.stdout.fileno(), 64)
        if not chunk:
            code = proc.wait()
            raise ForkServerError(
                f"fork server exited with code {code} while starting; log {logfile}:\n"
                + _log_tail(logfile)
            )
        ready += chunk
    proc.stdout.close()


def _install_exit_hook() -> None:
    global _exit_hook_installed
    if not _exit_hook_installed:
        atexit.register(stop_servers)
        _exit_hook_installed = True


def ensure_server(env: dict[str, str] | os._Environ | None = None) -> str:
    """Start the fork server for ``env`` (default ``os.environ``) unless one runs; its socket.

    Optional: the first kernel launch does the same. A runner may call it early so the
    server's imports overlap other work; the server then lives as long as the caller.
    """
    env = os.environ if env is None else env
    path = _socket_path(env)
    sock = _connect(path)
    if sock is not None:
        sock.close()
        return path
    with _start_lock, _file_lock(path[: -len(".sock")] + ".lock"):
        sock = _connect(path)  # someone else may have started it while we waited
        if sock is not None:
            sock.close()
        else:
            _start_server(path, env)
    return path


def stop_servers(timeout: float = 1.0) -> None:
    """Stop the servers this process started (also runs at interpreter exit).

    A server stops accepting at once and exits as soon as no kernel it forked is in use, so
    kernels other processes are running finish normally.
    """
    while _owned:
        _path, proc = _owned.popitem()
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.debug("fork server %d still serves kernels; it exits after them", proc.pid)


def server_status(
    env: dict[str, str] | os._Environ | None = None, modules: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """The running server's ``pid``, ``preloaded``/``failed`` modules, ``kernels`` count,
    ``threads`` count (1) and ``warmed`` (what it did after the imports, one line each), or None.

    ``modules`` names modules to look up in the server's ``sys.modules`` (``"modules"`` key).
    """
    env = os.environ if env is None else env
    sock = _connect(_socket_path(env))
    if sock is None:
        return None
    with sock:
        protocol.send_msg(sock, {"op": "status", "modules": list(modules)})
        return protocol.recv_msg(sock)


# --------------------------------------------------------------------------- kernels


class ForkedProcess:
    """A ``Popen``-like handle on a kernel forked by the server (not our child).

    The connection to the server stays open while the handle lives: the server holds the
    exited child unreaped until then (its pid cannot be reused under us) and reports its exit
    status over it; closing it releases the child and kills it if it still runs.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, conn: socket.socket, path: str, forked: bool):
        self.pid = pid
        self.forked = forked  # False: the child exec'd the kernel command (slow path)
        self.returncode: int | None = None
        self._conn: socket.socket | None = conn
        self._path = path
        self._server_lost = False

    def _read_status(self) -> None:
        assert self._conn is not None
        try:
            msg = protocol.recv_msg(self._conn)
        except (OSError, ValueError):
            msg = None
        if msg is not None and "exit" in msg:
            self.returncode = int(msg["exit"])
        else:
            self._server_lost = True
            log.warning("fork server at %s went away while kernel %d ran", self._path, self.pid)

    def poll(self) -> int | None:
        if self.returncode is None and self._conn is not None and not self._server_lost:
            if select.select([self._conn], [], [], 0)[0]:
                self._read_status()
        if self.returncode is None and self._server_lost and not pid_alive(self.pid):
            self.returncode = -signal.SIGKILL  # the kernel dies with its server
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            remaining = 0.05 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
            if self._conn is not None and not self._server_lost:
                select.select([self._conn], [], [], min(remaining, 0.5))
            else:
                time.sleep(min(remaining, 0.05))
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        """Release the kernel: the server reaps it (and kills it if it still runs)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def spawn_kernel(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: str,
    stdout: int | None = 1,
    stderr: int | None = 2,
    independent: bool = False,
) -> ForkedProcess:
    """Ask the fork server (started if needed) for a kernel running ``argv``; its handle.

    ``stdout``/``stderr`` are descriptors the kernel gets as its fd 1/2 (None: ``/dev/null``).
    Raises :class:`ForkServerError` when no server can be started or reached, or when the
    server could not start the kernel (a missing working directory, say).
    """
    request = {
        "op": "spawn",
        "argv": argv,
        "env": env,
        "cwd": cwd,
        "umask": _umask(),
        "independent": independent,
    }
    with contextlib.ExitStack() as stack:
        fds = []
        for fd in (stdout, stderr):
            if fd is None:
                fd = os.open(os.devnull, os.O_WRONLY)
                stack.callback(os.close, fd)
            fds.append(fd)
        return _spawn(env, request, fds)


def _spawn(env: dict[str, str], request: dict[str, Any], fds: list[int]) -> ForkedProcess:
    path = _socket_path(env)
    problem: BaseException | None = None
    for _attempt in range(2):  # a second try covers a server that just exited or crashed
        try:
            sock = _connect(path)
            if sock is None:
                ensure_server(env)
                sock = _connect(path)
        except OSError as exc:  # includes socket.timeout
            problem = exc
            continue
        if sock is None:
            raise ForkServerError(f"fork server at {path} refused the connection")
        try:
            protocol.send_msg(sock, request, fds)
            reply = protocol.recv_msg(sock)
        except (OSError, ValueError) as exc:  # includes socket.timeout
            sock.close()
            problem = exc
            continue
        if reply is None:
            sock.close()
            problem = ConnectionError("the server closed the connection without an answer")
            continue
        if "error" in reply:
            sock.close()
            raise ForkServerError(f"fork server could not start the kernel: {reply['error']}")
        sock.settimeout(protocol.REQUEST_TIMEOUT)
        return ForkedProcess(int(reply["pid"]), sock, path, bool(reply.get("fast")))
    logfile = path[: -len(".sock")] + ".log"
    raise ForkServerError(
        f"fork server at {path} failed: {problem!r}; log {logfile}:\n{_log_tail(logfile)}"
    )


def _umask() -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return None
