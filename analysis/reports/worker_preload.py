"""What the workers' fork server imports once, before it forks any worker (see ``executors``).

A terminal's Ctrl-C reaches the whole process group, the fork server included, and
multiprocessing shields the server from it only after this preload: a Ctrl-C during these
imports (two to three seconds) printed a KeyboardInterrupt traceback under the build's own clean
message. The build stops its workers itself, so SIGINT is ignored while importing and the
previous handler is put back for the workers.
"""

import signal

_previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
try:
    import nbclient  # noqa: F401
    import nbconvert  # noqa: F401
    import nbformat  # noqa: F401
    import papermill  # noqa: F401

    import analysis.reports.executors  # noqa: F401
    import analysis.reports.job  # noqa: F401
    import analysis.reports.kernels.provisioner  # noqa: F401
finally:
    signal.signal(signal.SIGINT, _previous)
