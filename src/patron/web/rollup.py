"""The dashboard's daily rollup: a closed day is added up once and read back on every load.

A local day is closed when it ended more than two days ago by the database's clock (and before
the app's ``now``). Closed days are summed with the live dashboard's own queries and kept in
``dashboard_days`` and the campaign tables (migration ``0008``); a window reads them and adds the
days since, live. Rows written later for a closed day (a backdated receipt, a return or a
cancellation of an old receipt, an import, an expired lot) leave a mark by trigger; the next
load sums the marked days again (and the 30 days of active members that follow each). A
refresher holds a per-tenant lock, so two never write at once. The one case a mark misses is a
transaction that stays open for more than a day before it commits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from patron import clock
from patron.db.pool import Connection, Database
from patron.web import dashboard as dash
from patron.web import report_store as reports
from patron.web import rollup_store as store

BEGINNING: Final = datetime(1900, 1, 1, tzinfo=UTC)
ZERO: Final = {"receipts": 0, "paid": 0, "discount": 0, "issued": 0, "spent": 0, "net": 0, "expired": 0}


def ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Days as contiguous ranges ``[first, after)``."""
    result: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if result and result[-1][1] == day:
            result[-1] = (result[-1][0], day + timedelta(days=1))
        else:
            result.append((day, day + timedelta(days=1)))
    return result


def dirty_days(marks: Sequence[date], closed_until: date) -> tuple[set[date], set[date]]:
    """The local days to sum again for marks on UTC days (a UTC day touches the local days either
    side of it), and the days whose active-member count they change (each and the next 29)."""
    base = {u + timedelta(days=k) for u in marks for k in (-1, 0, 1)}
    base = {d for d in base if d < closed_until}
    active = {d + timedelta(days=k) for d in base for k in range(dash.ACTIVE_DAYS)}
    return base, {d for d in active if d < closed_until}


def merge_days(
    receipts: Iterable[Mapping[str, Any]],
    points: Iterable[Mapping[str, Any]],
    expired: Iterable[Mapping[str, Any]],
) -> dict[date, dict[str, Any]]:
    """The per-day rows of the three live queries as one row per day."""
    days: dict[date, dict[str, Any]] = {}
    for rows, keys in (
        (receipts, ("receipts", "paid", "discount")),
        (points, ("issued", "spent", "net")),
        (expired, ("expired",)),
    ):
        for row in rows:
            day = days.setdefault(row["day"], dict(ZERO))
            for key in keys:
                day[key] = row[key]
    return days


async def _sum_days(
    conn: Connection, tenant_id: int, zone: ZoneInfo, tz: str, first: date | None, after: date
) -> date | None:
    """Sums days [first, after) (every day before ``after`` if ``first`` is None) into the rollup;
    returns the first day with a receipt."""
    since = BEGINNING if first is None else clock.local_midnight(first, zone)
    until = clock.local_midnight(after, zone)
    receipts = await reports.receipts_by_day(conn, tenant_id, since, until, tz)
    points = await reports.points_by_day(conn, tenant_id, since, until, tz)
    expired = await reports.expired_by_day(conn, tenant_id, since, until, tz)
    await store.write_base(conn, tenant_id, first, after, merge_days(receipts, points, expired))
    await store.write_campaigns(conn, tenant_id, first, after, since, until, tz)
    return min((row["day"] for row in receipts), default=None)


async def _sum_active(
    conn: Connection, tenant_id: int, zone: ZoneInfo, tz: str, first: date, after: date
) -> None:
    since = clock.local_midnight(first - timedelta(days=dash.ACTIVE_DAYS - 1), zone)
    until = clock.local_midnight(after, zone)
    changes = await reports.active_member_changes(conn, tenant_id, since, until, tz, dash.ACTIVE_DAYS)
    dates = [first + timedelta(days=i) for i in range((after - first).days)]
    await store.write_active(
        conn, tenant_id, first, after, dict(zip(dates, dash.rolling_active(changes, dates), strict=True))
    )


async def refresh(db: Database, tenant_id: int, tz: str, now: datetime) -> date:
    """Brings the rollup up to date and returns the first day it does not hold for this call."""
    zone = clock.zone(tz)
    async with db.transaction() as conn:
        found = await store.state(conn, tenant_id)
        assert found is not None
        limit = min(found["closable"], now).astimezone(zone).date()
        if found["tz"] == tz and not found["marked"] and found["closed_until"] >= limit:
            return limit
        await store.lock(conn, tenant_id)
        found = await store.state(conn, tenant_id)  # again: another refresher may have run meanwhile
        assert found is not None
        closed: date | None = found["closed_until"] if found["tz"] == tz else None
        if found["tz"] is not None and found["tz"] != tz:
            await store.reset(conn, tenant_id)
        marks = await store.take_marks(conn, tenant_id)
        if closed is None:
            first_receipt = await _sum_days(conn, tenant_id, zone, tz, None, limit)
            if first_receipt is not None and first_receipt < limit:
                await _sum_active(conn, tenant_id, zone, tz, first_receipt, limit)
        else:
            base, active = dirty_days(marks, closed)
            new = {closed + timedelta(days=i) for i in range((limit - closed).days)}
            for first, after in ranges(base | new):
                await _sum_days(conn, tenant_id, zone, tz, first, after)
            for first, after in ranges(active | new):
                await _sum_active(conn, tenant_id, zone, tz, first, after)
        await store.save_state(conn, tenant_id, tz, max(closed or limit, limit))
    return limit
