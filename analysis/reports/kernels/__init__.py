"""Fork-server kernels: a fresh IPython kernel per report without paying for the imports.

A *fork server* is a small process that has already imported the heavy libraries the reports
use (numpy, pandas, matplotlib with pyplot and the inline backend, pandera, IPython, ipykernel
and the ``analysis`` submodules). For each kernel it forks a child that builds its
``IPKernelApp`` from scratch with the connection file jupyter_client wrote, so every report
still runs in its own new process: no variables, rcParams or ``sys.modules`` additions pass from
one report to the next, and reports never run in the server itself. Linux only; elsewhere the
provisioner falls back to ``Popen``.

Rooms (import them directly; importing this package itself loads nothing):

``protocol``     the messages between clients and server; ``startup_environment()``,
                 ``REQUEST_TIMEOUT``                                       (standard library)
``client``       the orchestrator's side: ``ensure_server()``, ``stop_servers()``,
                 ``server_status()``, ``spawn_kernel()``, ``ForkServerError`` (standard library)
``server``       the server process: ``PRELOAD``, the select loop, ``main()``
``warm``         what the server does once after the imports: ``warm_up()`` parses the data
                 package and finds the CJK font, so kernels start with those caches filled
``child``        what a forked child does to become a fresh kernel process and run it
``provisioner``  jupyter_client: ``execute_kwargs()``, ``ForkKernelManager``,
                 ``ForkKernelClient``, ``ForkKernelSpecManager``, ``kernel_spec()``,
                 ``ForkServerProvisioner`` (imports jupyter_client and zmq)

Dependencies point one way: provisioner -> client -> server -> child, warm; protocol is used
by client and server.

Known differences from a fresh kernel: the preloaded modules are already in ``sys.modules``
(their import-time warnings went to the server's log, not the report); every kernel of a server
shares its string-hash seed (``PYTHONHASHSEED`` is fixed per interpreter); other environment
variables a preloaded library reads only while importing come from the environment the server
started with; the data package of the server's data folder (``ROUNDUP_DATA_DIR`` when it
started) is already parsed, in ``analysis.data.package``'s cache keyed by each file's path,
modification time and size (a kernel parses a file changed since, or another data folder,
itself); objects created by the preload are exempt from garbage collection
(``gc.freeze()``, so forks share those pages); the server does not notice edits to the
preloaded ``analysis`` modules, so restart the process that owns it after changing them.
"""

#: Name of the kernelspec that ``provisioner.ForkKernelSpecManager`` provides.
KERNEL_NAME = "roundup-fork"
#: Entry-point name of ``provisioner.ForkServerProvisioner`` (group
#: ``jupyter_client.kernel_provisioners``).
PROVISIONER_NAME = "roundup-forkserver"
