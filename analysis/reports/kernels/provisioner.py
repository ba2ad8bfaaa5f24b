"""jupyter_client's side: the ``roundup-fork`` kernelspec, its provisioner and kernel manager.

Use it from papermill (no entry point, kernelspec or Jupyter path needs installing)::

    papermill.execute_notebook(src, dst, parameters=..., **provisioner.execute_kwargs())

which passes ``kernel_name="roundup-fork"`` and ``kernel_manager_class=ForkKernelManager``
(papermill forwards unknown keywords to nbclient's ``NotebookClient``). The kernel manager
knows the ``roundup-fork`` kernelspec (:class:`ForkKernelSpecManager`), talks to kernels over
``ipc`` sockets in a private temporary folder unless configured otherwise, and starts them with
:class:`ForkServerProvisioner`, a jupyter_client kernel provisioner that is also registered
under the entry-point name ``roundup-forkserver`` (group ``jupyter_client.kernel_provisioners``).

``ROUNDUP_FORKSERVER=0`` in the environment disables the fork server (kernels start with
``Popen`` like the standard provisioner), as does any platform but Linux.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from queue import Empty
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import default

from analysis.reports.kernels import KERNEL_NAME, PROVISIONER_NAME
from analysis.reports.kernels.client import ForkedProcess, spawn_kernel


def _fork_server_usable() -> bool:
    """Linux with the calls the server needs, and not switched off by ``ROUNDUP_FORKSERVER=0``."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "waitid")
        and hasattr(socket, "send_fds")
        and os.environ.get("ROUNDUP_FORKSERVER", "1") != "0"
    )


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
        if isinstance(process, ForkedProcess):
            process.close()
        return ret

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if isinstance(self.process, ForkedProcess) and self.process.poll() is not None:
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
