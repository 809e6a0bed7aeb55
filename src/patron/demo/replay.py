"""The year of baskets through the checkout engine, in-process: each basket is a ``ReceiptIn``
confirmed by ``checkout.service.confirm`` exactly as ``POST /v1/receipts`` would, with the clock
set to the basket's own time.

Households are independent (a member's receipts lock only that member), so ``workers`` asyncio
tasks replay them concurrently: each task owns a share of the households and walks their events
in time order, so every household sees its own baskets (and returns) in the order they happened.

Resuming: a basket whose number is in the database already is skipped, and so is a return that
was recorded; nothing is sent twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from patron.campaigns.rules import CampaignSet
from patron.checkout import returning
from patron.checkout import service as checkout
from patron.checkout.model import ReceiptIn, ReturnIn
from patron.db.pool import Database
from patron.demo import data, store
from patron.errors import PatronError
from patron.program.settings import Program

RETURN_NUMBER = "RET-1"
SALE, RETURN = 0, 1
# Receipts after which the replay refreshes the planner's statistics (see ``store.analyze``).
ANALYZE_AT = (300, 2_000, 8_000, 30_000, 100_000)


@dataclass(slots=True)
class Stats:
    receipts: int = 0
    skipped: int = 0
    returns: int = 0
    points_spent: int = 0
    points_earned: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.receipts / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Event:
    utc: int
    kind: int
    index: int  # the basket's position in the year


def plan(year: data.Year, count: int, workers: int) -> list[list[Event]]:
    """The first ``count`` baskets (and the returns they bring) split over ``workers`` queues by
    household, each queue in time order. Households go to the least loaded queue, largest first."""
    by_household: dict[int, list[Event]] = {}
    for index in range(count):
        utc = int(year.utc[index])
        events = by_household.setdefault(int(year.household[index]), [])
        events.append(Event(utc, SALE, index))
        back = data.returned_line(int(year.number[index]), int(year.end[index] - year.start[index]))
        if back is not None:
            events.append(Event(utc + back[1] * 86_400, RETURN, index))
    queues: list[list[Event]] = [[] for _ in range(max(1, workers))]
    for events in sorted(by_household.values(), key=len, reverse=True):
        min(queues, key=len).extend(events)
    for queue in queues:
        queue.sort(key=lambda e: (e.utc, e.kind, e.index))
    return [queue for queue in queues if queue]


async def replay(
    db: Database,
    tenant_id: int,
    program: Program,
    year: data.Year,
    count: int,
    *,
    workers: int = 8,
    campaigns: CampaignSet | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Stats:
    """Replays the first ``count`` baskets of the year; returns what it did. ``campaigns`` are the
    tenant's compiled campaigns (what the API's cache would hand the checkout)."""

    def caller(now: datetime) -> checkout.Caller:
        return checkout.Caller(
            db=db, tenant_id=tenant_id, program=program, now=now, campaigns=campaigns or CampaignSet()
        )

    async with db.read() as conn:
        done = await store.receipt_numbers(conn, tenant_id)
        returned = await store.returned_receipt_numbers(conn, tenant_id, RETURN_NUMBER)
    queues = plan(year, count, workers)
    pending_returns = [
        str(year.number[e.index])
        for q in queues
        for e in q
        if e.kind == RETURN and str(year.number[e.index]) in done
    ]
    async with db.read() as conn:
        receipt_ids = await store.receipt_ids(conn, tenant_id, pending_returns) if pending_returns else {}

    stats = Stats()
    advance = on_progress or (lambda n: None)
    started = time.perf_counter()
    checkpoints = [n for n in ANALYZE_AT if n > len(done)]
    analyzing: set[asyncio.Task[None]] = set()

    async def analyze() -> None:
        async with db.transaction() as conn:
            await store.analyze(conn)

    def counted() -> None:
        stats.receipts += 1
        if checkpoints and len(done) + stats.receipts >= checkpoints[0]:
            checkpoints.pop(0)
            task = asyncio.create_task(analyze())
            analyzing.add(task)
            task.add_done_callback(analyzing.discard)

    async def run(queue: list[Event]) -> None:
        for event in queue:
            number = str(year.number[event.index])
            if event.kind == SALE:
                if number in done:
                    stats.skipped += 1
                    advance(1)
                    continue
                sale = year.sale(event.index)
                try:
                    result = await _sale(caller(sale.at), sale)
                except PatronError as exc:
                    _failed(stats, f"receipt {number}: {exc.code}: {exc.message}")
                else:
                    counted()
                    stats.points_spent += result["totals"]["points_spent"]
                    stats.points_earned += result["totals"]["points_earned"]
                    if sale.return_of is not None:
                        receipt_ids[number] = result["id"]
                advance(1)
            elif number not in returned and number in receipt_ids:
                sale = year.sale(event.index)
                assert sale.return_of is not None
                try:
                    await _return(
                        caller(sale.at + timedelta(days=sale.return_of[1])), sale, receipt_ids[number]
                    )
                except PatronError as exc:
                    _failed(stats, f"return of {number}: {exc.code}: {exc.message}")
                else:
                    stats.returns += 1

    await asyncio.gather(*(run(queue) for queue in queues))
    await asyncio.gather(*analyzing)
    stats.seconds = time.perf_counter() - started
    return stats


async def _sale(caller: checkout.Caller, sale: data.Sale) -> dict[str, Any]:
    body = ReceiptIn.model_validate(sale.receipt())
    result, _ = await checkout.confirm(caller, body)
    return result


async def _return(caller: checkout.Caller, sale: data.Sale, receipt_id: str) -> None:
    """One unit of one line comes back, some days after the sale (the caller's clock says when)."""
    assert sale.return_of is not None
    body = ReturnIn.model_validate(
        {"number": RETURN_NUMBER, "lines": [{"line": sale.return_of[0], "quantity": 1}]}
    )
    await returning.return_units(caller, receipt_id, body)


def _failed(stats: Stats, message: str) -> None:
    stats.errors += 1
    if len(stats.first_errors) < 10:
        stats.first_errors.append(message)
