"""The principals behind API keys, kept in each API process's memory.

Every request needs its key's tenant, role, program settings and campaigns version; reading them
from the database was one statement and one pool checkout per request. Entries are trusted only
while the process listens to PostgreSQL's notices of changes (migration 0009): a change to a
tenant, its settings, campaigns or keys, by any process or by hand, makes every process forget
that tenant's entries as soon as the notice arrives (commit plus a round trip). While the listener
is not connected nothing is cached, so a lost connection can never leave a revoked key working.
A connection can also stop delivering without failing (a proxy or pooler that drops notices, a
peer gone behind a firewall): the listener sends itself a notice every ``ECHO_EVERY`` seconds, and
one that does not come back within that time counts as a lost connection.
The process that makes a change also forgets at once (``forget_all``), so its own next request
never waits for the notice."""

from __future__ import annotations

import asyncio
import logging
import uuid

import psycopg
from psycopg.rows import dict_row

from patron.tenants import store
from patron.tenants.store import Principal

log = logging.getLogger(__name__)

ECHO_EVERY = 2.0  # seconds: how long a change can go unheard when notices stop arriving


class _Deaf(Exception):
    """The listener's own notice did not come back: notices no longer reach it."""


class PrincipalCache:
    def __init__(self) -> None:
        self._by_digest: dict[bytes, Principal] = {}
        self._live = False
        # Bumped by every forget: a principal read before a change must not be stored after it.
        self.generation = 0

    @property
    def live(self) -> bool:
        return self._live

    def get(self, digest: bytes) -> Principal | None:
        return self._by_digest.get(digest) if self._live else None

    def put(self, digest: bytes, principal: Principal, generation: int) -> None:
        """Keeps ``principal``, read from the database when ``generation`` was current."""
        if self._live and generation == self.generation:
            self._by_digest[digest] = principal

    def forget_tenant(self, tenant_id: int) -> None:
        self.generation += 1
        self._by_digest = {d: p for d, p in self._by_digest.items() if p.tenant_id != tenant_id}

    def forget_all(self) -> None:
        self.generation += 1
        self._by_digest = {}

    def _heard(self, payload: str) -> None:
        try:
            self.forget_tenant(int(payload))
        except ValueError:
            self.forget_all()

    async def follow(self, url: str, *, retry_after: float = 1.0, echo_every: float = ECHO_EVERY) -> None:
        """Listens for changes until cancelled; reconnects after a lost or deaf connection."""
        echo = f"patron_echo_{uuid.uuid4().hex}"
        while True:
            try:
                async with asyncio.timeout(echo_every):
                    conn = await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
                try:
                    async with asyncio.timeout(echo_every):
                        await store.listen_for_changes(conn, echo)
                    self.forget_all()  # whatever happened while not listening
                    self._live = True
                    await self._listen(conn, echo, echo_every)
                finally:
                    self._live = False
                    self.forget_all()
                    await _close(conn)
            except (psycopg.Error, TimeoutError, _Deaf):
                log.warning("lost the tenant-change listener; API keys are read per request until it is back")
            await asyncio.sleep(retry_after)

    async def _listen(
        self, conn: psycopg.AsyncConnection[dict[str, object]], echo: str, every: float
    ) -> None:
        """Hears notices until the listener's own echo fails to come back within ``every``.

        An outer deadline, moved on by each echo, ends it too: on a connection that no longer
        answers, psycopg's clean-up of a timed-out statement (a cancel request) can itself wait
        for a long time, and a second cancellation cuts that short."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(2 * every) as silence:
            while True:
                async with asyncio.timeout(every):
                    await store.send_echo(conn, echo)
                echoed = False
                async for notice in conn.notifies(timeout=every):
                    if notice.channel == echo:
                        echoed = True
                    else:
                        self._heard(notice.payload)
                if not echoed:
                    raise _Deaf
                silence.reschedule(loop.time() + 2 * every)


async def _close(conn: psycopg.AsyncConnection[dict[str, object]]) -> None:
    """Closes without waiting on a peer that may no longer answer."""
    try:
        async with asyncio.timeout(1.0):
            await conn.close()
    except (psycopg.Error, TimeoutError):
        pass
