"""Contract 7 with exact figures: quote, receipts, spending, earning, idempotency, bad input."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import psycopg
import pytest

from patron import verify
from patron.checkout import service
from patron.checkout import store as checkout_store
from patron.checkout.model import ReceiptIn
from patron.db.pool import Database
from patron.errors import Conflict
from patron.program.settings import Program
from patron.tenants import keys
from patron.tenants import store as tenant_store
from tests.conftest import ManualClock
from tests.integration.conftest import Tenant
from tests.integration.test_api_conventions import assert_error

_numbers = itertools.count(1)


async def setup_shop(tenant: Tenant, **program: Any) -> None:
    settings = {"currency": "RUB", "timezone": "Europe/Moscow", "country": "RU", **program}
    assert (await tenant.call("PUT", "/v1/program", settings)).status_code == 200
    moscow = {"name": "Moscow 1", "country": "RU", "city": "Moscow", "timezone": "Europe/Moscow"}
    vladivostok = {
        "name": "Vladivostok",
        "country": "RU",
        "city": "Vladivostok",
        "timezone": "Asia/Vladivostok",
    }
    assert (await tenant.call("PUT", "/v1/stores/MSK", moscow)).status_code == 201
    assert (await tenant.call("PUT", "/v1/stores/VVO", vladivostok)).status_code == 201
    products = [
        {"sku": "SKI", "name": "Skis", "attributes": {"sport": "ski", "category": "skis"}},
        {"sku": "POLE", "name": "Poles", "attributes": {"sport": "ski", "category": "poles"}},
        {"sku": "TEE", "name": "T-shirt", "attributes": {"category": "tees", "brand": "Acme"}},
        {"sku": "CIG", "name": "Cigarettes", "attributes": {"category": "tobacco"}},
    ]
    assert (await tenant.call("POST", "/v1/products:bulk", products)).status_code == 200


async def member_with(tenant: Tenant, points: int = 0, phone: str = "+79001112200", **adjust: Any) -> str:
    member = (await tenant.call("POST", "/v1/members", {"phone": phone})).json()["id"]
    if points:
        body = {"key": f"seed-{phone}", "points": points, "reason": "seed", **adjust}
        assert (await tenant.call("POST", f"/v1/members/{member}/adjustments", body)).status_code == 201
    return str(member)


def basket(
    *lines: tuple[str, int, str], member: str | None = None, spend: int | str = 0, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "store": "MSK",
        "lines": [{"sku": sku, "quantity": q, "price": price} for sku, q, price in lines],
        "spend_points": spend,
        **extra,
    }
    if member:
        body["member"] = {"id": member}
    return body


async def receipt(tenant: Tenant, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    body = {"number": f"R{next(_numbers)}", **body}
    response = await tenant.call("POST", "/v1/receipts", body)
    assert response.status_code == status, response.text
    return dict(response.json())


async def available(tenant: Tenant, member: str, at: str | None = None) -> int:
    params = {"at": at} if at else None
    return int((await tenant.call("GET", f"/v1/members/{member}/balance", params=params)).json()["available"])


@pytest.fixture
async def shop(tenant: Tenant) -> Tenant:
    await setup_shop(tenant)
    return tenant


async def test_the_contract_example(shop: Tenant) -> None:
    member = await member_with(shop, 100)
    result = await receipt(shop, basket(("TEE", 2, "49.90"), member=member, spend=20))
    assert result["status"] == "confirmed" and result["id"]
    assert result["member"] == {"id": member, "tier": "base"}
    line = result["lines"][0]
    assert (line["line"], line["amount"], line["discount"], line["points_spent"], line["paid"]) == (
        1,
        "99.80",
        "0.00",
        20,
        "79.80",
    )
    assert line["points_earned"] == 3  # floor(79.80 x 5%)
    assert result["totals"] == {
        "amount": "99.80",
        "discount": "0.00",
        "points_spent": 20,
        "points_spent_value": "20.00",
        "paid": "79.80",
        "points_earned": 3,
    }
    assert result["balance"] == {"before": 100, "after": 80}  # earned points are still pending
    assert result["campaigns"] == [] and result["optimal"] is True
    assert await available(shop, member) == 80


async def test_quote_changes_nothing_and_matches_the_receipt(shop: Tenant) -> None:
    member = await member_with(shop, 100)
    body = basket(("TEE", 1, "30.00"), ("SKI", 1, "70.00"), member=member, spend=10)
    quoted = (await shop.call("POST", "/v1/checkout/quote", body)).json()
    again = (await shop.call("POST", "/v1/checkout/quote", body)).json()
    assert {**quoted, "at": None} == {**again, "at": None} and quoted["id"] is None
    assert await available(shop, member) == 100
    confirmed = await receipt(shop, body)
    assert confirmed["lines"] == quoted["lines"] and confirmed["totals"] == quoted["totals"]
    assert confirmed["balance"] == quoted["balance"]


async def test_earned_points_split_by_largest_remainder_ties_to_the_earlier_line(shop: Tenant) -> None:
    member = await member_with(shop)
    result = await receipt(
        shop, basket(("TEE", 1, "10.00"), ("TEE", 1, "10.00"), ("TEE", 1, "10.00"), member=member)
    )
    assert [ln["points_earned"] for ln in result["lines"]] == [1, 0, 0]  # 0.5 each, total floor(1.5) = 1
    result = await receipt(
        shop, basket(("TEE", 1, "10.00"), ("TEE", 1, "50.00"), ("TEE", 1, "30.00"), member=member)
    )
    # exact 0.5, 2.5, 1.5 = 4.5 -> 4; floors 0, 2, 1 = 3, the one left goes to the first of the .5 ties
    assert [ln["points_earned"] for ln in result["lines"]] == [1, 2, 1]


async def test_points_spread_over_lines_in_proportion(shop: Tenant) -> None:
    member = await member_with(shop, 100)
    result = await receipt(shop, basket(("TEE", 1, "100.00"), ("SKI", 1, "300.00"), member=member, spend=40))
    assert [ln["points_spent"] for ln in result["lines"]] == [10, 30]
    assert [ln["paid"] for ln in result["lines"]] == ["90.00", "270.00"]


async def test_caps_no_spend_condition_and_max(shop: Tenant) -> None:
    assert (
        await shop.call("PATCH", "/v1/program", {"no_spend_condition": "category = 'tobacco'"})
    ).status_code == 200
    member = await member_with(shop, 1000)
    body = basket(("TEE", 1, "99.99"), ("CIG", 1, "200.00"), member=member, spend="max")
    quoted = (await shop.call("POST", "/v1/checkout/quote", body)).json()
    assert [ln["points_spent"] for ln in quoted["lines"]] == [49, 0]  # floor(99.99 x 50%), tobacco none
    too_much = basket(("TEE", 1, "99.99"), ("CIG", 1, "200.00"), member=member, spend=50)
    error = assert_error(await shop.call("POST", "/v1/checkout/quote", too_much), 409, "insufficient_points")
    assert "49" in str(error["message"])
    assert_error(
        await shop.call("POST", "/v1/receipts", {**too_much, "number": "X1"}), 409, "insufficient_points"
    )
    assert await available(shop, member) == 1000
    assert_error(await shop.call("GET", "/v1/receipts/00000000-0000-0000-0000-000000000001"), 404)


async def test_restricted_lots_go_first_and_only_on_matching_lines(shop: Tenant) -> None:
    member = await member_with(shop, 100)
    ski = {
        "key": "ski",
        "points": 30,
        "reason": "ski gift",
        "spend_condition": "sport = 'ski'",
        "valid_days": 400,
    }
    assert (await shop.call("POST", f"/v1/members/{member}/adjustments", ski)).status_code == 201
    result = await receipt(shop, basket(("TEE", 1, "100.00"), ("SKI", 1, "100.00"), member=member, spend=60))
    # the ski lot pays only for skis (30, leaving that line room for 20); the other 30 are
    # spread over both lines by amount (15 and 15)
    assert [ln["points_spent"] for ln in result["lines"]] == [15, 45]
    lots = (await shop.call("GET", f"/v1/members/{member}/lots")).json()
    remaining = {lot["spend_condition"]: lot["remaining"] for lot in lots if lot["kind"] == "adjustment"}
    assert remaining == {"sport = 'ski'": 0, None: 70}


async def test_soonest_expiry_first(shop: Tenant) -> None:
    member = await member_with(shop, 50, valid_days=100)
    short = {"key": "short", "points": 20, "reason": "gift", "valid_days": 3}
    assert (await shop.call("POST", f"/v1/members/{member}/adjustments", short)).status_code == 201
    now = datetime.now(UTC).isoformat()
    await receipt(shop, basket(("TEE", 1, "100.00"), member=member, spend=30, at=now))
    lots = {
        lot["points"]: lot["remaining"]
        for lot in (await shop.call("GET", f"/v1/members/{member}/lots")).json()
    }
    assert lots[20] == 0 and lots[50] == 40


async def test_earned_lot_window_is_local_midnight_of_the_store(shop: Tenant, clock: ManualClock) -> None:
    clock.fixed = datetime(2026, 11, 20, 23, 31, tzinfo=ZoneInfo("Asia/Vladivostok"))
    member = await member_with(shop)
    # 23:30 in Vladivostok on 20 Nov is 16:30 in Moscow: the local date is the store's
    result = await receipt(
        shop, basket(("TEE", 1, "100.00"), member=member, store="VVO", at="2026-11-20T23:30:00+10:00")
    )
    assert result["lines"][0]["points_earned"] == 5
    lot = next(
        lot for lot in (await shop.call("GET", f"/v1/members/{member}/lots")).json() if lot["kind"] == "earn"
    )
    vvo = ZoneInfo("Asia/Vladivostok")
    assert datetime.fromisoformat(lot["available_from"]).astimezone(vvo) == datetime(2026, 11, 21, tzinfo=vvo)
    assert datetime.fromisoformat(lot["expires_at"]).astimezone(vvo) == datetime(2027, 11, 21, tzinfo=vvo)
    assert lot["source"] == {
        "receipt": result["id"],
        "timezone": "Asia/Vladivostok",
    }  # the zone of its midnights
    balance = (
        await shop.call("GET", f"/v1/members/{member}/balance", params={"at": "2026-11-20T23:59:00+10:00"})
    ).json()
    assert (balance["available"], balance["pending"]) == (0, 5)
    assert await available(shop, member, "2026-11-21T00:00:00+10:00") == 5


async def test_no_activation_delay_counts_earned_points_in_the_balance(shop: Tenant) -> None:
    assert (await shop.call("PATCH", "/v1/program", {"activation_delay_days": 0})).status_code == 200
    member = await member_with(shop, 10)
    result = await receipt(shop, basket(("TEE", 1, "200.00"), member=member, spend=10))
    assert result["lines"][0]["points_earned"] == 9  # 190.00 x 5% = 9.5
    assert result["balance"] == {"before": 10, "after": 9}


async def test_tier_from_money_paid_in_the_window(shop: Tenant, clock: ManualClock) -> None:
    clock.fixed = datetime(2026, 12, 6, tzinfo=UTC)
    tiers = [
        {"code": "base", "name": "Base", "threshold": "0", "earn_percent": "5"},
        {"code": "gold", "name": "Gold", "threshold": "1000", "earn_percent": "10"},
    ]
    assert (
        await shop.call("PATCH", "/v1/program", {"tiers": tiers, "tier_window_days": 30})
    ).status_code == 200
    member = await member_with(shop)
    first = await receipt(shop, basket(("SKI", 1, "1000.00"), member=member, at="2026-11-01T12:00:00+03:00"))
    assert (first["member"]["tier"], first["totals"]["points_earned"]) == ("base", 50)
    second = await receipt(shop, basket(("TEE", 1, "100.00"), member=member, at="2026-11-20T12:00:00+03:00"))
    assert (second["member"]["tier"], second["totals"]["points_earned"]) == ("gold", 10)
    later = await receipt(shop, basket(("TEE", 1, "100.00"), member=member, at="2026-12-05T12:00:00+03:00"))
    assert later["member"]["tier"] == "base"  # the big purchase left the 30-day window
    # a return takes the money out of the window from its own moment on
    clock.fixed = datetime(2026, 11, 25, tzinfo=UTC)
    returned = await shop.call(
        "POST", f"/v1/receipts/{first['id']}/returns", {"number": "1", "lines": [{"line": 1, "quantity": 1}]}
    )
    assert returned.status_code == 201
    clock.fixed = datetime(2026, 11, 27, tzinfo=UTC)

    async def tier_at(at: str) -> str:
        body = basket(("TEE", 1, "100.00"), member=member, at=at)
        return str((await shop.call("POST", "/v1/checkout/quote", body)).json()["member"]["tier"])

    assert await tier_at("2026-11-26T12:00:00+03:00") == "base"  # after the return
    # before it, the member had paid 1,000.00: an offline till's receipt of then is gold
    assert await tier_at("2026-11-21T12:00:00+03:00") == "gold"
    late = await receipt(shop, basket(("TEE", 1, "100.00"), member=member, at="2026-11-22T12:00:00+03:00"))
    assert (late["member"]["tier"], late["totals"]["points_earned"]) == ("gold", 10)


async def test_anonymous_basket_earns_and_spends_nothing(shop: Tenant) -> None:
    result = await receipt(shop, basket(("TEE", 2, "49.90")))
    assert result["member"] is None and result["balance"] is None
    assert result["totals"]["points_earned"] == 0 and result["totals"]["paid"] == "99.80"
    assert_error(await shop.call("POST", "/v1/checkout/quote", basket(("TEE", 1, "10.00"), spend=5)), 422)
    maxed = await shop.call("POST", "/v1/checkout/quote", basket(("TEE", 1, "10.00"), spend="max"))
    assert maxed.status_code == 200 and maxed.json()["totals"]["points_spent"] == 0


async def test_members_are_found_by_phone_or_card(shop: Tenant) -> None:
    member = (await shop.call("POST", "/v1/members", {"phone": "+79001112299", "cards": ["CARD9"]})).json()
    by_phone = basket(("TEE", 1, "10.00"))
    by_phone["member"] = {"phone": "8 (900) 111-22-99"}
    assert (await shop.call("POST", "/v1/checkout/quote", by_phone)).json()["member"]["id"] == member["id"]
    by_card = {**by_phone, "member": {"card": "CARD9"}}
    assert (await shop.call("POST", "/v1/checkout/quote", by_card)).json()["member"]["id"] == member["id"]
    unknown = {**by_phone, "member": {"card": "NOPE"}}
    assert_error(await shop.call("POST", "/v1/checkout/quote", unknown), 404, "member_not_found")


async def test_bad_baskets_are_422_and_change_nothing(shop: Tenant, db: Database) -> None:
    member = await member_with(shop, 100)
    good = basket(("TEE", 1, "10.00"), member=member, spend=5)
    future = (datetime.now(UTC) + timedelta(minutes=6)).isoformat()
    soon = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    cases = {
        "future": {**good, "at": future},
        "no offset": {**good, "at": "2026-11-20T12:00:00"},
        "unknown store": {**good, "store": "NOPE"},
        "coupons": {**good, "coupons": ["SALE"]},
        "no lines": {**good, "lines": []},
        "zero quantity": {**good, "lines": [{"sku": "TEE", "quantity": 0, "price": "1.00"}]},
        "fractional quantity": {**good, "lines": [{"sku": "TEE", "quantity": 1.5, "price": "1.00"}]},
        "negative price": {**good, "lines": [{"sku": "TEE", "quantity": 1, "price": "-1.00"}]},
        "float price": {**good, "lines": [{"sku": "TEE", "quantity": 1, "price": 1.5}]},
        "three decimals": {**good, "lines": [{"sku": "TEE", "quantity": 1, "price": "1.005"}]},
        "price text": {**good, "lines": [{"sku": "TEE", "quantity": 1, "price": "abc"}]},
        "negative spend": {**good, "spend_points": -1},
        "spend text": {**good, "spend_points": "all"},
        "two member keys": {**good, "member": {"id": member, "card": "x"}},
        "bad phone": {**good, "member": {"phone": "12"}},
        "unknown field": {**good, "colour": "red"},
    }
    for name, body in cases.items():
        for path in ("/v1/checkout/quote", "/v1/receipts"):
            payload = {**body, "number": f"bad-{name}"} if path == "/v1/receipts" else body
            assert_error(await shop.call("POST", path, payload), 422), (name, path)
    assert_error(await shop.call("POST", "/v1/receipts", good), 422)  # no number
    assert (await shop.call("POST", "/v1/checkout/quote", {**good, "at": soon})).status_code == 200
    assert await available(shop, member) == 100
    async with db.read() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM receipts WHERE tenant_id = %s", (shop.tenant_id,))
        assert (await cur.fetchone())["n"] == 0  # type: ignore[index]


async def test_receipt_idempotency(shop: Tenant) -> None:
    member = await member_with(shop, 100)
    at = datetime.now(ZoneInfo("Europe/Moscow")).isoformat()
    body = {**basket(("TEE", 1, "100.00"), member=member, spend=10, at=at), "number": "N-1"}
    first = await shop.call("POST", "/v1/receipts", body)
    again = await shop.call("POST", "/v1/receipts", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    different = {**body, "spend_points": 20}
    assert_error(await shop.call("POST", "/v1/receipts", different), 409, "receipt_number_conflict")
    # the same values written otherwise are the same receipt: "100.0", the moment in UTC
    moment = datetime.fromisoformat(body["at"]).astimezone(UTC).isoformat()
    respelled = {**body, "at": moment, "lines": [{**body["lines"][0], "price": "100.0"}]}
    assert respelled != body
    repeat = await shop.call("POST", "/v1/receipts", respelled)
    assert repeat.status_code == 200 and repeat.json() == first.json()
    cheaper = {**respelled, "lines": [{**body["lines"][0], "price": "100.01"}]}
    assert_error(await shop.call("POST", "/v1/receipts", cheaper), 409, "receipt_number_conflict")
    other_store = {**body, "store": "VVO"}  # the same number in another store is another receipt
    assert (await shop.call("POST", "/v1/receipts", other_store)).status_code == 201
    assert await available(shop, member) == 80
    assert (await shop.call("GET", f"/v1/receipts/{first.json()['id']}")).json() == first.json()


async def test_a_receipt_retried_with_its_members_phone_or_card_written_otherwise_is_a_repeat(
    shop: Tenant, db: Database
) -> None:
    """The member was compared as written: "+7 900 111-22-00" for "+79001112200", or a card with the
    scanner's CR/LF, was a 409 receipt_number_conflict although it names the same member."""
    await member_with(shop, 0, phone="+79001112200")
    await member_with(shop, 0, phone="+79001112201")
    card = {"id": await member_with(shop, 0, phone="+79001112202")}
    assert (await shop.call("POST", f"/v1/members/{card['id']}/cards", {"card": "K-77"})).status_code == 201
    for number, named, otherwise in (
        ("P-1", {"phone": "+79001112200"}, [{"phone": "+7 900 111-22-00"}, {"phone": "89001112200"}]),
        ("P-2", {"card": "K-77"}, [{"card": " K-77\r\n"}]),
    ):
        body = {**basket(("TEE", 1, "100.00")), "number": number, "member": named}
        first = await shop.call("POST", "/v1/receipts", body)
        assert first.status_code == 201, first.text
        for member in otherwise:
            repeat = await shop.call("POST", "/v1/receipts", {**body, "member": member})
            assert repeat.status_code == 200 and repeat.json() == first.json(), (member, repeat.text)
        other = {**body, "member": {"phone": "+79001112201"}}  # another member is another receipt
        assert_error(await shop.call("POST", "/v1/receipts", other), 409, "receipt_number_conflict")
    # a receipt recorded before: its fingerprint took the member as written, and still matches it
    body = {**basket(("TEE", 2, "100.00")), "number": "P-3", "member": {"phone": "+7 900 111-22-00"}}
    first = await shop.call("POST", "/v1/receipts", body)
    written = ReceiptIn.model_validate(body).model_dump(mode="json")
    written["lines"][0]["price"] = "100"
    earlier = hashlib.sha256(orjson.dumps(written, option=orjson.OPT_SORT_KEYS)).digest()
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE receipts SET body_hash = %s WHERE tenant_id = %s AND number = 'P-3'",
            (earlier, shop.tenant_id),
        )
    repeat = await shop.call("POST", "/v1/receipts", body)
    assert repeat.status_code == 200 and repeat.json() == first.json(), repeat.text


async def test_five_racing_identical_receipts_make_one(shop: Tenant, db: Database) -> None:
    member = await member_with(shop, 100)
    body = {**basket(("TEE", 1, "100.00"), member=member, spend=10), "number": "RACE"}
    responses = await asyncio.gather(*[shop.call("POST", "/v1/receipts", body) for _ in range(5)])
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await available(shop, member) == 90
    anonymous = {**basket(("TEE", 1, "100.00")), "number": "RACE-ANON"}
    responses = await asyncio.gather(*[shop.call("POST", "/v1/receipts", anonymous) for _ in range(5)])
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
    async with db.read() as conn:
        assert await verify.run(conn, shop.tenant_id) == []


async def test_ten_racing_receipts_on_one_member_never_overspend(shop: Tenant, db: Database) -> None:
    member = await member_with(shop, 50)
    bodies = [{**basket(("TEE", 1, "100.00"), member=member, spend=10), "number": f"P{i}"} for i in range(10)]
    responses = await asyncio.gather(*[shop.call("POST", "/v1/receipts", b) for b in bodies])
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 5 and statuses.count(409) == 5
    assert all(r.json()["error"]["code"] == "insufficient_points" for r in responses if r.status_code == 409)
    assert await available(shop, member) == 0
    befores = sorted(r.json()["balance"]["before"] for r in responses if r.status_code == 201)
    assert befores == [10, 20, 30, 40, 50]
    async with db.read() as conn:
        assert await verify.run(conn, shop.tenant_id) == []


async def test_verify_catches_receipts_that_do_not_add_up(shop: Tenant, db: Database) -> None:
    member = await member_with(shop, 100)
    sold = await receipt(shop, basket(("TEE", 2, "10.00"), ("SKI", 1, "30.00"), member=member, spend=10))
    async with db.read() as conn:
        assert await verify.run(conn, shop.tenant_id) == []
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE receipt_lines SET paid = paid + 1, returned = 1 WHERE receipt_id = %s AND line = 1",
            (sold["id"],),
        )
    async with db.read() as conn:
        names = {f.check.name for f in await verify.run(conn, shop.tenant_id)}
    assert {"receipt_lines_add_up", "returned_within_sold"} <= names


async def test_verify_names_each_way_a_receipts_lines_can_be_wrong(shop: Tenant, db: Database) -> None:
    member = await member_with(shop, 100)
    ids = []
    for n in range(4):  # 10 points over 60.00 and 5.00: 9 and 1 (largest remainder)
        body = {**basket(("TEE", 3, "20.00"), ("SKI", 1, "5.00"), member=member, spend=10), "number": f"V{n}"}
        sold = await receipt(shop, body)
        assert [line["points_spent"] for line in sold["lines"]] == [9, 1]
        ids.append(sold["id"])
    async with db.read() as conn:
        assert await verify.run(conn, shop.tenant_id) == []
    totals = "UPDATE receipts r SET amount = l.a, paid = l.p FROM (SELECT sum(amount) AS a, sum(paid) AS p"
    totals += " FROM receipt_lines WHERE receipt_id = %(r)s) l WHERE r.id = %(r)s"
    corruptions = [
        # paid as if no points were spent, the totals made to agree
        (
            "receipt_line_paid",
            [
                "UPDATE receipt_lines SET paid = amount - discount WHERE receipt_id = %(r)s AND line = 1",
                totals,
            ],
        ),
        # an amount that is not price times quantity
        (
            "receipt_line_paid",
            [
                "UPDATE receipt_lines SET amount = amount + 10, paid = paid + 10 WHERE receipt_id = %(r)s AND line = 1",
                totals,
            ],
        ),
        # points moved between lines, the totals unchanged: the allocations say otherwise
        (
            "receipt_line_spend_matches_ledger",
            [
                "UPDATE receipt_lines SET points_spent = 5, paid = paid + 4 WHERE receipt_id = %(r)s AND line = 1",
                "UPDATE receipt_lines SET points_spent = 5, paid = paid - 4 WHERE receipt_id = %(r)s AND line = 2",
            ],
        ),
        # every line gone
        ("receipt_lines_add_up", ["DELETE FROM receipt_lines WHERE receipt_id = %(r)s"]),
    ]
    for receipt_id, (_, statements) in zip(ids, corruptions, strict=True):
        async with db.transaction() as conn:
            await conn.execute("SET LOCAL session_replication_role = replica")  # by hand, triggers off
            for statement in statements:
                await conn.execute(statement, {"r": receipt_id})
    async with db.read() as conn:
        found = {
            f.check.name: {row["receipt"] for row in f.rows} for f in await verify.run(conn, shop.tenant_id)
        }
    for receipt_id, (name, _) in zip(ids, corruptions, strict=True):
        assert receipt_id in found.get(name, set()), (name, found)


class Undone(Exception):
    """Raised to roll a transaction of hand edits back."""


async def test_verify_names_a_row_that_refers_to_nothing_in_its_tenant(shop: Tenant, db: Database) -> None:
    """A probe's hand edits with triggers and foreign keys off: a receipt naming a member that
    is not the tenant's, an allocation naming a lot that is gone. Every check started from members,
    lots or receipts, so such rows were invisible."""
    member = await member_with(shop, 100)
    sold = await receipt(shop, basket(("TEE", 1, "100.00"), member=member, spend=10))
    async with db.read() as conn:
        assert await verify.run(conn, shop.tenant_id) == []
        (allocation,) = await (
            await conn.execute(
                "SELECT id FROM allocations WHERE tenant_id = %s AND receipt_id = %s",
                (shop.tenant_id, sold["id"]),
            )
        ).fetchall()
    found: dict[str, list[dict[str, Any]]] = {}
    with contextlib.suppress(Undone):
        async with db.transaction() as conn:
            await conn.execute("SET LOCAL session_replication_role = replica")  # by hand, triggers off
            await conn.execute(
                "UPDATE receipts SET member_id = gen_random_uuid() WHERE id = %s", (sold["id"],)
            )
            await conn.execute("UPDATE allocations SET lot_id = 999999999 WHERE id = %s", (allocation["id"],))
            await conn.execute(  # an entry of the receipt naming a receipt that is not there
                "UPDATE entries SET receipt_id = gen_random_uuid() WHERE tenant_id = %s AND receipt_id = %s"
                " AND kind = 'spend'",
                (shop.tenant_id, sold["id"]),
            )
            found = {f.check.name: f.rows for f in await verify.run(conn, shop.tenant_id)}
            raise Undone  # the edits are undone: the shared test tenant stays whole
    named = {(row["row_kind"], row["names"]) for row in found["references_within_tenant"]}
    assert named == {("receipt", "member"), ("allocation", "lot"), ("entry", "receipt")}
    ids = {row["row_kind"]: row["row_id"] for row in found["references_within_tenant"]}
    assert (ids["receipt"], ids["allocation"]) == (sold["id"], str(allocation["id"]))


async def test_verify_catches_a_refund_moved_to_another_lot_and_a_tier_figure_raised(
    shop: Tenant, db: Database
) -> None:
    """Two edits a probe made by hand that kept every sum agreeing: a refund moved from the lot
    it came from to a longer-lived one (the member gains points that expire later), and a
    receipt's money net of returns raised (the member's tier goes up)."""
    member = await member_with(shop, 100, valid_days=5)
    later = {"key": "later", "points": 100, "reason": "seed", "valid_days": 30}
    assert (await shop.call("POST", f"/v1/members/{member}/adjustments", later)).status_code == 201
    sold = await receipt(shop, basket(("TEE", 1, "100.00"), member=member, spend=10))
    kept = await receipt(shop, basket(("SKI", 1, "300.00"), member=member, spend=100))  # 90 + 10 of the later
    back = await shop.call("POST", f"/v1/receipts/{sold['id']}/cancel")
    assert back.status_code == 200 and back.json()["points_refunded"] == 10
    async with db.read() as conn:
        assert await verify.run(conn, shop.tenant_id) == []
    async with db.transaction() as conn:
        await conn.execute("SET LOCAL session_replication_role = replica")  # by hand, triggers off
        short, long_ = await (
            await conn.execute(
                "SELECT id FROM lots WHERE member_id = %s AND kind = 'adjustment' ORDER BY expires_at",
                (member,),
            )
        ).fetchall()
        moved = "UPDATE allocations a SET lot_id = %s FROM entries e WHERE e.id = a.entry_id AND e.kind = 'refund'"
        await conn.execute(moved + " AND a.receipt_id = %s", (long_["id"], sold["id"]))
        await conn.execute("UPDATE lots SET remaining = remaining - 10 WHERE id = %s", (short["id"],))
        await conn.execute("UPDATE lots SET remaining = remaining + 10 WHERE id = %s", (long_["id"],))
        await conn.execute("UPDATE receipts SET paid_net = paid_net + 1000 WHERE id = %s", (kept["id"],))
    async with db.read() as conn:
        found = {f.check.name: f.rows for f in await verify.run(conn, shop.tenant_id)}
    assert set(found) == {"refunds_within_spends", "receipt_paid_net_matches_returns"}, found
    assert found["refunds_within_spends"][0]["lot"] == long_["id"]
    assert [row["receipt"] for row in found["receipt_paid_net_matches_returns"]] == [kept["id"]]


async def test_expiring_points_are_listed_by_the_local_date_of_the_store_that_earned_them(
    shop: Tenant,
) -> None:
    """Contract 2: "local" is the store's time zone. Vladivostok's midnight is the afternoon
    before in Moscow, the program's zone, which the listing used."""
    member = await member_with(shop)
    await receipt(shop, {**basket(("TEE", 1, "1000.00"), member=member), "store": "VVO"})
    earned = next(
        lot for lot in (await shop.call("GET", f"/v1/members/{member}/lots")).json() if lot["kind"] == "earn"
    )
    expires = datetime.fromisoformat(earned["expires_at"])
    local_date = expires.astimezone(ZoneInfo("Asia/Vladivostok")).date()
    assert expires.astimezone(ZoneInfo("Europe/Moscow")).date() != local_date  # the case at issue
    balance = (await shop.call("GET", f"/v1/members/{member}/balance")).json()
    assert balance["expiring"] == [{"date": local_date.isoformat(), "points": earned["points"]}]


async def test_a_lots_expiry_date_stays_when_the_programs_zone_changes(shop: Tenant) -> None:
    """A store without a zone earns in the program's: its lots' dates moved a day when the
    program's zone changed later, though their midnights were Moscow's."""
    store = {"name": "No zone", "country": "RU", "city": "Tula"}
    assert (await shop.call("PUT", "/v1/stores/NOZ", store)).status_code in (200, 201)
    member = await member_with(shop)
    await receipt(shop, {**basket(("TEE", 1, "1000.00"), member=member), "store": "NOZ"})
    before = (await shop.call("GET", f"/v1/members/{member}/balance")).json()["expiring"]
    moved = await shop.call("PATCH", "/v1/program", {"timezone": "Asia/Vladivostok"})
    assert moved.status_code == 200, moved.text
    after = (await shop.call("GET", f"/v1/members/{member}/balance")).json()["expiring"]
    assert after == before and len(before) == 1


async def test_a_past_balance_counts_a_receipt_sent_late_at_its_own_time(tenant: Tenant) -> None:
    """Contract 5: ``available`` is what can be spent at that moment. A till that was offline
    sends its receipt days later; a balance for a moment in between counted only what had been
    recorded by then, while a quote for the same moment spent the receipt's points."""
    await setup_shop(tenant, activation_delay_days=0)
    member = await member_with(tenant)
    now = datetime.now(UTC)
    sold = (now - timedelta(days=20)).isoformat()
    between = (now - timedelta(days=10)).isoformat()
    earned = await receipt(tenant, {**basket(("SKI", 1, "200.00"), member=member), "at": sold})
    assert earned["totals"]["points_earned"] == 10
    assert await available(tenant, member, at=between) == 10
    quote = await tenant.call(
        "POST",
        "/v1/checkout/quote",
        {**basket(("TEE", 1, "100.00"), member=member, spend="max"), "at": between},
    )
    assert quote.json()["balance"]["before"] == 10
    assert await available(tenant, member, at=(now - timedelta(days=30)).isoformat()) == 0  # before the sale


async def test_a_receipt_dated_ahead_counts_in_the_balance_now_and_its_cancel_comes_after_it(
    tenant: Tenant,
) -> None:
    """A till whose clock runs fast dates its receipt up to 5 minutes ahead (contract 7). The
    balance then said 100 where a quote could spend 50, and a cancel before the receipt's moment
    was recorded before its spend, so that a balance for the minute between said 150."""
    await setup_shop(tenant, activation_delay_days=0)
    member = await member_with(tenant, 100)
    ahead = datetime.now(UTC) + timedelta(minutes=3)
    sold = await receipt(
        tenant, {**basket(("TEE", 1, "100.00"), member=member, spend=50), "at": ahead.isoformat()}
    )
    assert sold["balance"] == {"before": 100, "after": 52}
    assert await available(tenant, member) == 50  # the earned 2 count from the receipt's moment
    quote = await tenant.call(
        "POST", "/v1/checkout/quote", basket(("TEE", 1, "100.00"), member=member, spend=51)
    )
    assert_error(quote, 409, "insufficient_points")
    cancelled = await tenant.call("POST", f"/v1/receipts/{sold['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["points_refunded"] == 50
    assert await available(tenant, member) == 100
    in_between = (ahead - timedelta(minutes=1)).isoformat()
    assert await available(tenant, member, at=in_between) == 100
    history = (await tenant.call("GET", f"/v1/members/{member}/history")).json()["items"]
    moments = {e["kind"]: datetime.fromisoformat(e["at"]) for e in history}
    assert moments["refund"] >= moments["spend"] == ahead


async def test_a_past_balance_is_never_impossible_when_receipts_arrive_out_of_order(
    tenant: Tenant, db: Database
) -> None:
    """A probe's two cases: an offline till's receipt, sent after a later receipt's cancel had
    put its points back, made a past balance say -10 available; a debt recorded now and paid by
    a receipt dated earlier made a past debt say -10."""
    await setup_shop(tenant, activation_delay_days=0)
    now = datetime.now(UTC)

    def day(n: int) -> str:
        return (now - timedelta(days=n)).isoformat()

    member = await member_with(tenant)
    await receipt(tenant, {**basket(("SKI", 1, "200.00"), member=member), "at": day(20)})
    spent = await receipt(tenant, {**basket(("TEE", 1, "100.00"), member=member, spend=10), "at": day(15)})
    assert (await tenant.call("POST", f"/v1/receipts/{spent['id']}/cancel")).status_code == 200
    await receipt(tenant, {**basket(("TEE", 1, "100.00"), member=member, spend=10), "at": day(17)})
    # B's and C's own earnings (4 each) count; A's lot, spent twice in this order of time, is empty
    # (it said -10, and the balance -2)
    assert await available(tenant, member, at=day(14)) == 8

    other = await member_with(tenant, phone="+79001112201")
    earned = await receipt(tenant, {**basket(("SKI", 1, "200.00"), member=other), "at": day(20)})
    await receipt(tenant, {**basket(("TEE", 1, "100.00"), member=other, spend=10), "at": day(18)})
    cancelled = await tenant.call("POST", f"/v1/receipts/{earned['id']}/cancel")
    assert cancelled.json()["shortfall"] == 6  # the 4 the spend earned were taken first
    await receipt(tenant, {**basket(("SKI", 1, "200.00"), member=other), "at": day(10)})  # pays the debt
    then = (await tenant.call("GET", f"/v1/members/{other}/balance", params={"at": day(5)})).json()
    assert (then["debt"], then["available"]) == (0, 8)  # 4 from the spend, 4 left of the 10 after the debt
    assert (await tenant.call("GET", f"/v1/members/{other}/balance")).json()["debt"] == 0
    async with db.read() as conn:
        assert await verify.run(conn, tenant.tenant_id) == []


async def test_a_receipt_worked_out_from_caches_out_of_date_records_nothing(
    shop: Tenant, db: Database
) -> None:
    """A probe: a process whose event loop was busy had not yet heard that the program changed
    (or a key was revoked) when another process had answered the change; a receipt it confirmed
    after that used the old settings (once, the old currency, which no return could then take).
    The confirmation now checks, under the member's lock, that what it was worked out with is
    current, else it is a 409 `retry` and nothing is recorded."""
    member = await member_with(shop, 100)
    async with db.read() as conn:
        principal = await tenant_store.principal_for(conn, keys.digest(shop.key))
    assert principal is not None
    caller = service.Caller(
        db=db,
        tenant_id=shop.tenant_id,
        program=Program.model_validate(principal.settings),
        now=datetime.now(UTC),
    )
    body = ReceiptIn.model_validate(
        {**basket(("TEE", 1, "100.00"), member=member, spend=10), "number": "STALE-1"}
    )
    anonymous = ReceiptIn.model_validate({**basket(("TEE", 1, "100.00")), "number": "STALE-2"})
    versions = (principal.version, principal.campaigns_version)
    old = [
        checkout_store.Stamp(principal.key_id, versions[0] - 1, versions[1]),  # the program changed since
        checkout_store.Stamp(principal.key_id, versions[0], versions[1] - 1),  # a campaign changed since
    ]
    for stamp in old:
        for receipt_in in (body, anonymous):
            with pytest.raises(Conflict) as refused:
                await service.confirm(dataclasses.replace(caller, stamp=stamp), receipt_in)
            assert refused.value.code == "retry"
    revoked = await shop.call("POST", "/v1/api-keys", {"role": "pos", "name": "till 9"})
    key_id = revoked.json()["id"]
    assert (await shop.call("DELETE", f"/v1/api-keys/{key_id}")).status_code == 204
    with pytest.raises(Conflict):
        await service.confirm(
            dataclasses.replace(caller, stamp=checkout_store.Stamp(key_id, *versions)), body
        )
    assert await available(shop, member) == 100  # nothing was recorded
    for number in ("STALE-1", "STALE-2"):
        found = await shop.call("GET", "/v1/receipts", params={"store": "MSK", "number": number})
        assert found.status_code == 404
    current = checkout_store.Stamp(principal.key_id, *versions)
    result, created = await service.confirm(dataclasses.replace(caller, stamp=current), body)
    assert created and result["totals"]["points_spent"] == 10


async def test_history_lists_a_late_receipt_at_its_own_time(shop: Tenant) -> None:
    member = await member_with(shop, 100)
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    late = await receipt(shop, basket(("TEE", 1, "100.00"), member=member, at=two_hours_ago))
    history = (await shop.call("GET", f"/v1/members/{member}/history")).json()["items"]
    # recorded last, it happened first: listed after the adjustment made before it was sent
    assert [(e["kind"], e["receipt_id"]) for e in history] == [("adjustment", None), ("earn", late["id"])]
    first = (await shop.call("GET", f"/v1/members/{member}/history", params={"limit": 1})).json()
    rest = (
        await shop.call("GET", f"/v1/members/{member}/history", params={"limit": 1, "before": first["next"]})
    ).json()
    assert [e["id"] for e in first["items"] + rest["items"]] == [e["id"] for e in history]


async def _held_member(db: Database, member: str) -> Any:
    """A transaction of an outside session holding ``member``'s row, as a slow receipt would."""
    conn = await psycopg.AsyncConnection.connect(db.url)
    await conn.execute("SELECT 1 FROM members WHERE id = %s FOR UPDATE", (member,))
    return conn


async def _waiting(db: Database, member: str, query: str = "%FOR UPDATE OF m%") -> None:
    """Until a session waits for ``member``'s row lock (in a statement like ``query``)."""
    for _ in range(200):
        async with db.read() as conn:
            row = await (
                await conn.execute(
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE %s",
                    (query,),
                )
            ).fetchone()
        if row and row["n"]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("no receipt waited for the member's lock")


async def test_a_receipt_that_waited_for_its_member_sees_what_changed_meanwhile(
    shop: Tenant, db: Database
) -> None:
    """A probe: a receipt held behind another of the same member was recorded with the earning
    rate, campaigns and key of before it waited, though the changes had been answered: its check
    read the snapshot of the statement that waited for the lock."""
    member = await member_with(shop, 100)
    await receipt(shop, basket(("TEE", 1, "1.00"), member=member))  # the key and program are cached
    holder = await _held_member(db, member)
    try:
        waiting = asyncio.create_task(receipt(shop, basket(("TEE", 1, "100.00"), member=member)))
        await _waiting(db, member)
        assert (await shop.call("PATCH", "/v1/program", {"earn_percent": "50"})).status_code == 200
    finally:
        await holder.rollback()
        await holder.close()
    # worked out again with the program as it is now (it was a 409 `retry`, which a till written
    # to the contract's two meanings of a 409 took for a refusal)
    recorded = await waiting
    assert recorded["totals"]["points_earned"] == 50  # the new rate


async def test_a_currency_change_and_a_receipt_never_both_go_through(shop: Tenant, db: Database) -> None:
    """A probe: a receipt in flight while the currency of a program with no receipts changed was
    recorded in the old currency (no return could take it), or the two deadlocked."""
    await shop.call("PUT", "/v1/program", {"currency": "EUR", "timezone": "Europe/Moscow", "country": "RU"})
    member = await member_with(shop, 0)
    holder = await _held_member(db, member)
    try:
        waiting = asyncio.create_task(receipt(shop, basket(("TEE", 1, "10.45"), member=member), status=422))
        await _waiting(db, member)
        changed = await shop.call("PATCH", "/v1/program", {"currency": "JPY"})
        assert changed.status_code == 200, changed.text
    finally:
        await holder.rollback()
        await holder.close()
    # worked out in euros, recorded nowhere; worked out again in yen, where 10.45 is no price
    assert (await waiting)["error"]["code"] == "invalid_price"
    async with db.read() as conn:
        row = await (
            await conn.execute("SELECT count(*) AS n FROM receipts WHERE tenant_id = %s", (shop.tenant_id,))
        ).fetchone()
    assert row == {"n": 0}


async def test_one_members_queued_receipts_leave_the_pool_to_everyone_else(
    shop: Tenant, db: Database
) -> None:
    """A probe: thirty receipts of one member queued behind its lock (a slow transaction, an
    import's batch) held a connection each, the whole pool, and every other member's receipts and
    balances waited for that one member, then failed with a 503 saying the database was lost."""
    held, other = (
        await member_with(shop, 0, phone="+79001112201"),
        await member_with(shop, 0, phone="+79001112202"),
    )
    holder = await _held_member(db, held)
    try:
        queued = [
            asyncio.create_task(receipt(shop, basket(("TEE", 1, "10.00"), member=held))) for _ in range(20)
        ]
        await _waiting(db, held)
        # more of the held member's receipts than the pool has connections are waiting now
        others = await asyncio.wait_for(receipt(shop, basket(("TEE", 1, "10.00"), member=other)), 3)
        assert others["member"]["id"] == other
        balance = await asyncio.wait_for(shop.call("GET", f"/v1/members/{other}/balance"), 3)
        assert balance.status_code == 200
    finally:
        await holder.rollback()
        await holder.close()
    done = await asyncio.gather(*queued)
    assert len({r["id"] for r in done}) == 20  # each recorded, once

    # cancellations of twenty different receipts of the held member, and changes to it, alike
    holder = await _held_member(db, held)
    try:
        cancels = [asyncio.create_task(shop.call("POST", f"/v1/receipts/{r['id']}/cancel")) for r in done]
        edits = [
            asyncio.create_task(shop.call("PATCH", f"/v1/members/{held}", {"name": f"n{i}"}))
            for i in range(10)
        ]
        await _waiting(db, held, "%")
        others = await asyncio.wait_for(receipt(shop, basket(("TEE", 1, "10.00"), member=other)), 3)
        assert others["member"]["id"] == other
    finally:
        await holder.rollback()
        await holder.close()
    assert {r.status_code for r in await asyncio.gather(*cancels, *edits)} == {200}


async def test_a_receipt_held_up_by_its_members_lock_gives_up_with_busy(
    database_url: str, shop: Tenant, db: Database
) -> None:
    """Without a lock timeout a receipt waited for as long as the member's row was held (40 s in
    a probe), holding its connection: now 503 `busy` with Retry-After, and nothing recorded."""
    from patron.api.app import create_app

    member = await member_with(shop, 0, phone="+79001112203")
    app = create_app(database_url, pool_min=1, pool_max=2, lock_timeout=0.3)
    body = {**basket(("TEE", 1, "10.00"), member=member), "number": "HELD-1"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://patron.test") as http:
            holder = await _held_member(db, member)
            try:
                refused = await asyncio.wait_for(http.post("/v1/receipts", json=body, headers=shop.auth), 5)
            finally:
                await holder.rollback()
                await holder.close()
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "busy"
            assert refused.headers["retry-after"] == "1"
            found = await http.get(
                "/v1/receipts", params={"store": "MSK", "number": "HELD-1"}, headers=shop.auth
            )
            assert found.status_code == 404  # nothing recorded
            again = await http.post("/v1/receipts", json=body, headers=shop.auth)
            assert again.status_code == 201, again.text
