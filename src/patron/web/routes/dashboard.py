"""The dashboard: the program's figures over a window, as charts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from starlette.responses import Response

from patron.web import dashboard as dash
from patron.web import render
from patron.web import report_store as reports
from patron.web.auth import Admin, Viewer

router = APIRouter()
T = TypeVar("T")


async def _read(admin: Admin, query: Callable[..., Awaitable[T]], *args: Any) -> T:
    """One query on its own pooled connection, so that the dashboard's queries run side by side."""
    async with admin.db.read() as conn:
        return await query(conn, *args)


async def figures(admin: Admin, days: int) -> dict[str, Any]:
    """Everything the dashboard shows, for the window of ``days`` days."""
    program, tenant, now = admin.program, admin.tenant_id, admin.now()
    tz = program.timezone
    latest = await _read(admin, reports.latest_receipt_at, tenant)
    win = dash.window(days, now, tz, latest)
    since, until = win.since, win.until
    expired_until = min(until, now)
    tiers = program.effective_tiers
    tier_since = until - timedelta(days=program.tier_window_days)

    # Each query on its own pooled connection, all at once; the tasks keep their types.
    def read(query: Callable[..., Awaitable[T]], *args: Any) -> asyncio.Task[T]:
        return asyncio.create_task(_read(admin, query, *args))

    joined_task = read(reports.members_by_join_day, tenant, tz)
    receipts_task = read(reports.receipts_by_day, tenant, since, until, tz)
    active_since = since - timedelta(days=dash.ACTIVE_DAYS - 1)
    active_task = read(reports.active_member_changes, tenant, active_since, until, tz, dash.ACTIVE_DAYS)
    points_task = read(reports.points_by_day, tenant, since, until, tz)
    expired_task = read(reports.expired_by_day, tenant, since, expired_until, tz)
    base_task = read(reports.outstanding_at, tenant, since)
    held_task = read(reports.outstanding_now, tenant, now)
    tiers_task = read(reports.tier_counts, tenant, [t.threshold for t in tiers], tier_since, until)
    campaigns_task = read(reports.campaign_results, tenant, since, until)
    joined, receipts = await joined_task, await receipts_task
    active, points, expired = await active_task, await points_task, await expired_task
    base, held, tier_rows, campaigns = (
        await base_task,
        await held_task,
        await tiers_task,
        await campaigns_task,
    )

    dates = win.dates
    buckets = dash.Buckets.of(dates, win.weekly)
    receipts_day = dash.flow(dash.per_day(receipts, "receipts"), dates)
    discount_day = dash.flow(dash.per_day(receipts, "discount"), dates)
    paid_day = dash.flow(dash.per_day(receipts, "paid"), dates)
    issued_day = dash.flow(dash.per_day(points, "issued"), dates)
    spent_day = dash.flow(dash.per_day(points, "spent"), dates)
    expired_day = dash.flow(dash.per_day(expired, "expired"), dates)
    active_day = dash.rolling_active(active, dates)
    held_day = dash.outstanding(base, dash.per_day(points, "net"), dash.per_day(expired, "expired"), dates)
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
                "Paid by customers", buckets.total(paid_day), dash.PALETTE[6], kind="line", axis="y2"
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
    request: Request, admin: Viewer, days: int = dash.DEFAULT_DAYS, fresh: bool = False
) -> Response:
    key = (admin.tenant_id, days, admin.user.version)
    found = None if fresh else cache.get(key)
    if found is None:
        found = await figures(admin, days) | {"computed_at": admin.now()}
        cache.put(key, found)
    return render.page(request, "dashboard.html", admin, **found)
