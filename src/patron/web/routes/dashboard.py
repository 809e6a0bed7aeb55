"""The dashboard: the program's figures over a window, as charts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from starlette.responses import Response

from patron import clock
from patron.web import dashboard as dash
from patron.web import render, rollup, rollup_store
from patron.web import report_store as reports
from patron.web.auth import Admin, Viewer

router = APIRouter()
T = TypeVar("T")


async def _read(admin: Admin, query: Callable[..., Awaitable[T]], *args: Any) -> T:
    """One query on its own pooled connection, so that the dashboard's queries run side by side."""
    async with admin.db.read() as conn:
        return await query(conn, *args)


async def figures(admin: Admin, days: int, *, live: bool = False) -> dict[str, Any]:
    """Everything the dashboard shows, for the window of ``days`` days: closed days from the
    rollup and the days since live, or (``live``) every figure from the live queries."""
    program, tenant, now = admin.program, admin.tenant_id, admin.now()
    tz = program.timezone
    latest = await _read(admin, reports.latest_receipt_at, tenant)
    win = dash.window(days, now, tz, latest)
    until = win.until
    tiers = program.effective_tiers
    tier_since = until - timedelta(days=program.tier_window_days)
    boundary = None if live else await rollup.refresh(admin.db, tenant, tz, now)

    # Each query on its own pooled connection, all at once; the tasks keep their types.
    def read(query: Callable[..., Awaitable[T]], *args: Any) -> asyncio.Task[T]:
        return asyncio.create_task(_read(admin, query, *args))

    joined_task = read(reports.members_by_join_day, tenant, tz)
    held_task = read(reports.outstanding_now, tenant, now)
    tiers_task = read(reports.tier_counts, tenant, [t.threshold for t in tiers], tier_since, until)
    if boundary is None:
        flows, base, active_day, campaigns = await _live_days(admin, win, now, read)
    else:
        flows, base, active_day, campaigns = await _rollup_days(admin, win, now, boundary, read)
    joined, held, tier_rows = await joined_task, await held_task, await tiers_task

    dates = win.dates
    buckets = dash.Buckets.of(dates, win.weekly)
    receipts_day = dash.flow(flows["receipts"], dates)
    discount_day = dash.flow(flows["discount"], dates)
    paid_day = dash.flow(flows["paid"], dates)
    issued_day = dash.flow(flows["issued"], dates)
    spent_day = dash.flow(flows["spent"], dates)
    expired_day = dash.flow(flows["expired"], dates)
    held_day = dash.outstanding(base, flows["net"], flows["expired"], dates)
    members = dash.member_counts(joined, win.first, win.last)
    members_day = dash.running(members["before"], dash.per_day(joined, "joined"), dates)

    labels = buckets.labels
    sales_chart = dash.combo(
        labels,
        [
            dash.series("Receipts", buckets.total(receipts_day), dash.PALETTE[0]),
            dash.series(
                f"Active members ({dash.ACTIVE_DAYS} days)",
                buckets.last(active_day),
                dash.PALETTE[1],
                kind="line",
                axis="y2",
            ),
        ],
        right_axis="members",
    )
    points_chart = dash.combo(
        labels,
        [
            dash.series("Issued", buckets.total(issued_day), dash.PALETTE[3]),
            dash.series("Spent", buckets.total(spent_day), dash.PALETTE[0]),
            dash.series("Expired", buckets.total(expired_day), dash.PALETTE[2]),
            dash.series("Outstanding", buckets.last(held_day), dash.PALETTE[4], kind="line", axis="y2"),
        ],
        right_axis="outstanding points",
    )
    money_chart = dash.combo(
        labels,
        [
            dash.series("Discounts given", buckets.total(discount_day), dash.PALETTE[1]),
            dash.series(
                "Paid by customers, net of returns",
                buckets.total(paid_day),
                dash.PALETTE[6],
                kind="line",
                axis="y2",
            ),
        ],
        right_axis=program.currency,
    )
    members_chart = dash.combo(
        labels, [dash.series("Members", buckets.last(members_day), dash.PALETTE[0], kind="line")]
    )

    by_bucket = {int(row["bucket"]): int(row["members"]) for row in tier_rows}
    tier_table: list[dict[str, Any]] = (
        [{"code": "—", "name": "below every tier", "members": by_bucket.get(0, 0)}]
        if by_bucket.get(0)
        else []
    )
    tier_table += [
        {"code": t.code, "name": t.name, "members": by_bucket.get(i, 0)} for i, t in enumerate(tiers, start=1)
    ]
    tier_chart = dash.doughnut([t["name"] for t in tier_table], [t["members"] for t in tier_table])

    point_value = program.point_value
    campaign_rows = [
        {**row, "cost": Decimal(row["discount"]) + Decimal(row["points"]) * point_value} for row in campaigns
    ]
    campaign_chart = dash.horizontal_bars(
        [str(row["name"] or row["id"]) for row in campaign_rows[:12]],
        [
            dash.series("Discounts", [row["discount"] for row in campaign_rows[:12]], dash.PALETTE[1]),
            dash.series(
                "Points (money value)",
                [Decimal(row["points"]) * point_value for row in campaign_rows[:12]],
                dash.PALETTE[4],
            ),
        ],
    )
    campaign_chart["options"]["scales"] = {
        "x": {"stacked": True, "beginAtZero": True},
        "y": {"stacked": True},
    }

    held_now = held["available"] + held["pending"]
    return {
        "window": win,
        "ranges": dash.RANGES,
        "latest": latest,
        "kpi": {
            "members": members["all"],
            "new_members": members["joined"],
            "active": active_day[-1] if active_day else 0,
            "receipts": sum(receipts_day),
            "paid": sum(paid_day, Decimal(0)),
            "issued": sum(issued_day),
            "spent": sum(spent_day),
            "expired": sum(expired_day),
            "outstanding": held_now,
            "pending": held["pending"],
            "liability": held_now * point_value,
            "discounts": sum(discount_day, Decimal(0)),
            "debt": members["debt"],
        },
        "charts": {
            "sales": sales_chart,
            "points": points_chart,
            "money": money_chart,
            "members": members_chart,
            "tiers": tier_chart,
            "campaigns": campaign_chart,
        },
        "tiers": tier_table,
        "campaigns": campaign_rows,
    }


Reader = Callable[..., "asyncio.Task[Any]"]
FLOWS = ("receipts", "paid", "discount", "issued", "spent", "net", "expired")
MONEY = ("paid", "discount")


async def _live_days(
    admin: Admin, win: dash.Window, now: datetime, read: Reader
) -> tuple[dict[str, dict[date, Any]], int, list[int], list[dict[str, Any]]]:
    """Per-day flows, the outstanding level before the window, active members per day and the
    campaign rows, all from the live queries over the window."""
    tenant, tz = admin.tenant_id, admin.program.timezone
    since, until = win.since, win.until
    active_since = since - timedelta(days=dash.ACTIVE_DAYS - 1)
    receipts_task = read(reports.receipts_by_day, tenant, since, until, tz)
    active_task = read(reports.active_member_changes, tenant, active_since, until, tz, dash.ACTIVE_DAYS)
    points_task = read(reports.points_by_day, tenant, since, until, tz)
    expired_task = read(reports.expired_by_day, tenant, since, min(until, now), tz)
    base_task = read(reports.outstanding_at, tenant, since)
    campaigns_task = read(reports.campaign_results, tenant, since, until)
    merged = rollup.merge_days(await receipts_task, await points_task, await expired_task)
    flows = {key: {day: row[key] for day, row in merged.items()} for key in FLOWS}
    active_day = dash.rolling_active(await active_task, win.dates)
    return flows, await base_task, active_day, await campaigns_task


async def _rollup_days(
    admin: Admin, win: dash.Window, now: datetime, boundary: date, read: Reader
) -> tuple[dict[str, dict[date, Any]], int, list[int], list[dict[str, Any]]]:
    """The same as ``_live_days``: days before ``boundary`` from the rollup, the rest live."""
    tenant, tz, zone = admin.tenant_id, admin.program.timezone, win.zone
    since, until = win.since, win.until
    tail_since = clock.local_midnight(boundary, zone)
    tail = tail_since < until
    rollup_task = read(rollup_store.days_before, tenant, boundary)
    campaigns_task = read(
        rollup_store.campaign_results,
        tenant,
        win.first,
        max(win.first, min(boundary, win.last + timedelta(days=1))),
        max(tail_since, since),
        until,
    )
    if tail:
        active_first = max(boundary, win.first)
        active_since = clock.local_midnight(active_first - timedelta(days=dash.ACTIVE_DAYS - 1), zone)
        receipts_task = read(reports.receipts_by_day, tenant, tail_since, until, tz)
        points_task = read(reports.points_by_day, tenant, tail_since, until, tz)
        expired_task = read(reports.expired_by_day, tenant, tail_since, min(until, now), tz)
        active_task = read(reports.active_member_changes, tenant, active_since, until, tz, dash.ACTIVE_DAYS)
    rows = await rollup_task
    merged = {row["day"]: row for row in rows}
    tail_active: dict[date, int] = {}
    if tail:
        merged |= rollup.merge_days(await receipts_task, await points_task, await expired_task)
        tail_dates = [d for d in win.dates if d >= active_first]
        tail_active = dict(zip(tail_dates, dash.rolling_active(await active_task, tail_dates), strict=True))
    # money of a day without receipts is absent, as in the live query (not a Decimal zero)
    flows = {
        key: {day: row[key] for day, row in merged.items() if row["receipts"] or key not in MONEY}
        for key in FLOWS
    }
    base = sum(int(row["net"]) - int(row["expired"]) for day, row in merged.items() if day < win.first)
    stored_active = {row["day"]: int(row["active"]) for row in rows}
    active_day = [tail_active[d] if d in tail_active else stored_active.get(d, 0) for d in win.dates]
    return flows, base, active_day, await campaigns_task


class FigureCache:
    """The dashboard's figures per (tenant, days, program version), kept ``ttl`` seconds.

    A dashboard aggregates the whole window on every load; people reload it and switch ranges
    all day, and figures a minute old serve them as well. The page says when its figures were
    computed and has a refresh link (``fresh=1``) that recomputes them at once."""

    def __init__(self, ttl: float = 60.0, size: int = 256) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[tuple[int, int, int], tuple[float, dict[str, Any]]] = {}

    def get(self, key: tuple[int, int, int]) -> dict[str, Any] | None:
        found = self._entries.get(key)
        if found is None or time.monotonic() - found[0] > self.ttl:
            return None
        return found[1]

    def put(self, key: tuple[int, int, int], value: dict[str, Any]) -> None:
        if len(self._entries) >= self.size:
            oldest = min(self._entries, key=lambda k: self._entries[k][0])
            del self._entries[oldest]
        self._entries[key] = (time.monotonic(), value)


cache = FigureCache()


@router.get("/")
async def dashboard(
    request: Request, admin: Viewer, days: int = dash.DEFAULT_DAYS, fresh: bool = False, live: bool = False
) -> Response:
    """``fresh=1`` recomputes the figures; ``live=1`` recomputes them without the daily rollup
    (every day from the live queries: slower, the same numbers)."""
    if live:
        computed = await figures(admin, days, live=True) | {"computed_at": admin.now()}
        return render.page(request, "dashboard.html", admin, **computed)
    key = (admin.tenant_id, days, admin.user.version)
    found = None if fresh else cache.get(key)
    if found is None:
        found = await figures(admin, days) | {"computed_at": admin.now()}
        cache.put(key, found)
    return render.page(request, "dashboard.html", admin, **found)
