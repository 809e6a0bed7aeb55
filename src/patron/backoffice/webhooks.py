"""Delivering events to webhooks (contract 10): signed, retried for at least 24 hours, and in
order per member (a member's later event waits until the earlier one was delivered).

A delivery is claimed with a lease (FOR UPDATE SKIP LOCKED, then its ``next_attempt_at`` moved
``LEASE`` ahead, in a short transaction), sent, and its outcome recorded in a transaction of its
own: a killed worker's delivery is due again when the lease runs out (at least once; the event id
lets the receiver drop a repeat), and no row stays locked while a receiver takes its time (a
DELETE of the webhook waited for it). Deliveries run side by side, at most ``concurrency`` a
worker, ``per_webhook`` to one webhook and ``per_tenant`` of one program, and the next are claimed
as places free up: a receiver that answers in 10 seconds, or never, holds its own deliveries
back, and a program's dead receivers hold back its own, not every tenant's (a batch
waited for its slowest, so one dead endpoint held all webhooks to two deliveries a second)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import orjson

from patron.backoffice import rules
from patron.backoffice import webhook_store as store
from patron.backoffice.transports import describe_failure, drain_answer
from patron.clock import Clock
from patron.db.pool import Connection, Database

SIGNATURE_HEADER = "X-Patron-Signature"
LEASE = timedelta(seconds=30)  # a claimed delivery is due again after this (its request times out at 10 s)

log = logging.getLogger(__name__)


def body(event: dict[str, Any]) -> bytes:
    """The JSON body of an event: ``{"id", "type", "occurred_at", "tenant", "data"}``."""
    return orjson.dumps(
        {
            "id": event["uid"],
            "type": event["type"],
            "occurred_at": event["occurred_at"],
            "tenant": event["tenant"],
            "data": event["data"],
        }
    )


class Deliverer:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        session: aiohttp.ClientSession,
        *,
        timeout: float = 10.0,
        concurrency: int = 64,
        per_webhook: int = 8,
        per_tenant: int = 16,
    ) -> None:
        self.db = db
        self.clock = clock
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.concurrency = concurrency
        self.per_webhook = per_webhook
        self.per_tenant = per_tenant
        self._running: dict[asyncio.Task[None], tuple[str, int]] = {}  # delivery -> its webhook, tenant

    async def deliver_due(self, only: list[int] | None, limit: int = 20) -> int:
        """Claims due deliveries as far as there are places and starts them; returns how many.
        With every place taken, waits for one to free up first."""
        if len(self._running) >= self.concurrency:
            await asyncio.wait(list(self._running), return_when=asyncio.FIRST_COMPLETED)
        room = min(limit, self.concurrency - len(self._running))
        hooks = Counter(hook for hook, _ in self._running.values())
        tenants = Counter(tenant for _, tenant in self._running.values())
        full_hooks = [hook for hook, count in hooks.items() if count >= self.per_webhook]
        full_tenants = [tenant for tenant, count in tenants.items() if count >= self.per_tenant]
        now = self.clock()
        async with self.db.connection() as conn:
            if not await store.any_due(conn, now, only):
                return 0
        async with self.db.transaction() as conn:
            due = await store.claim_due(conn, now, room, only, full_hooks, full_tenants)
            chosen = []
            for row in due:  # a claim may find more of one webhook or tenant than it has places for
                if (
                    hooks[row["webhook_id"]] < self.per_webhook
                    and tenants[row["tenant_id"]] < self.per_tenant
                ):
                    hooks[row["webhook_id"]] += 1
                    tenants[row["tenant_id"]] += 1
                    chosen.append(row)
            await store.lease(conn, [(row["tenant_id"], row["id"]) for row in chosen], now + LEASE)
        for row in chosen:
            task = asyncio.get_running_loop().create_task(self._deliver(row))
            self._running[task] = (row["webhook_id"], row["tenant_id"])
            task.add_done_callback(self._running.pop)
        return len(chosen)

    async def settle(self, timeout: float | None = None) -> None:
        """Waits for the deliveries under way (for ``timeout`` seconds at most, then cancels them:
        their leases run out and they are sent again)."""
        if not self._running:
            return
        _, late = await asyncio.wait(list(self._running), timeout=timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def _deliver(self, row: dict[str, Any]) -> None:
        try:
            status, error = await self._post(row)
            async with self.db.transaction() as conn:
                await self._record(conn, row, status, error, self.clock())
        except asyncio.CancelledError:
            raise
        except Exception:  # the database gone: the lease runs out and the delivery is due again
            log.exception("recording delivery %s failed", row["id"])

    async def _post(self, row: dict[str, Any]) -> tuple[int | None, str | None]:
        payload = body(row)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: rules.sign(row["secret"], payload),
            "X-Patron-Event": row["type"],
            "X-Patron-Delivery": str(row["id"]),
        }
        try:
            # a redirect is not a delivery: following it would send a GET without the event and
            # take its 200 (a login page's) for the receiver's, and could reach an internal address
            async with self.session.post(
                row["url"], data=payload, headers=headers, timeout=self.timeout, allow_redirects=False
            ) as response:
                await drain_answer(response)
                return response.status, None if 200 <= response.status < 300 else f"HTTP {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            return None, describe_failure(exc, self.timeout.total)

    async def _record(
        self, conn: Connection, row: dict[str, Any], status: int | None, error: str | None, now: datetime
    ) -> None:
        if error is None:
            await store.record(
                conn,
                row["tenant_id"],
                row["id"],
                status="delivered",
                last_status=status,
                last_error=None,
                next_attempt_at=None,
                delivered_at=now,
                now=now,
            )
            return
        # 24 hours from when it became due: one that waited behind an earlier delivery of its
        # member until that one gave up would otherwise get a single attempt
        retry_at = rules.webhook_next_attempt(row["attempts"] + 1, row["due_since"], now)
        await store.record(
            conn,
            row["tenant_id"],
            row["id"],
            status="pending" if retry_at is not None else "failed",
            last_status=status,
            last_error=error,
            next_attempt_at=retry_at,
            delivered_at=None,
            now=now,
        )
