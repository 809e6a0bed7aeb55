"""The ``patron worker`` process: its own connection pool, signals, and the worker's loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import replace

from patron import eventloop
from patron.backoffice import store
from patron.backoffice.worker import Worker, WorkerSettings
from patron.db import priority
from patron.db.pool import Connection, Database

log = logging.getLogger(__name__)


def run(
    url: str, *, tenants: list[str] | None, settings: WorkerSettings, nice: int = 0, idle: bool = False
) -> None:
    """Runs until SIGTERM or SIGINT; then each loop finishes its step and the process exits 0.

    A SIGKILL at any moment is survived too: what a worker was doing was not committed, and
    another worker (or this one, restarted) does it again. ``nice`` lowers the process's CPU
    priority, and its PostgreSQL sessions' where it can (``db.priority``), so that on a machine
    it shares with ``patron serve`` the tills come first; ``idle`` puts both in the idle
    scheduling class, where they use only CPU time the tills leave."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
    )
    # `patron`'s entry point has set logging up at WARNING already (then the line above does
    # nothing): a worker still says what it does at INFO (started, stopped, its priority)
    logging.getLogger("patron").setLevel(logging.INFO)
    if nice:
        with contextlib.suppress(OSError):
            os.nice(nice)
        # a worker started in a session of its own (setsid, a supervisor) competes as its own group
        priority.lower_autogroup(os.getpid(), nice)
    if idle and not priority.schedule_idle(0):
        log.info("the worker keeps its scheduling class: this system has no idle class or refused it")
    eventloop.run(_main(url, tenants, settings, nice, idle))


async def _main(
    url: str, slugs: list[str] | None, settings: WorkerSettings, nice: int = 0, idle: bool = False
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    # front office and back office never queue for each other's connections
    pool_size = 6 + 2 * settings.senders

    async def lower_priority(conn: Connection) -> None:
        await priority.lower_backend_priority(conn, nice, idle=idle)

    db = Database(
        url,
        min_size=2,
        max_size=pool_size,
        name="worker",
        configure=lower_priority if nice or idle else None,
    )
    await db.open()
    try:
        only = None
        if slugs:
            async with db.read() as conn:
                only = await store.tenant_ids_by_slug(conn, slugs)
        async with Worker(db, settings=settings, tenants=only) as worker:
            log.info("worker started (tenants: %s)", ", ".join(slugs) if slugs else "all")
            await worker.run(stop)
    finally:
        await db.close()
    log.info("worker stopped")


def settings_from(
    *,
    poll: float,
    schedule_every: float,
    retry_base: float,
    senders: int,
    headroom: float,
    expiry_every: float,
    keep_days: int,
) -> WorkerSettings:
    base = WorkerSettings()
    return replace(
        base,
        poll=poll,
        schedule_every=schedule_every,
        senders=senders,
        expiry_every=expiry_every,
        keep_days=keep_days,
        send=replace(base.send, retry_base=retry_base, headroom=headroom),
    )
