"""What runs in a forked child of the fork server: become a fresh kernel process, run the kernel.

The child behaves like ``python -m ipykernel_launcher -f <connection file>`` started by
jupyter_client: its own session and process group (interrupt and kill signal the group),
default signal handlers, the working directory and environment of the launch request, stdin
from ``/dev/null`` and stdout/stderr of the launching process. Matplotlib's rcParams are read
again for the child's directory and environment (``matplotlibrc``, ``MPLBACKEND``), numpy's
global random state is reseeded, and the inline backend module is re-run on first use so it
hooks into the child's shell. It dies with the server (``PR_SET_PDEATHSIG``).

A request the server cannot reproduce by a fork (another interpreter, arguments or startup
environment) is run with ``exec`` in the child instead (slow path, still correct).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analysis.reports.kernels.server import Server

_INLINE = "matplotlib_inline.backend_inline"
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def run_child(
    server: Server,
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
        _leave_server(server, conn)
        _take_descriptors(fds)
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


def _leave_server(server: Server, conn: socket.socket) -> None:  # pragma: no cover
    """A session and process group of its own, death with the server, none of its descriptors
    (``conn`` is the request's connection) and default signal handling."""
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


def _take_descriptors(fds: list[int]) -> None:  # pragma: no cover
    """stdin from ``/dev/null``, stdout and stderr the launching process's (``fds``)."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    for fd in (*fds, devnull):
        if fd > 2:
            os.close(fd)


def _prepare_interpreter(server: Server, args: list[str]) -> None:  # pragma: no cover
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


def _kernel_app() -> type:  # pragma: no cover - runs in the child
    """ipykernel's ``IPKernelApp`` whose output (IOPub) socket never drops a message.

    zmq's publish sockets drop messages once 1000 wait for a subscriber that lags: a loop of
    flushed prints on a busy machine outruns the report's client, and lines vanish without an
    error. With no send limit the kernel keeps them queued until the client reads them (the
    runner's output limit still stops a flood).
    """
    import zmq
    from ipykernel.kernelapp import IPKernelApp

    class KernelApp(IPKernelApp):
        def init_iopub(self, context: Any) -> None:
            context.setsockopt(zmq.SNDHWM, 0)  # default for the sockets made from here on
            super().init_iopub(context)

    return KernelApp


def _run_kernel(args: list[str]) -> int:  # pragma: no cover - runs in the child
    """Run the kernel as ``ipykernel_launcher`` would, then finalize; the exit code."""
    code = 0
    try:
        app = _kernel_app().instance(parent_handle=int(os.environ.get("JPY_PARENT_PID") or 0))
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
