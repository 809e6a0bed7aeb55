"""The principals behind API keys, kept in each API process's memory.

Every request needs its key's tenant, role, program settings and campaigns version; reading them
from the database was one statement and one pool checkout per request. Entries are trusted only
while the process listens to PostgreSQL's notices of changes (migration 0009): a change to a
tenant, its settings, campaigns or keys, by any process or by hand, makes every process forget
that tenant's entries as soon as the notice arrives (commit plus a round trip). While the listener
is not connected nothing is cached, so a lost connection can never leave a revoked key working.
The process that makes a change also forgets at once (``forget_all``), so its own next request
never waits for the notice."""

from __future__ import annotations

import asyncio
import logging

import psycopg
from psycopg.rows import dict_row

from patron.tenants import store
from patron.tenants.store import Principal

log = logging.getLogger(__name__)


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

    async def follow(self, url: str, *, retry_after: float = 1.0) -> None:
        """Listens for changes until cancelled; reconnects after a lost connection."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    url, autocommit=True, row_factory=dict_row
                ) as conn:
                    await store.listen_for_changes(conn)
                    self.forget_all()  # whatever happened while not listening
                    self._live = True
                    async for notice in conn.notifies():
                        self._heard(notice.payload)
            except psycopg.Error:
                log.warning("lost the tenant-change listener; API keys are read per request until it is back")
            finally:
                self._live = False
                self.forget_all()
            await asyncio.sleep(retry_after)
