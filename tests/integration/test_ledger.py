"""The ledger over HTTP: adjustments, balances as of any moment, expiry without a job,
idempotency, concurrency, and the database's own guards."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from patron import verify
from patron.db.pool import Database
from tests.integration.conftest import Tenant
from tests.integration.test_api_conventions import assert_error


async def new_member(tenant: Tenant, phone: str = "+79001239999") -> str:
    response = await tenant.call("POST", "/v1/members", {"phone": phone})
    assert response.status_code == 201
    return str(response.json()["id"])


async def adjust(tenant: Tenant, member: str, points: int, key: str, **extra: object) -> dict[str, object]:
    response = await tenant.call(
        "POST", f"/v1/members/{member}/adjustments", {"key": key, "points": points, "reason": "test", **extra}
    )
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def balance(tenant: Tenant, member: str, at: str | None = None) -> dict[str, object]:
    params = {"at": at} if at else None
    response = await tenant.call("GET", f"/v1/members/{member}/balance", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_credit_and_debit_soonest_expiry_first(tenant: Tenant) -> None:
    member = await new_member(tenant)
    await adjust(tenant, member, 100, "a", valid_days=30)
    await adjust(tenant, member, 50, "b", valid_days=5)
    debit = await adjust(tenant, member, -70, "c")
    assert debit["points"] == -70
    lots = (await tenant.call("GET", f"/v1/members/{member}/lots")).json()
    by_points = {lot["points"]: lot["remaining"] for lot in lots}
    assert by_points == {50: 0, 100: 80}  # the 5-day lot went first
    assert (await balance(tenant, member))["available"] == 80
    assert all(lot["kind"] == "adjustment" and lot["source"] for lot in lots)


async def test_a_repeated_adjustment_key_counts_once(tenant: Tenant) -> None:
    member = await new_member(tenant)
    first = await tenant.call(
        "POST", f"/v1/members/{member}/adjustments", {"key": "k1", "points": 40, "reason": "r"}
    )
    again = await tenant.call(
        "POST", f"/v1/members/{member}/adjustments", {"key": "k1", "points": 40, "reason": "r"}
    )
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert (await balance(tenant, member))["available"] == 40
    # contract 5: the same key again answers with the first result, whatever the rest says
    different = {"key": "k1", "points": -41, "reason": "other", "valid_days": 3}
    repeat = await tenant.call("POST", f"/v1/members/{member}/adjustments", different)
    assert repeat.status_code == 200 and repeat.json() == first.json()
    assert (await balance(tenant, member))["available"] == 40
    other_member = await new_member(tenant, "+79001238888")  # a key belongs to its member
    fresh = await tenant.call("POST", f"/v1/members/{other_member}/adjustments", {**different, "points": 41})
    assert fresh.status_code == 201 and (await balance(tenant, other_member))["available"] == 41


async def test_a_blank_key_or_reason_is_refused_and_an_unencoded_plus_is_named(tenant: Tenant) -> None:
    member = await new_member(tenant)
    for field in ("key", "reason"):
        body = {"key": "k", "points": 5, "reason": "r", field: "   "}
        refused = await tenant.call("POST", f"/v1/members/{member}/adjustments", body)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == field
    assert (await balance(tenant, member))["available"] == 0
    unencoded = await tenant.call("GET", f"/v1/members/{member}/balance?at=2026-12-06T10:00:00+01:00")
    assert unencoded.status_code == 422 and "write its + as %2B" in unencoded.json()["error"]["message"]


async def test_concurrent_repeats_of_one_key_count_once(tenant: Tenant) -> None:
    member = await new_member(tenant)
    body = {"key": "same", "points": 25, "reason": "r"}
    responses = await asyncio.gather(
        *[tenant.call("POST", f"/v1/members/{member}/adjustments", body) for _ in range(8)]
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert (await balance(tenant, member))["available"] == 25


async def test_debit_beyond_balance_is_409_and_changes_nothing(tenant: Tenant) -> None:
    member = await new_member(tenant)
    await adjust(tenant, member, 30, "a")
    response = await tenant.call(
        "POST", f"/v1/members/{member}/adjustments", {"key": "b", "points": -31, "reason": "r"}
    )
    assert_error(response, 409, "insufficient_points")
    assert (await balance(tenant, member))["available"] == 30
    history = (await tenant.call("GET", f"/v1/members/{member}/history")).json()["items"]
    assert len(history) == 1


async def test_twenty_concurrent_debits_of_ten_against_one_hundred(tenant: Tenant) -> None:
    member = await new_member(tenant)
    await adjust(tenant, member, 100, "start")
    responses = await asyncio.gather(
        *[
            tenant.call(
                "POST", f"/v1/members/{member}/adjustments", {"key": f"d{i}", "points": -10, "reason": "r"}
            )
            for i in range(20)
        ]
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 10
    assert statuses.count(409) == 10
    assert (await balance(tenant, member))["available"] == 0


async def test_points_stop_counting_at_expires_at_with_no_job(tenant: Tenant) -> None:
    member = await new_member(tenant)
    await adjust(tenant, member, 60, "short", valid_days=3)
    await adjust(tenant, member, 40, "long", valid_days=10)
    lots = (await tenant.call("GET", f"/v1/members/{member}/lots")).json()
    short = next(lot for lot in lots if lot["points"] == 60)
    expires = datetime.fromisoformat(short["expires_at"])
    # local midnight in the program's time zone
    local = expires.astimezone(ZoneInfo("Europe/Moscow"))
    assert (local.hour, local.minute) == (0, 0)
    just_before = (expires - timedelta(microseconds=1)).isoformat()
    assert (await balance(tenant, member, just_before))["available"] == 100
    after = await balance(tenant, member, expires.isoformat())
    assert after["available"] == 40
    assert after["expiring"] == [{"date": after["expiring"][0]["date"], "points": 40}]
    now = await balance(tenant, member)
    assert [e["points"] for e in now["expiring"]] == [60, 40]
    assert now["expiring"][0]["date"] == expires.astimezone(ZoneInfo("Europe/Moscow")).date().isoformat()


async def test_balance_in_the_past_is_rebuilt_from_allocations(tenant: Tenant) -> None:
    member = await new_member(tenant)
    await adjust(tenant, member, 100, "a")
    await asyncio.sleep(0.01)
    middle = datetime.now().astimezone().isoformat()
    await asyncio.sleep(0.01)
    await adjust(tenant, member, -30, "b")
    assert (await balance(tenant, member, middle))["available"] == 100
    assert (await balance(tenant, member))["available"] == 70
    assert (await balance(tenant, member, "2000-01-01T00:00:00+00:00"))["available"] == 0


async def test_balance_needs_an_offset(tenant: Tenant) -> None:
    member = await new_member(tenant)
    assert_error(
        await tenant.call("GET", f"/v1/members/{member}/balance", params={"at": "2026-01-01T10:00"}), 422
    )
    assert_error(await tenant.call("GET", f"/v1/members/{member}/balance", params={"at": "yesterday"}), 422)


async def test_restricted_credit_validates_its_condition(tenant: Tenant) -> None:
    member = await new_member(tenant)
    bad = {"key": "x", "points": 10, "reason": "r", "spend_condition": "sport = "}
    error = assert_error(await tenant.call("POST", f"/v1/members/{member}/adjustments", bad), 422)
    assert error["field"] == "spend_condition"
    await adjust(tenant, member, 10, "y", spend_condition="sport = 'ski'")
    lots = (await tenant.call("GET", f"/v1/members/{member}/lots")).json()
    assert lots[0]["spend_condition"] == "sport = 'ski'"


async def test_history_is_newest_first_and_paginated(tenant: Tenant) -> None:
    member = await new_member(tenant)
    for i in range(5):
        await adjust(tenant, member, i + 1, f"k{i}")
    page1 = (await tenant.call("GET", f"/v1/members/{member}/history", params={"limit": 2})).json()
    assert [e["points"] for e in page1["items"]] == [5, 4]
    page2 = (
        await tenant.call(
            "GET", f"/v1/members/{member}/history", params={"limit": 2, "before": page1["next"]}
        )
    ).json()
    assert [e["points"] for e in page2["items"]] == [3, 2]
    page3 = (
        await tenant.call(
            "GET", f"/v1/members/{member}/history", params={"limit": 2, "before": page2["next"]}
        )
    ).json()
    assert [e["points"] for e in page3["items"]] == [1]
    assert page3["next"] is None
    # another member's cursor, or a made-up one, was answered as an empty last page
    other = await new_member(tenant, "+79001238888")
    for cursor in (page1["next"], 2**62):
        stray = await tenant.call("GET", f"/v1/members/{other}/history", params={"before": cursor})
        assert_error(stray, 422)


async def test_the_database_refuses_to_rewrite_the_ledger(tenant: Tenant, db: Database) -> None:
    member = await new_member(tenant)
    await adjust(tenant, member, 10, "a")
    statements = [
        "UPDATE lots SET remaining = 99 WHERE member_id = %s",
        "UPDATE lots SET points = 99 WHERE member_id = %s",
        "DELETE FROM lots WHERE member_id = %s",
        "UPDATE entries SET points = 99 WHERE member_id = %s",
        "DELETE FROM entries WHERE member_id = %s",
    ]
    for statement in statements:
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
            async with db.transaction() as conn:
                await conn.execute(statement, (member,))
    # a TRUNCATE fires no row trigger: it emptied the ledger without a word
    for table in ("allocations", "entries CASCADE", "lots CASCADE"):
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="is never emptied"):
            async with db.transaction() as conn:
                await conn.execute(f"TRUNCATE {table}")
    assert (await balance(tenant, member))["available"] == 10


async def test_verify_catches_a_lot_corrupted_by_hand(tenant: Tenant, db: Database) -> None:
    member = await new_member(tenant)
    await adjust(tenant, member, 10, "a")
    await adjust(tenant, member, -4, "b")
    async with db.read() as conn:
        assert await verify.run(conn, tenant.tenant_id) == []
    async with db.transaction() as conn:
        await conn.execute("SET LOCAL session_replication_role = replica")  # triggers off, as by hand
        await conn.execute("UPDATE lots SET remaining = remaining - 3 WHERE member_id = %s", (member,))
    async with db.read() as conn:
        failures = await verify.run(conn, tenant.tenant_id)
    names = {f.check.name for f in failures}
    assert "lot_remaining_matches_allocations" in names
    assert "member_points_match_entries" in names
    assert failures[0].rows[0]["member"] == member
