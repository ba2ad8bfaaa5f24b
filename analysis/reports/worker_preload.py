"""What the workers' fork server imports once, before it forks any worker (see ``executors``).

A terminal's Ctrl-C reaches the whole process group, the fork server included, and
multiprocessing shields the server from it only after this preload: a Ctrl-C during these
imports (two to three seconds) printed a KeyboardInterrupt traceback under the build's own clean
message. The build stops its workers itself, so SIGINT is ignored while importing and the
previous handler is put back for the workers.

The server exits when the build's process has exited (its pipe closes), and then ends at once
(``os._exit`` from its last exit handler): tearing down these modules took half a second in
which it still held the build's stderr, so whoever read that pipe waited for it.
"""

import atexit
import os
import signal
import sys

_previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
try:
    import nbclient  # noqa: F401
    import nbconvert  # noqa: F401
    import nbformat  # noqa: F401
    import papermill  # noqa: F401

    import analysis.reports.executors  # noqa: F401
    import analysis.reports.job  # noqa: F401
    import analysis.reports.kernels.provisioner  # noqa: F401
    from analysis.reports import record, render

    try:
        record.versions()  # the installed versions every run.json records, read once
        render.warm_exporter()  # its templates compiled once, here, for every worker
    except Exception:  # only a head start: a worker compiles them itself on its first page
        pass
finally:
    signal.signal(signal.SIGINT, _previous)


def _in_forkserver() -> bool:
    """Is this module being preloaded by multiprocessing's fork server (not imported by hand)?"""
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and code.co_filename.endswith("multiprocessing/forkserver.py"):
            return True
        frame = frame.f_back
    return False


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed stream: nothing left to say
            pass
    os._exit(0)


if _in_forkserver():
    # workers are forked from the server and leave through os._exit: they never run this
    atexit.register(_exit_now)
