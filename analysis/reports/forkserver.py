"""Fork-server kernels: a fresh IPython kernel per report without paying for the imports.

A *fork server* is a small process that has already imported the heavy libraries the reports
use (numpy, pandas, matplotlib with pyplot and the inline backend, pandera, IPython, ipykernel
and the ``analysis`` submodules, see :data:`PRELOAD`). For each kernel it forks a child that
builds its ``IPKernelApp`` from scratch with the connection file jupyter_client wrote, so every
report still runs in its own new process: no variables, rcParams or ``sys.modules`` additions
pass from one report to the next, and reports never run in the server itself.

Use it from papermill (no entry point, kernelspec or Jupyter path needs installing)::

    papermill.execute_notebook(src, dst, parameters=..., **forkserver.execute_kwargs())

which passes ``kernel_name="roundup-fork"`` and ``kernel_manager_class=ForkKernelManager``
(papermill forwards unknown keywords to nbclient's ``NotebookClient``). The kernel manager
knows the ``roundup-fork`` kernelspec (:class:`ForkKernelSpecManager`), talks to kernels over
``ipc`` sockets in a private temporary folder unless configured otherwise, and starts them with
:class:`ForkServerProvisioner`, a jupyter_client kernel provisioner that is also registered
under the entry-point name ``roundup-forkserver`` when the package declares it.

The child behaves like ``python -m ipykernel_launcher -f <connection file>`` started by
jupyter_client: its own session and process group (interrupt and kill signal the group),
default signal handlers, the working directory and environment of the launch request, stdin
from ``/dev/null`` and stdout/stderr of the launching process. Matplotlib's rcParams are read
again for the child's directory and environment (``matplotlibrc``, ``MPLBACKEND``), numpy's
global random state is reseeded, and the inline backend module is re-run on first use so it
hooks into the child's shell.

Server lifetime: one server per user, Python interpreter and *startup environment* (the
variables a fresh interpreter reads only at start-up, e.g. ``PYTHONPATH``,
``OPENBLAS_NUM_THREADS``, ``MPLCONFIGDIR``; see :func:`startup_environment`), listening on a
Unix socket in ``$ROUNDUP_FORKSERVER_DIR`` or ``<tmp>/roundup-forkserver-<uid>/``. The first
launch starts it under a file lock (so parallel launches in threads or processes start one
server), a stale socket is replaced, and the server stops when the process that started it
exits: it stops accepting at once and exits when the last kernel it forked has been released.
Kernels never outlive the server (``PR_SET_PDEATHSIG``), and a kernel whose launching process
goes away without shutting it down is killed. A request whose interpreter, arguments or
startup environment the server cannot reproduce is run with ``exec`` in the forked child (slow
path, still correct). ``ROUNDUP_FORKSERVER=0`` in the environment disables the fork server
(kernels start with ``Popen`` like the standard provisioner). Linux only; elsewhere the
provisioner falls back to ``Popen``.

Known differences from a fresh kernel: the preloaded modules are already in ``sys.modules``
(their import-time warnings went to the server's log, not the report); every kernel of a server
shares its string-hash seed (``PYTHONHASHSEED`` is fixed per interpreter); other environment
variables a preloaded library reads only while importing come from the environment the server
started with; objects created by the preload are exempt from garbage collection
(``gc.freeze()``, so forks share those pages); the server does not notice edits to the
preloaded ``analysis`` modules, so restart the process that owns it after changing them.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import gc
import hashlib
import json
import logging
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import default

from analysis.reports.procs import pid_alive

__all__ = [
    "KERNEL_NAME",
    "PRELOAD",
    "PROVISIONER_NAME",
    "ForkKernelClient",
    "ForkKernelManager",
    "ForkKernelSpecManager",
    "ForkServerError",
    "ForkServerProvisioner",
    "ensure_server",
    "execute_kwargs",
    "kernel_spec",
    "server_status",
    "startup_environment",
    "stop_servers",
]

log = logging.getLogger(__name__)

#: Name of the kernelspec that :class:`ForkKernelSpecManager` provides.
KERNEL_NAME = "roundup-fork"
#: Entry-point name of :class:`ForkServerProvisioner` (group ``jupyter_client.kernel_provisioners``).
PROVISIONER_NAME = "roundup-forkserver"
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
    "analysis.data.package",
    "analysis.metrics",
    "analysis.present.tables",
    "analysis.present.charts",
)

#: Seconds to wait for a new server to import :data:`PRELOAD` and listen.
START_TIMEOUT = 120.0
#: Seconds for one request (connect, fork, reply) before the server counts as hung.
REQUEST_TIMEOUT = 30.0

_INLINE = "matplotlib_inline.backend_inline"
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
# Variables read once by a starting interpreter (or by a library as it loads) and that a fork
# therefore cannot change; servers are keyed by their values. Prefixes end with "_".
_STARTUP_PREFIXES = ("PYTHON", "OPENBLAS_", "OMP_", "MKL_", "GOTO_", "BLIS_", "NUMEXPR_")
_STARTUP_NAMES = frozenset(
    {
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "VECLIB_MAXIMUM_THREADS",
        "MPLCONFIGDIR",
        "MATPLOTLIBRC",
        "MATPLOTLIBDATA",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "HOME",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "SETUPTOOLS_USE_DISTUTILS",
        "COVERAGE_PROCESS_START",
        "COVERAGE_PROCESS_CONFIG",
    }
)
_PER_KERNEL_VARS = ("JPY_PARENT_PID", "JPY_SESSION_NAME")
_SERVER_BOOT = "from analysis.reports.forkserver import _server_main; _server_main()"


class ForkServerError(RuntimeError):
    """The fork server could not be started or reached, or it could not start a kernel."""


# --------------------------------------------------------------------------- wire format
# A message is a 4-byte big-endian length and a UTF-8 JSON object; the spawn request carries
# the kernel's stdout and stderr file descriptors (SCM_RIGHTS) with its first bytes.


def _send_msg(sock: socket.socket, obj: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(obj).encode()
    payload = struct.pack("!I", len(data)) + data
    sent = socket.send_fds(sock, [payload], fds) if fds else 0
    sock.sendall(payload[sent:])


def _recv_exact(sock: socket.socket, size: int, fds: list[int] | None) -> bytes:
    chunks: list[bytes] = []
    while size:
        if fds is not None and not chunks:
            data, received, _flags, _addr = socket.recv_fds(sock, size, 4)
            fds.extend(received)
        else:
            data = sock.recv(size)
        if not data:
            if chunks:
                raise ConnectionError("connection closed in the middle of a message")
            return b""
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def _recv_msg(sock: socket.socket, fds: list[int] | None = None) -> dict[str, Any] | None:
    """The next message, or None when the peer closed the connection before sending one."""
    head = _recv_exact(sock, 4, fds)
    if not head:
        return None
    (size,) = struct.unpack("!I", head)
    body = _recv_exact(sock, size, None)
    if len(body) != size:
        raise ConnectionError("connection closed in the middle of a message")
    return json.loads(body)


# --------------------------------------------------------------------------- locations


def startup_environment(env: dict[str, str] | os._Environ | None = None) -> dict[str, str]:
    """The part of ``env`` (default ``os.environ``) a forked interpreter cannot change.

    Interpreter and library start-up reads these (``PYTHON*``, BLAS/OpenMP thread counts,
    locale, matplotlib's configuration folders, ``HOME``, ...); kernels whose startup
    environment differs get a different server.
    """
    env = os.environ if env is None else env
    return {
        name: value
        for name, value in env.items()
        if name in _STARTUP_NAMES or name.startswith(_STARTUP_PREFIXES)
    }


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
            sorted(startup_environment(env).items()),
            PRELOAD,
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = str(_runtime_dir() / f"{digest}.sock")
    if len(path.encode()) > 100:
        raise ForkServerError(f"socket path too long for a Unix socket: {path}")
    return path


# --------------------------------------------------------------------------- client side

_start_lock = threading.Lock()
_owned: dict[str, subprocess.Popen] = {}  # servers this process started, by socket path
_exit_hook_installed = False


def _connect(path: str) -> socket.socket | None:
    """A connection to the server at ``path``, or None when no server listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(REQUEST_TIMEOUT)
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
    previous = _owned.pop(path, None)
    if previous is not None:  # it crashed or hung: its socket was stale
        if previous.stdin is not None:
            previous.stdin.close()
        previous.poll()
    _owned[path] = proc
    _install_exit_hook()
    log.debug("started fork server %d at %s", proc.pid, path)


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
    """The running server's ``pid``, ``preloaded``/``failed`` modules and kernel count, or None.

    ``modules`` names modules to look up in the server's ``sys.modules`` (``"modules"`` key).
    """
    env = os.environ if env is None else env
    sock = _connect(_socket_path(env))
    if sock is None:
        return None
    with sock:
        _send_msg(sock, {"op": "status", "modules": list(modules)})
        return _recv_msg(sock)


def _output_fd(stream: Any, default: int) -> int | None:
    """The descriptor a kernel's stdout/stderr should use; None for ``/dev/null``."""
    if stream is None:
        fd = default
    elif stream == subprocess.DEVNULL:
        return None
    elif isinstance(stream, int):
        if stream < 0:
            raise ValueError("the fork server cannot give a kernel a stdout/stderr pipe")
        fd = stream
    else:
        fd = stream.fileno()
    try:
        os.fstat(fd)
    except OSError:  # closed in this process (a daemon, say): the kernel writes to /dev/null
        return None
    return fd


class _ForkedProcess:
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
            msg = _recv_msg(self._conn)
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
) -> _ForkedProcess:
    """Ask the fork server (started if needed) for a kernel running ``argv``; its handle.

    ``stdout``/``stderr`` are descriptors the kernel gets as its fd 1/2 (None: ``/dev/null``).
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


def _spawn(env: dict[str, str], request: dict[str, Any], fds: list[int]) -> _ForkedProcess:
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
            _send_msg(sock, request, fds)
            reply = _recv_msg(sock)
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
        sock.settimeout(REQUEST_TIMEOUT)
        return _ForkedProcess(int(reply["pid"]), sock, path, bool(reply.get("fast")))
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


def _fork_server_usable() -> bool:
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "waitid")
        and hasattr(socket, "send_fds")
        and os.environ.get("ROUNDUP_FORKSERVER", "1") != "0"
    )


# --------------------------------------------------------------------------- jupyter_client


class ForkServerProvisioner(LocalProvisioner):
    """A kernel provisioner whose kernels are forked by the preloaded fork server.

    Everything but the launch is :class:`~jupyter_client.provisioning.LocalProvisioner`'s:
    the connection file, ports, environment and kernel command are prepared as usual, and
    signals go to the kernel's process group.
    """

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> dict[str, Any]:
        if not _fork_server_usable():
            return await super().launch_kernel(cmd, **kwargs)
        kwargs = self._scrub_kwargs(kwargs)
        env = dict(kwargs.get("env") or os.environ)
        independent = bool(kwargs.get("independent", False))
        if not independent:
            env["JPY_PARENT_PID"] = str(os.getpid())
        cwd = os.fspath(kwargs.get("cwd") or os.getcwd())
        stdout = _output_fd(kwargs.get("stdout"), 1)
        stderr_arg = kwargs.get("stderr")
        stderr = stdout if stderr_arg == subprocess.STDOUT else _output_fd(stderr_arg, 2)
        process = spawn_kernel(
            [os.path.expanduser(arg) for arg in cmd],
            env=env,
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,
            independent=independent,
        )
        self.process = process  # type: ignore[assignment]
        self.pid = self.pgid = process.pid  # the child called setsid() before the reply
        self.cwd = cwd
        return self.connection_info

    async def wait(self) -> int | None:
        process = self.process
        ret = await super().wait()
        if isinstance(process, _ForkedProcess):
            process.close()
        return ret

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if isinstance(self.process, _ForkedProcess) and self.process.poll() is not None:
            self.process.close()


def kernel_spec() -> KernelSpec:
    """The ``roundup-fork`` kernelspec: ipykernel's own ``python3`` spec (this interpreter)
    with :class:`ForkServerProvisioner` as its provisioner."""
    from ipykernel.kernelspec import RESOURCES, get_kernel_dict

    spec = get_kernel_dict()
    spec["display_name"] = "Python 3 (roundup fork server)"
    spec["metadata"] = {
        **spec.get("metadata", {}),
        "kernel_provisioner": {"provisioner_name": PROVISIONER_NAME, "config": {}},
    }
    return KernelSpec(resource_dir=RESOURCES, **spec)


class ForkKernelSpecManager(KernelSpecManager):
    """The installed kernelspecs plus ``roundup-fork`` (:func:`kernel_spec`)."""

    def find_kernel_specs(self) -> dict[str, str]:
        specs = super().find_kernel_specs()
        specs[KERNEL_NAME] = kernel_spec().resource_dir
        return specs

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        if kernel_name.lower() == KERNEL_NAME:
            return kernel_spec()
        return super().get_kernel_spec(kernel_name)


def _fast_reconnect_context() -> zmq.asyncio.Context:
    context = zmq.asyncio.Context()
    context.setsockopt(zmq.RECONNECT_IVL, 10)  # milliseconds; zmq's default is 100
    return context


class ForkKernelClient(AsyncKernelClient):
    """An ``AsyncKernelClient`` whose :meth:`wait_for_ready` does not idle at the end.

    jupyter_client's version ends by draining IOPub until it has been silent for 0.2 s. This
    one sends one more ``kernel_info_request`` once IOPub is subscribed and stops at that
    request's ``idle`` status: IOPub is ordered, so everything the kernel published before has
    been received by then. Its sockets retry connecting every 10 ms (zmq's default: 100 ms),
    as a forked kernel binds its sockets only a few milliseconds after the launch returns.
    """

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        self._created_context = True
        return _fast_reconnect_context()

    async def _wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)

        def remaining(cap: float) -> float:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")
            return min(cap, left)

        while True:  # as jupyter_client: until a kernel_info reply and an IOPub message
            self.kernel_info()
            try:
                msg = await self.shell_channel.get_msg(timeout=remaining(1.0))
            except Empty:
                pass
            else:
                if msg["msg_type"] == "kernel_info_reply":
                    try:
                        await self.iopub_channel.get_msg(timeout=remaining(0.2))
                    except Empty:
                        pass
                    else:
                        self._handle_kernel_info_reply(msg)
                        break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            remaining(1.0)
        # IOPub is subscribed now: drain it up to the idle status of one more request (at most
        # 1 s, where jupyter_client always waits for 0.2 s of silence), then its shell reply
        msg_id = self.kernel_info()
        settle = time.monotonic() + 1.0
        with contextlib.suppress(Empty):
            while (left := settle - time.monotonic()) > 0:
                msg = await self.iopub_channel.get_msg(timeout=left)
                if (
                    msg["msg_type"] == "status"
                    and msg["parent_header"].get("msg_id") == msg_id
                    and msg["content"].get("execution_state") == "idle"
                ):
                    break
        with contextlib.suppress(Empty):
            while (left := settle + 1.0 - time.monotonic()) > 0:
                msg = await self.shell_channel.get_msg(timeout=left)
                if msg["parent_header"].get("msg_id") == msg_id:
                    break

    wait_for_ready = _wait_for_ready  # type: ignore[assignment]


class ForkKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` for papermill/nbclient that knows the ``roundup-fork`` kernel.

    It finds ``roundup-fork`` without any installed kernelspec or entry point, creates the
    :class:`ForkServerProvisioner` for it directly, counts it as an ipykernel (so nbclient keeps
    IPython history in memory, as for ``python3``) and defaults to the ``ipc`` transport with
    the connection file and sockets in a private temporary folder (unless ``connection_file``
    or ``ip`` is configured). It trims jupyter_client's fixed waits, which would otherwise
    dominate a forked kernel's life: :class:`ForkKernelClient` for the start, sockets that
    reconnect every 10 ms, and a 10 ms poll for the kernel's exit at shutdown (0.1 s).
    Other kernels (``python3``...) work with it too, started by their own provisioner.
    """

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self) -> KernelSpecManager:
        return ForkKernelSpecManager(data_dir=self.data_dir)

    @default("client_factory")
    def _client_factory_default(self) -> type:
        return ForkKernelClient

    @default("context")
    def _context_default(self) -> zmq.asyncio.Context:
        self._created_context = True
        return _fast_reconnect_context()  # for the control socket, connected right after launch

    @default("transport")
    def _transport_default(self) -> str:
        return "ipc"

    @property
    def ipykernel(self) -> bool:
        return self.kernel_name == KERNEL_NAME or super().ipykernel

    def _uses_fork_server(self) -> bool:
        spec = self.kernel_spec
        provisioner = (spec.metadata if spec else {}).get("kernel_provisioner", {})
        return provisioner.get("provisioner_name") == PROVISIONER_NAME

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        if self.transport == "ipc" and not self.connection_file:
            self._private_dir = tempfile.TemporaryDirectory(prefix="roundup-kernel-")
            self.connection_file = os.path.join(self._private_dir.name, "kernel.json")
        if self.transport == "ipc" and self.connection_file and not os.path.isabs(self.ip):
            # the default "kernel-ipc" is relative to each process's working directory
            self.ip = os.path.splitext(os.path.abspath(self.connection_file))[0] + "-ipc"
        if self.provisioner is None and self._uses_fork_server():
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = ForkServerProvisioner(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
            )
        return await super()._async_pre_start_kernel(**kw)

    async def _async_finish_shutdown(
        self, waittime: float | None = None, pollinterval: float = 0.1, restart: bool = False
    ) -> None:
        # polling a fork-server kernel is a select() on a socket: notice its exit sooner
        await super()._async_finish_shutdown(waittime, min(pollinterval, 0.01), restart)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        private = getattr(self, "_private_dir", None)
        if private is not None and not restart:
            private.cleanup()
            self._private_dir = None


def execute_kwargs() -> dict[str, Any]:
    """Keywords for ``papermill.execute_notebook`` to run the notebook on a fork-server kernel."""
    return {"kernel_name": KERNEL_NAME, "kernel_manager_class": ForkKernelManager}


# --------------------------------------------------------------------------- server side


@dataclass
class _Kernel:
    pid: int
    conn: socket.socket | None
    independent: bool
    status: int | None = None  # exit status once the child exited (still unreaped)


class _Server:
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
            request = _recv_msg(conn, fds)
            if request is None:  # a probe
                return
            op = request.get("op")
            if op == "status":
                modules = request.get("modules") or []
                _send_msg(
                    conn,
                    {
                        "pid": os.getpid(),
                        "preloaded": self.preloaded,
                        "failed": self.failed,
                        "kernels": len(self.kernels),
                        "modules": {name: name in sys.modules for name in modules},
                    },
                )
            elif op == "spawn":
                keep = self._spawn(conn, request, fds)
            else:
                _send_msg(conn, {"error": f"unknown request {op!r}"})
        except Exception as exc:  # one bad request must not stop the server
            _say(f"request failed: {exc!r}")
            with contextlib.suppress(Exception):
                _send_msg(conn, {"error": f"{type(exc).__name__}: {exc}"})
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            if not keep:
                conn.close()

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
            _child(self, conn, request, fds, status_w, fast)
        os.close(status_w)
        error = _read_all(status_r, timeout=REQUEST_TIMEOUT)
        os.close(status_r)
        if error is None or error:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            message = error.decode(errors="replace") if error else "the child did not start"
            _send_msg(conn, {"error": message})
            return False
        _send_msg(conn, {"pid": pid, "fast": fast})
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
            and startup_environment(request.get("env") or {}) == self.startup_env
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
                            _send_msg(kernel.conn, {"exit": code})
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


def _child(
    server: _Server,
    conn: socket.socket,
    request: dict[str, Any],
    fds: list[int],
    status_w: int,
    fast: bool,
) -> None:  # pragma: no cover - runs in the forked child
    """Become the kernel process: set up like a fresh launch, then run or exec the kernel.

    Errors before the kernel runs go to the server through ``status_w``; never returns.
    """
    code = 1
    try:
        server_pid = os.getppid()
        os.setsid()
        if server.libc_prctl is not None:
            server.libc_prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != server_pid:
            os._exit(1)
        server.close_in_child(conn)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in (*fds, devnull):
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        if request.get("umask") is not None:
            os.umask(request["umask"])
        env = request["env"]
        os.environ.clear()
        os.environ.update(env)
        argv = request["argv"]
        if not fast:
            os.execvpe(argv[0], argv, env)  # closes status_w on success
        _prepare_interpreter(server, argv[3:])
        os.close(status_w)
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            os.write(status_w, f"{type(exc).__name__}: {exc}".encode())
        os._exit(127)
    try:
        code = _run_kernel(argv[3:])
    finally:
        os._exit(code)


def _prepare_interpreter(server: _Server, args: list[str]) -> None:  # pragma: no cover
    """Make this forked interpreter look like ``python -m ipykernel_launcher <args>``."""
    import importlib.util

    # atexit keeps the server's handlers: the preload imports registered them, as they would
    # have in a fresh interpreter (the server code itself registers none)
    launcher = importlib.util.find_spec("ipykernel_launcher")
    sys.argv = [launcher.origin if launcher and launcher.origin else "ipykernel_launcher", *args]
    sys.path[:] = server.base_path
    importlib.invalidate_caches()
    time.tzset()
    _reset_libraries()


def _run_kernel(args: list[str]) -> int:  # pragma: no cover - runs in the child
    """Run the kernel as ``ipykernel_launcher`` would, then finalize; the exit code."""
    code = 0
    try:
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance(parent_handle=int(os.environ.get("JPY_PARENT_PID") or 0))
        app.initialize(args)
        app.start()
        # A shutdown request stops this loop from the control thread, which then still
        # flushes output through the IOPub thread. The app's atexit close() stops IOPub and
        # joins the control thread: let the control thread finish first, or it can block
        # forever on the stopped IOPub thread (jupyter_client then SIGTERMs us after 2.5 s).
        control = getattr(app, "control_thread", None)
        if control is not None and control.is_alive():
            control.join(timeout=1.0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    # what interpreter shutdown does, in its order: first wait for non-daemon threads (the
    # kernel's control thread may still be answering the shutdown request), then atexit
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    return code


def _reset_libraries() -> None:  # pragma: no cover - in the child
    """Redo the import-time set-up that depends on the directory, environment or shell."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()  # a fresh process seeds the global RandomState from the OS
    if not os.environ.get("MPLBACKEND"):  # what IPKernelApp.init_gui_pylab does, earlier
        os.environ["MPLBACKEND"] = _INLINE_BACKEND
    mpl = sys.modules.get("matplotlib")
    if mpl is not None:
        import locale

        rc = mpl.rcParams
        rc._update_raw(mpl.rcParamsDefault)
        rc._update_raw(mpl._rc_params_in_file(mpl.matplotlib_fname()))  # ./matplotlibrc etc.
        mpl.rcParamsOrig = rc.copy()
        if os.environ.get("MPLBACKEND"):
            rc["backend"] = os.environ["MPLBACKEND"]
        if rc["axes.formatter.use_locale"]:
            locale.setlocale(locale.LC_ALL, "")
    # the inline backend hooks into the shell when first imported: run it again in this shell
    if sys.modules.pop(_INLINE, None) is not None:
        package = sys.modules.get(_INLINE.rpartition(".")[0])
        if package is not None and hasattr(package, "backend_inline"):
            delattr(package, "backend_inline")


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


def _server_main() -> None:  # pragma: no cover - runs in the server process
    """Entry point of the server process: ``python -c _SERVER_BOOT <socket path>``."""
    path = sys.argv[1]
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does: no imports from the working directory
    base_path = list(sys.path)
    startup_env = startup_environment()
    started = time.perf_counter()
    preloaded, failed = _preload()
    # Move everything imported so far out of the collector's reach: a kernel's gc.collect()
    # (IPython runs one at exit) then neither walks nor copies the preloaded modules' pages.
    gc.collect()
    gc.freeze()
    server = _Server(path, base_path, startup_env, preloaded, failed)
    _say(f"listening at {path} after {time.perf_counter() - started:.2f} s of imports")
    os.write(1, b"ready\n")
    os.dup2(2, 1)  # the starter stops reading; keep fd 1 valid
    server.serve()
