"""The dashboard's figures: the pure window and series helpers, then the page on real receipts
with a clock that moves, checked against what the API says about the same members."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI

from patron.db import migrate
from patron.db.pool import Database
from patron.web import dashboard as dash
from patron.web import rollup
from tests.conftest import ManualClock
from tests.integration.conftest import Tenant
from tests.integration.test_checkout import member_with, setup_shop
from tests.integration.test_cli import drop_database, new_database
from tests.integration.test_web import Browser, signed_in

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
async def admin_browser(app: FastAPI, db: Database, tenant: Tenant) -> AsyncIterator[Browser]:
    browser = await signed_in(app, db, tenant)
    yield browser
    await browser.client.aclose()


def test_the_window_ends_today_or_at_the_latest_receipt() -> None:
    recent = dash.window(30, NOW, "Europe/Moscow", NOW - timedelta(days=3))
    assert (recent.first, recent.last, recent.anchored) == (date(2026, 5, 17), date(2026, 6, 15), False)
    assert recent.since == datetime(2026, 5, 16, 21, 0, tzinfo=UTC)
    assert len(recent.dates) == 30 and not recent.weekly
    old = dash.window(365, NOW, "UTC", datetime(2025, 12, 31, 23, 0, tzinfo=UTC))
    assert (old.last, old.anchored, old.days) == (date(2025, 12, 31), True, 365)
    week = dash.window(30, NOW, "UTC", NOW - timedelta(days=6, hours=23))
    assert (week.last, week.anchored) == (date(2026, 6, 15), False)
    assert dash.window(7, NOW, "UTC", None).days == dash.DEFAULT_DAYS
    assert dash.window(365, NOW, "UTC", None).weekly


def test_buckets_sum_flows_and_keep_the_last_level_by_week() -> None:
    days = [date(2026, 6, 1) + timedelta(days=i) for i in range(10)]  # Monday 1 June to Wednesday 10
    weeks = dash.Buckets.of(days, weekly=True)
    assert weeks.labels == ["2026-06-01", "2026-06-08"]
    assert weeks.total([1] * 10) == [7, 3]
    assert weeks.last(list(range(10))) == [6, 9]
    assert dash.Buckets.of(days, weekly=False).labels[3] == "2026-06-04"


def test_rolling_active_members_and_outstanding_points_from_changes() -> None:
    days = [date(2026, 6, 1) + timedelta(days=i) for i in range(4)]
    changes = [
        {"day": date(2026, 5, 20), "change": 2},  # two members became active before the window
        {"day": date(2026, 6, 2), "change": 1},
        {"day": date(2026, 6, 3), "change": -2},
    ]
    assert dash.rolling_active(changes, days) == [2, 3, 1, 1]
    net = {date(2026, 6, 1): 100, date(2026, 6, 3): -40}
    expired = {date(2026, 6, 2): 10}
    assert dash.outstanding(500, net, expired, days) == [600, 590, 550, 550]


def test_members_count_from_the_day_they_joined() -> None:
    rows = [
        {"day": date(2026, 5, 1), "joined": 3, "debt": 10},
        {"day": date(2026, 6, 1), "joined": 2, "debt": 0},
        {"day": date(2026, 6, 20), "joined": 1, "debt": 5},
    ]
    counts = dash.member_counts(rows, date(2026, 6, 1), date(2026, 6, 15))
    assert counts == {"all": 6, "before": 3, "joined": 2, "debt": 15}


def test_marked_utc_days_give_the_local_days_to_sum_again() -> None:
    closed = date(2026, 6, 10)
    base, active = rollup.dirty_days([date(2026, 5, 1), date(2026, 6, 9)], closed)
    # a UTC day touches the local days either side of it; nothing on or after the closed limit
    assert base == {date(2026, 4, 30), date(2026, 5, 1), date(2026, 5, 2), date(2026, 6, 8), date(2026, 6, 9)}
    # active members change on each of those days and the 29 after it, up to the limit
    assert min(active) == date(2026, 4, 30) and max(active) == date(2026, 6, 9)
    assert date(2026, 5, 31) in active and date(2026, 6, 1) not in active and date(2026, 6, 7) not in active
    assert rollup.ranges([date(2026, 5, 3), date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 7)]) == [
        (date(2026, 5, 1), date(2026, 5, 4)),
        (date(2026, 5, 7), date(2026, 5, 8)),
    ]


def chart(page: str, name: str) -> dict[str, Any]:
    found = re.search(rf'<script type="application/json" id="chart-{name}">(.*?)</script>', page, re.S)
    assert found, name
    return dict(json.loads(found.group(1)))


def kpi(page: str, name: str) -> str:
    found = re.search(rf'data-kpi="{name}">([^<]+)<', page)
    assert found, name
    return found.group(1).strip()


def number(text: str) -> int:
    return int(re.sub(r"[^0-9-]", "", text))


async def test_dashboard_figures_agree_with_the_ledger(
    admin_browser: Browser, tenant: Tenant, clock: ManualClock
) -> None:
    now = datetime.now(UTC)  # members' join times come from the database's clock
    clock.fixed = now - timedelta(days=40)
    await setup_shop(tenant, activation_delay_days=0, points_valid_days=30, earn_percent="10")
    anna = await member_with(tenant, points=100, phone="+79001230001", valid_days=5)  # expires unused
    boris = await member_with(tenant, phone="+79001230002")
    receipts = [
        (anna, 38, "1000.00", 0),
        (boris, 20, "500.00", 0),
        (anna, 10, "300.00", 50),
        (boris, 2, "200.00", 0),
    ]
    for number_, (member, days_ago, price, spend) in enumerate(receipts, start=1):
        clock.fixed = now - timedelta(days=days_ago)
        body = {
            "number": f"D{number_}",
            "store": "MSK",
            "member": {"id": member},
            "spend_points": spend,
            "lines": [{"sku": "SKI", "quantity": 1, "price": price}],
        }
        assert (await tenant.call("POST", "/v1/receipts", body)).status_code == 201
    clock.fixed = now
    held = 0
    for member in (anna, boris):
        balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
        held += balance["available"] + balance["pending"]

    page = (await admin_browser.get("/", params={"days": 90})).text
    assert number(kpi(page, "members")) == 2
    assert number(kpi(page, "receipts")) == 4
    # 100 adjusted + 10 % of 1000, 500, 250 (300 less 50 points) and 200
    assert number(kpi(page, "issued")) == 100 + 100 + 50 + 25 + 20
    assert number(kpi(page, "spent")) == 50
    # Anna's 100 expired 5 days after they were given; her first receipt's 100 points expired too,
    # less the 50 she spent from them (soonest expiry first).
    assert number(kpi(page, "expired")) == 100 + 50
    assert number(kpi(page, "outstanding")) == held == 50 + 25 + 20 - 0
    assert number(kpi(page, "active")) == 2  # both bought within 30 days of today

    points = chart(page, "points")
    outstanding = next(d for d in points["data"]["datasets"] if d["label"] == "Outstanding")["data"]
    assert outstanding[-1] == held
    assert min(outstanding) >= 0
    issued = next(d for d in points["data"]["datasets"] if d["label"] == "Issued")["data"]
    assert sum(issued) == 295
    sales = chart(page, "sales")
    assert sum(sales["data"]["datasets"][0]["data"]) == 4
    assert len(sales["data"]["labels"]) == 90
    tiers = chart(page, "tiers")
    assert sum(tiers["data"]["datasets"][0]["data"]) == 2

    yearly = (await admin_browser.get("/", params={"days": 365})).text
    assert len(chart(yearly, "sales")["data"]["labels"]) in (53, 54)  # by week

    # A probe: cancelling Anna's first receipt now takes its earned points back from its own lot,
    # expired 8 days ago with 50 left; counted from lots' remainders now, that rewrote the past:
    # 50 fewer expired, and the outstanding line 50 higher on each day since.
    first = (await tenant.call("GET", "/v1/receipts", params={"store": "MSK", "number": "D1"})).json()
    assert (await tenant.call("POST", f"/v1/receipts/{first['id']}/cancel")).status_code == 200
    clock.fixed = now + timedelta(seconds=1)  # the dashboard counts what happened before its moment
    held_now = 0
    for member in (anna, boris):
        balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
        held_now += balance["available"] + balance["pending"]
    for params in ({"days": 90, "fresh": "1"}, {"days": 90, "live": "1"}):
        after = (await admin_browser.get("/", params=params)).text
        assert number(kpi(after, "expired")) == 100 + 50 - 50  # the 50 taken back today, once expired
        line = next(d for d in chart(after, "points")["data"]["datasets"] if d["label"] == "Outstanding")[
            "data"
        ]
        assert line[:-1] == outstanding[:-1] and line[-1] == held_now


async def test_an_empty_program_has_a_dashboard_too(admin_browser: Browser) -> None:
    page = await admin_browser.get("/")
    assert page.status_code == 200
    assert number(kpi(page.text, "receipts")) == 0
    assert "No campaign touched a receipt" in page.text


async def test_campaign_cost_and_reach_net_of_returns(admin_browser: Browser, tenant: Tenant) -> None:
    await setup_shop(tenant, activation_delay_days=0)
    body = {
        "name": "Ski tenth",
        "condition": "sport = 'ski'",
        "effect": {"type": "discount_percent", "value": "10"},
    }
    assert (await tenant.call("POST", "/v1/campaigns", body)).status_code == 201
    extra = {
        "name": "Ski points",
        "condition": "sport = 'ski'",
        "effect": {"type": "points_fixed", "value": "40"},
    }
    assert (await tenant.call("POST", "/v1/campaigns", extra)).status_code == 201
    member = await member_with(tenant, phone="+79001230009")
    sale = {
        "number": "C1",
        "store": "MSK",
        "member": {"id": member},
        "lines": [
            {"sku": "SKI", "quantity": 2, "price": "1000.00"},
            {"sku": "TEE", "quantity": 1, "price": "500.00"},
        ],
    }
    confirmed = await tenant.call("POST", "/v1/receipts", sale)
    assert confirmed.status_code == 201
    receipt_id = confirmed.json()["id"]
    back = {"number": "C1-R", "lines": [{"line": 1, "quantity": 1}]}
    assert (await tenant.call("POST", f"/v1/receipts/{receipt_id}/returns", back)).status_code == 201
    page = (await admin_browser.get("/")).text
    rows = re.findall(
        r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>\s*"
        r"<td class=\"num\">([^<]+)</td><td class=\"num\">([^<]+)</td><td class=\"num\">([^<]+)</td>",
        page,
    )
    by_name = {
        name: (receipts, members, discount, points, cost)
        for name, receipts, members, discount, points, cost in rows
    }
    # half of the skis came back, and half of what the campaigns gave with them
    assert by_name["Ski tenth"] == ("1", "1", "RUB100.00", "0", "RUB100.00")
    assert by_name["Ski points"] == ("1", "1", "RUB0.00", "20", "RUB20.00")
    assert chart(page, "campaigns")["data"]["labels"] == ["Ski tenth", "Ski points"]


async def test_figures_are_kept_a_minute_unless_refreshed(admin_browser: Browser, tenant: Tenant) -> None:
    await setup_shop(tenant)
    sale = {"store": "MSK", "lines": [{"sku": "TEE", "quantity": 1, "price": "100.00"}]}
    assert (await tenant.call("POST", "/v1/receipts", {"number": "K1", **sale})).status_code == 201
    first = (await admin_browser.get("/", params={"days": 30})).text
    assert number(kpi(first, "receipts")) == 1
    assert (await tenant.call("POST", "/v1/receipts", {"number": "K2", **sale})).status_code == 201
    kept = (await admin_browser.get("/", params={"days": 30})).text
    assert number(kpi(kept, "receipts")) == 1
    assert "data-refresh" in kept
    fresh = (await admin_browser.get("/", params={"days": 30, "fresh": "1"})).text
    assert number(kpi(fresh, "receipts")) == 2


async def test_the_daily_rollup_gives_the_live_figures(
    admin_browser: Browser, tenant: Tenant, clock: ManualClock, db: Database
) -> None:
    """Closed days come from the rollup, the rest live: every page equals the one computed live,
    before and after backdated receipts, returns and a cancellation change closed days."""
    now = datetime.now(UTC)  # the rollup closes days by the database's clock
    clock.fixed = now - timedelta(days=70)
    await setup_shop(tenant, activation_delay_days=0, points_valid_days=30, earn_percent="10")
    for body in (
        {
            "name": "Ski tenth",
            "condition": "sport = 'ski'",
            "effect": {"type": "discount_percent", "value": "10"},
        },
        {
            "name": "Tee points",
            "condition": "category = 'tees'",
            "effect": {"type": "points_fixed", "value": "15"},
        },
    ):
        assert (await tenant.call("POST", "/v1/campaigns", body)).status_code == 201
    anna = await member_with(tenant, points=100, phone="+79001230011", valid_days=5)  # expires unused
    boris = await member_with(tenant, phone="+79001230012")
    vera = await member_with(tenant, phone="+79001230013")
    sold: dict[str, str] = {}

    async def sale(
        name: str, member: str | None, days_ago: float, sku: str, price: str, spend: int = 0
    ) -> None:
        clock.fixed = now - timedelta(days=days_ago)
        body: dict[str, Any] = {
            "number": name,
            "store": "MSK" if len(sold) % 2 else "VVO",
            "spend_points": spend,
            "lines": [
                {"sku": sku, "quantity": 2, "price": price},
                {"sku": "TEE", "quantity": 1, "price": "300.00"},
            ],
        }
        if member:
            body["member"] = {"id": member}
        response = await tenant.call("POST", "/v1/receipts", body)
        assert response.status_code == 201, response.text
        sold[name] = response.json()["id"]

    for name, member, days_ago, sku, price, spend in (
        ("A1", anna, 66, "SKI", "1000.00", 50),
        ("B1", boris, 45, "POLE", "400.00", 0),
        ("V1", vera, 47.5, "SKI", "800.00", 0),
        ("X1", None, 41, "TEE", "100.00", 0),
        ("A2", anna, 25, "SKI", "500.00", 0),
        ("B2", boris, 20, "SKI", "700.00", 30),
        ("V2", vera, 9, "POLE", "250.00", 0),
        ("A3", anna, 1.2, "SKI", "900.00", 20),
    ):
        await sale(name, member, days_ago, sku, price, spend)
    clock.fixed = now - timedelta(days=30)
    back = {"number": "V1-R", "lines": [{"line": 1, "quantity": 1}]}
    assert (await tenant.call("POST", f"/v1/receipts/{sold['V1']}/returns", back)).status_code == 201
    clock.fixed = now

    async def same_as_live() -> None:
        for days in dash.RANGES:
            live = (await admin_browser.get("/", params={"days": days, "live": 1})).text
            rolled = (await admin_browser.get("/", params={"days": days, "fresh": 1})).text
            assert number(kpi(live, "receipts")) > 0
            assert rolled == live, days

    await same_as_live()
    async with db.read() as conn:
        state = await (
            await conn.execute(
                "SELECT closed_until FROM dashboard_state WHERE tenant_id = %s", (tenant.tenant_id,)
            )
        ).fetchone()
        held = await (
            await conn.execute(
                "SELECT sum(receipts) AS n FROM dashboard_days WHERE tenant_id = %s", (tenant.tenant_id,)
            )
        ).fetchone()
    assert state is not None and state["closed_until"] >= (now - timedelta(days=3)).date()
    assert held is not None and held["n"] == 7  # every receipt but the one of 1.2 days ago

    # Closed days change: a receipt backdated into them, a whole return and a cancellation of old
    # receipts, a return put back into a lot that expired long ago.
    await sale("B0", boris, 58, "SKI", "600.00")
    clock.fixed = now
    whole = {"number": "B1-R", "lines": [{"line": 1, "quantity": 2}, {"line": 2, "quantity": 1}]}
    assert (await tenant.call("POST", f"/v1/receipts/{sold['B1']}/returns", whole)).status_code == 201
    assert (await tenant.call("POST", f"/v1/receipts/{sold['A1']}/cancel", {})).status_code == 200
    async with db.read() as conn:
        marks = await (
            await conn.execute(
                "SELECT count(*) AS n FROM dashboard_marks WHERE tenant_id = %s", (tenant.tenant_id,)
            )
        ).fetchone()
    assert marks is not None and marks["n"] >= 3
    await same_as_live()
    async with db.read() as conn:
        marks = await (
            await conn.execute(
                "SELECT count(*) AS n FROM dashboard_marks WHERE tenant_id = %s", (tenant.tenant_id,)
            )
        ).fetchone()
    assert marks is not None and marks["n"] == 0


async def test_a_cancelled_sale_counts_nowhere(
    admin_browser: Browser, tenant: Tenant, clock: ManualClock
) -> None:
    """A cancelled receipt is no purchase (docs/backoffice.md): like the money beside them, the
    receipts, active members, members' join days and campaigns' receipts and members leave it out,
    live and from the rollup (a probe saw them count a sale its cancel had voided)."""
    now = datetime.now(UTC)  # the rollup closes days, and members join, by the database's clock
    clock.fixed = now
    await setup_shop(tenant, activation_delay_days=0)
    ski = {
        "name": "Ski tenth",
        "condition": "sport = 'ski'",
        "effect": {"type": "discount_percent", "value": "10"},
    }
    assert (await tenant.call("POST", "/v1/campaigns", ski)).status_code == 201
    anna = await member_with(tenant, phone="+79001230021")
    boris = await member_with(tenant, phone="+79001230022")
    tee = {
        "number": "T1",
        "store": "MSK",
        "member": {"id": boris},
        "lines": [{"sku": "TEE", "quantity": 1, "price": "100.00"}],
    }
    assert (await tenant.call("POST", "/v1/receipts", tee)).status_code == 201

    async def figures() -> list[Any]:
        shown = []
        for days in (30, 90):
            for how in ("fresh", "live"):
                page = (await admin_browser.get("/", params={"days": days, how: 1})).text
                paid = re.search(r'data-kpi="receipts">[^<]+</div><div class="sub">([^<]+)<', page)
                assert paid is not None
                campaigns = page[page.index("Campaigns: cost and reach") : page.index("<h2>Tiers")]
                shown.append(
                    [
                        kpi(page, "receipts"),
                        kpi(page, "active"),
                        paid.group(1),
                        chart(page, "sales"),
                        chart(page, "members"),
                        campaigns,
                    ]
                )
        return shown

    before = await figures()
    assert [b[:3] for b in before] == [["1", "1", "RUB100.00 paid, net of returns"]] * 4
    # Anna buys skis on a day the rollup has closed and today, the campaign applying; both cancelled.
    for number_, days_ago in (("A1", 40), ("A2", 0)):
        clock.fixed = now - timedelta(days=days_ago)
        body = {
            "number": number_,
            "store": "MSK",
            "member": {"id": anna},
            "lines": [{"sku": "SKI", "quantity": 1, "price": "1000.00"}],
        }
        sold = await tenant.call("POST", "/v1/receipts", body)
        assert sold.status_code == 201 and sold.json()["totals"]["discount"] == "100.00"
        clock.fixed = now
        assert (await tenant.call("POST", f"/v1/receipts/{sold.json()['id']}/cancel")).status_code == 200
    clock.fixed = now + timedelta(seconds=1)
    assert await figures() == before


def test_migration_0023_sums_the_rollup_again(database_url: str) -> None:
    """Days closed by the older queries counted cancelled receipts: the migration empties the
    rollup, which the next dashboard load sums again."""
    url = new_database(database_url, migrated=False)
    try:
        migrate.upgrade(url, "0022")
        with psycopg.connect(url, autocommit=True) as conn:
            tenant = conn.execute("INSERT INTO tenants (slug, settings) VALUES ('old', '{}') RETURNING id")
            tenant_id = tenant.fetchone()[0]  # type: ignore[index]
            conn.execute(
                "INSERT INTO dashboard_state (tenant_id, tz, closed_until) VALUES (%s, 'UTC', '2026-01-01')",
                (tenant_id,),
            )
            conn.execute(
                "INSERT INTO dashboard_days (tenant_id, day, receipts) VALUES (%s, '2025-12-01', 3)",
                (tenant_id,),
            )
        migrate.upgrade(url)
        with psycopg.connect(url) as conn:
            for table in ("dashboard_state", "dashboard_days"):
                assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
    finally:
        drop_database(url)


async def test_a_transaction_that_marks_its_own_days_skips_the_mark_triggers(
    tenant: Tenant, db: Database
) -> None:
    """Migration 0015: a bulk writer (``patron import``) sets ``patron.dashboard_marks`` to
    ``by_writer`` for its transaction and marks its days in one statement; the per-row triggers
    then leave its rows alone, and everyone else's rows are marked as before."""
    member = await member_with(tenant)
    backdated = (
        "INSERT INTO entries (tenant_id, member_id, kind, points, at)"
        " VALUES (%s, %s, 'adjust', 0, now() - interval '10 days')"
    )

    async def marks() -> int:
        async with db.read() as conn:
            row = await (
                await conn.execute(
                    "SELECT count(*) AS n FROM dashboard_marks WHERE tenant_id = %s", (tenant.tenant_id,)
                )
            ).fetchone()
        assert row is not None
        return int(row["n"])

    before = await marks()
    async with db.transaction() as conn:
        await conn.execute("SET LOCAL patron.dashboard_marks = 'by_writer'")
        await conn.execute(backdated, (tenant.tenant_id, member))
    assert await marks() == before
    async with db.transaction() as conn:  # the setting ended with its transaction
        await conn.execute(backdated, (tenant.tenant_id, member))
    assert await marks() == before + 1
