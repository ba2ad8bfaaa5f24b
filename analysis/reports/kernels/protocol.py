"""What the fork server and its clients agree on: message framing, timeouts, startup environment.

A message is a 4-byte big-endian length and a UTF-8 JSON object; the spawn request carries the
kernel's stdout and stderr file descriptors (``SCM_RIGHTS``) with its first bytes. Requests
(client -> server)::

    {"op": "status", "modules": [name, ...]}
    {"op": "spawn", "argv": [...], "env": {...}, "cwd": str, "umask": int | None,
     "independent": bool}                                  + two descriptors: stdout, stderr

Replies (server -> client): the status as a dict (see ``client.server_status``), or
``{"pid": int, "fast": bool}`` for a kernel, or ``{"error": str}``. A spawn connection then stays
open and brings one more message, ``{"exit": code}``, when the kernel exits.

A server forks a kernel only for a request whose :func:`startup_environment` equals its own, so
clients key servers by it. Standard library only.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import Any

#: Seconds for one request (connect, fork, reply) before the server counts as hung.
REQUEST_TIMEOUT = 30.0

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


def send_msg(sock: socket.socket, obj: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send ``obj`` as one message; ``fds`` (descriptors) travel with its first bytes."""
    data = json.dumps(obj).encode()
    payload = struct.pack("!I", len(data)) + data
    sent = socket.send_fds(sock, [payload], fds) if fds else 0
    sock.sendall(payload[sent:])


def recv_msg(sock: socket.socket, fds: list[int] | None = None) -> dict[str, Any] | None:
    """The next message, or None when the peer closed the connection before sending one.

    Descriptors that came with it are appended to ``fds`` (when given; the caller closes them).
    Raises ``ConnectionError`` when the peer closes in the middle of a message.
    """
    head = _recv_exact(sock, 4, fds)
    if not head:
        return None
    (size,) = struct.unpack("!I", head)
    body = _recv_exact(sock, size, None)
    if len(body) != size:
        raise ConnectionError("connection closed in the middle of a message")
    return json.loads(body)


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
