"""Connection pools. The API and the workers each open their own, so that front office and
back office never queue behind each other for a connection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import AsyncConnectionPool

from patron.errors import Busy

Connection = psycopg.AsyncConnection[dict[str, Any]]

log = logging.getLogger(__name__)


def _plain(value: object) -> str:
    """Decimals as plain text (``0.0000001``, not ``1E-7``: conditions read only the plain form)."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _dumps(value: object) -> str:
    return orjson.dumps(value, default=_plain).decode()


set_json_dumps(_dumps)
set_json_loads(orjson.loads)


NUL_MESSAGE = "text may not hold the NUL character (\\u0000)"


def unusable_value(exc: psycopg.DataError) -> str:
    """What a request held that the database cannot take, said without the database's words
    where it is the common case (a NUL, in a name or in a card looked up alike)."""
    said = str(exc).splitlines()[0] if str(exc) else "a value out of range"
    if "NUL (0x00)" in said:
        return NUL_MESSAGE
    return "a value cannot be used: " + said


# A command killed mid-statement (a verify or an import stopped with SIGTERM or SIGKILL) leaves
# its statement running in the backend until it next writes to the socket: minutes for a verify
# of a large ledger. With this setting PostgreSQL looks every 2 s whether the client is still
# there and cancels the statement when it is not.
CLIENT_GONE_CHECK = "SET client_connection_check_interval = '2s'"


async def stop_when_client_gone(conn: Connection) -> None:
    """Apply ``CLIENT_GONE_CHECK`` to a connection of a command (``configure`` of its pool).
    Where the platform cannot tell a closed socket, PostgreSQL refuses the setting: skipped."""
    try:
        await conn.execute(CLIENT_GONE_CHECK)
    except psycopg.errors.InvalidParameterValue:
        log.info("this PostgreSQL cannot notice a client gone mid-statement on its platform")


# How long a request waits behind others of the same key (``Database.transaction``'s ``serial``)
# before it gives up with ``Busy``: about what a till waits for an answer.
SERIAL_WAIT = 10.0


class _Gate:
    """The lock of one key, kept while a request holds it or waits for it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Database:
    """An async pool of dict-row connections to one PostgreSQL database."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        name: str = "patron",
        configure: Callable[[Connection], Awaitable[None]] | None = None,
    ) -> None:
        """``configure`` runs once on each new connection, before the pool hands it out."""
        self.url = url
        self.pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            name=name,
            configure=configure,
            # named in pg_stat_activity (``patron-api``, ``patron-worker``...) unless the URL or
            # PGAPPNAME names the connections otherwise
            kwargs={
                "row_factory": dict_row,
                "autocommit": True,
                "fallback_application_name": f"patron-{name}",
            },
        )
        self._checking: asyncio.Task[None] | None = None
        self._gates: dict[Hashable, _Gate] = {}
        self.serial_wait = SERIAL_WAIT

    async def open(self) -> None:
        await self.pool.open(wait=True, timeout=30)

    async def close(self) -> None:
        if self._checking is not None:
            self._checking.cancel()
        await self.pool.close()

    async def recover(self) -> None:
        """Test the pool's idle connections, once a request found its own broken.

        After a restart or a failover every pooled connection is dead, and the pool only learns
        it when a request uses one: without this check each of them would fail a request. The
        check runs in the background; it takes the idle connections out of the pool at its first
        step, which this awaits, so no request that follows is handed one untested."""
        if self._checking is None or self._checking.done():
            self._checking = asyncio.get_running_loop().create_task(self._check())
            await asyncio.sleep(0)

    async def _check(self) -> None:
        try:
            await self.pool.check()
        except Exception as exc:  # a closed pool, or the database still away: the next failure retries
            log.info("the %s pool's connections could not be checked: %s", self.pool.name, exc)

    @asynccontextmanager
    async def transaction(
        self, *, pipeline: bool = False, serial: Hashable | None = None
    ) -> AsyncIterator[Connection]:
        """A connection inside one transaction: committed on success, rolled back on any error.

        With ``pipeline`` the statements are sent without waiting for each answer until a result
        is read (PostgreSQL's pipeline mode), so a batch of writes costs one round trip.

        With ``serial`` (a member, say), transactions of the same key in this process run one at a
        time, and the others wait for their turn without a connection: requests queued behind
        one member's lock in the database held a connection each, and thirty of them took the
        whole pool, so every other member's receipts waited too. ``Busy`` after ``serial_wait``."""
        async with self._one_at_a_time(serial), self.pool.connection() as conn:
            if pipeline:
                async with conn.pipeline(), conn.transaction():
                    yield conn
            else:
                async with conn.transaction():
                    yield conn

    @asynccontextmanager
    async def _one_at_a_time(self, key: Hashable | None) -> AsyncIterator[None]:
        if key is None:
            yield
            return
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _Gate()
        gate.users += 1
        try:
            try:
                if gate.users > 1:  # another holds it or waits: a turn to wait for, bounded
                    async with asyncio.timeout(self.serial_wait):
                        await gate.lock.acquire()
                else:  # no one else: the lock is free and taken at once
                    await gate.lock.acquire()
            except TimeoutError:
                raise Busy(
                    f"this member was busy with other requests for {self.serial_wait:g} s;"
                    " nothing was recorded: send it again"
                ) from None
            try:
                yield
            finally:
                gate.lock.release()
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[key]

    def busy(self) -> bool:
        """Whether every connection the pool may open is open and lent out: a ``PoolTimeout`` then
        means requests outnumbered connections, not a database out of reach."""
        stats = self.pool.get_stats()
        return stats.get("pool_size", 0) >= self.pool.max_size and stats.get("pool_available", 0) == 0

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection in autocommit: for one read statement, it saves a BEGIN and a COMMIT."""
        async with self.pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Connection]:
        """A connection for reads (still one transaction, so several reads see one snapshot)."""
        async with self.pool.connection() as conn, conn.transaction():
            yield conn
