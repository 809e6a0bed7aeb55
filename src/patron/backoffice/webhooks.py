"""Delivering events to webhooks (contract 10): signed, retried for at least 24 hours, and in
order per member (a member's later event waits until the earlier one was delivered).

A delivery is locked while it is being sent (FOR UPDATE SKIP LOCKED, in the transaction that
records its outcome), so a killed worker's delivery is simply due again: at least once, and the
event id lets the receiver drop a repeat."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from patron.backoffice import rules
from patron.backoffice import webhook_store as store
from patron.backoffice.transports import describe_failure, drain_answer
from patron.clock import Clock
from patron.db.pool import Connection, Database

SIGNATURE_HEADER = "X-Patron-Signature"


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
        self, db: Database, clock: Clock, session: aiohttp.ClientSession, *, timeout: float = 10.0
    ) -> None:
        self.db = db
        self.clock = clock
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def deliver_due(self, only: list[int] | None, limit: int = 20) -> int:
        """Sends one batch of due deliveries; returns how many were tried."""
        now = self.clock()
        async with self.db.transaction() as conn:
            due = await store.claim_due(conn, now, limit, only)
            if not due:
                return 0
            results = await asyncio.gather(*(self._post(row) for row in due))
            done = self.clock()
            for row, (status, error) in zip(due, results, strict=True):
                await self._record(conn, row, status, error, done)
        return len(due)

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
            )
            return
        retry_at = rules.webhook_next_attempt(row["attempts"] + 1, row["created_at"], now)
        await store.record(
            conn,
            row["tenant_id"],
            row["id"],
            status="pending" if retry_at is not None else "failed",
            last_status=status,
            last_error=error,
            next_attempt_at=retry_at,
            delivered_at=None,
        )
