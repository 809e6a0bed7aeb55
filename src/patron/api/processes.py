"""``patron serve --workers N`` on Linux: N server processes, each with its own listening socket
on the same port (``SO_REUSEPORT``), so that the kernel spreads the tills' connections evenly.

With one socket shared by all processes (uvicorn's own ``--workers``), the process whose event
loop wakes first accepts every connection then waiting; tills keep their connections alive, so a
burst of new connections stays on one process, which runs near saturation while the others idle
(measured: 80% and 35% of a core, BENCHMARKS.md). With a socket each, the kernel picks a socket
per connection by its addresses, which evens out over a fleet of tills.

The supervising process binds the port first without listening on it (it reserves the port, and
picks one when asked for port 0) and never accepts; each child binds the same port and listens.
A child that dies is started again; SIGTERM or Ctrl-C stop them all gracefully. A child dies
with the supervisor even when that is killed (SIGKILL), and a second ``patron serve --workers``
on a port this one serves is refused (SO_REUSEPORT would let it share the port).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import IO

from patron.config import ConfigError

log = logging.getLogger(__name__)

STOP_TIMEOUT = 30.0  # seconds a child may take to finish its requests once told to stop
CRASH_WINDOW = 5.0  # a child that fails this soon after its start is not started again
PR_SET_PDEATHSIG = 1  # prctl(2)


def supported() -> bool:
    """``SO_REUSEPORT`` spreads connections over sockets only on Linux (BSDs hand them all to one)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def ensure_port_free(host: str, port: int) -> None:
    """Refuses a port another process listens on before anything is started or loaded (a demo
    loaded and replayed for minutes, then failed to serve), and whatever the host is called: a
    second ``serve --workers`` as ``localhost`` shared 127.0.0.1's port with the first."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                probe.bind(address)
            except OSError as exc:
                raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def _die_with(parent: int) -> None:
    """Asks the kernel for SIGTERM when the supervisor dies, even by SIGKILL: an orphaned child
    would keep serving on the port beside the next ``patron serve``."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the request took effect
        raise SystemExit(0)


def _exclusive(host: str, port: int) -> IO[bytes]:
    """Keeps a second ``patron serve --workers`` off a port this one serves: every socket on it
    sets SO_REUSEPORT, so the kernel would otherwise split the tills between the two."""
    folder = Path(tempfile.gettempdir()) / f"patron-runtime-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    # by port alone: "localhost" and "127.0.0.1" are one address, and 0.0.0.0 overlaps them all
    lock = (folder / f"serve-{port}.lock").open("wb")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        lock.close()
        raise SystemExit(f"cannot listen on {host}:{port}: another patron serve serves it") from exc
    return lock


def _child(
    host: str, port: int, url: str, pool_min: int, pool_max: int, parent: int, access_log: bool
) -> None:
    """One server process: its own socket on the shared port, the app, uvicorn until stopped."""
    import uvicorn

    from patron.api.app import create_app

    _die_with(parent)
    sock = reuse_port_socket(host, port)
    sock.listen(2048)
    application = create_app(url, pool_min=pool_min, pool_max=pool_max, freeze_gc=True)
    config = uvicorn.Config(application, log_level="info" if access_log else "warning", access_log=access_log)
    uvicorn.Server(config).run(sockets=[sock])


def run(
    host: str, port: int, workers: int, url: str, *, pool_min: int, pool_max: int, access_log: bool = False
) -> None:
    """Starts ``workers`` server processes on ``host:port`` and keeps them running until SIGTERM
    or SIGINT (then stops them and returns)."""
    try:
        holder = reuse_port_socket(host, port)  # reserves the port for the children; never listens
    except OSError as exc:
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    port = holder.getsockname()[1]
    lock = _exclusive(host, port)  # noqa: F841 - held until this process exits
    context = multiprocessing.get_context("spawn")
    args = (host, port, url, pool_min, pool_max, os.getpid(), access_log)

    started: dict[int, float] = {}

    def start() -> BaseProcess:
        process = context.Process(target=_child, args=args, name="patron-serve", daemon=False)
        process.start()
        started[id(process)] = time.monotonic()
        return process

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    children = [start() for _ in range(workers)]
    try:
        while not stopping:
            time.sleep(0.2)
            for i, child in enumerate(children):
                if child.is_alive() or stopping:
                    continue
                code = child.exitcode or 0
                if code > 0 and time.monotonic() - started[id(child)] < CRASH_WINDOW:
                    # it failed as it started (a bad setting, the database away): retrying won't help
                    raise SystemExit(f"a server process failed at start (exit code {code})")
                log.warning(
                    "server process %s ended (exit code %s): starting another", child.pid, child.exitcode
                )
                children[i] = start()
    finally:
        for child in children:
            if child.is_alive() and child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    child.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()
                child.join()
        holder.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
