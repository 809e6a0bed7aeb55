"""Contract 7 returns and cancellations, exact to the point, with each return policy."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patron import verify
from patron.db.pool import Database
from tests.integration.conftest import Tenant, make_tenant
from tests.integration.test_api_conventions import assert_error
from tests.integration.test_checkout import available, basket, member_with, receipt, setup_shop


async def give_back(
    tenant: Tenant, receipt_id: str, number: str, *lines: tuple[int, int], status: int = 201
) -> dict[str, Any]:
    body = {"number": number, "lines": [{"line": line, "quantity": q} for line, q in lines]}
    response = await tenant.call("POST", f"/v1/receipts/{receipt_id}/returns", body)
    assert response.status_code == status, response.text
    return dict(response.json())


async def lots_of(tenant: Tenant, member: str) -> dict[int, int]:
    return {
        lot["id"]: lot["remaining"] for lot in (await tenant.call("GET", f"/v1/members/{member}/lots")).json()
    }


async def test_cumulative_shares_give_back_exactly(tenant: Tenant) -> None:
    await setup_shop(tenant, activation_delay_days=0)
    member = await member_with(tenant, 100)
    sold = await receipt(tenant, basket(("TEE", 3, "10.00"), member=member, spend=10))
    line = sold["lines"][0]
    assert (line["paid"], line["points_spent"], line["points_earned"]) == ("20.00", 10, 1)
    first = await give_back(tenant, sold["id"], "r1", (1, 1))
    second = await give_back(tenant, sold["id"], "r2", (1, 1))
    third = await give_back(tenant, sold["id"], "r3", (1, 1))
    # paid 20.00 over 3 units: cumulative 6.67, 13.33, 20.00
    assert [r["refund"] for r in (first, second, third)] == ["6.67", "6.66", "6.67"]
    # spent 10: cumulative 3, 7, 10; earned 1: cumulative 0, 1, 1
    assert [r["points_refunded"] for r in (first, second, third)] == [3, 4, 3]
    assert [r["points_reversed"] for r in (first, second, third)] == [0, 1, 0]
    assert [r["receipt"]["status"] for r in (first, second, third)] == ["partially_returned"] * 2 + [
        "returned"
    ]
    assert third["receipt"]["lines"][0]["returned_quantity"] == 3
    assert await available(tenant, member) == 100
    assert (await tenant.call("GET", f"/v1/receipts/{sold['id']}")).json()["status"] == "returned"


async def test_spent_points_go_back_into_their_own_lots(tenant: Tenant) -> None:
    await setup_shop(tenant)
    member = await member_with(tenant, 40, valid_days=100)
    gift = {"key": "gift", "points": 20, "reason": "gift", "valid_days": 5}
    assert (await tenant.call("POST", f"/v1/members/{member}/adjustments", gift)).status_code == 201
    before = await lots_of(tenant, member)
    sold = await receipt(tenant, basket(("TEE", 2, "100.00"), member=member, spend=50))
    await give_back(tenant, sold["id"], "r1", (1, 2))
    after = await lots_of(tenant, member)
    assert {lot: after[lot] for lot in before} == before  # every lot as it was, with its own expiry


async def test_cancelling_a_receipt_and_the_one_that_spent_its_points_ends_the_same_in_either_order(
    db: Database, client: Any
) -> None:
    """Cancelling the earning receipt first left a clamp member 9 points never earned, and a debt
    member 9 spendable points while owing 9; the other order left neither."""
    for policy in ("clamp", "debt", "withhold"):
        ends = []
        for earning_first in (True, False):
            tenant = await make_tenant(db, client, currency="RUB", timezone="Europe/Moscow", country="RU")
            await setup_shop(tenant, activation_delay_days=0, return_policy=policy, earn_percent="10")
            member = await member_with(tenant)
            earning = await receipt(tenant, basket(("SKI", 1, "100.00"), member=member))
            spending = await receipt(tenant, basket(("TEE", 1, "20.00"), member=member, spend=10))
            assert (earning["totals"]["points_earned"], spending["totals"]["points_earned"]) == (10, 1)
            order = [earning, spending] if earning_first else [spending, earning]
            results = [(await tenant.call("POST", f"/v1/receipts/{r['id']}/cancel")).json() for r in order]
            balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
            withheld = sum(Decimal(r["withhold"]) for r in results)
            ends.append((balance["available"], balance["debt"], withheld))
            if earning_first and policy != "withhold":
                assert (results[0]["shortfall"], results[1]["points_kept_back"]) == (9, 9), policy
            async with db.read() as conn:
                assert await verify.run(conn, tenant.tenant_id) == []
        if policy == "withhold":  # paid for in money: 9.00 kept from the refund, 9 points kept
            assert ends == [(9, 0, Decimal("9.00")), (0, 0, Decimal(0))]
        else:
            assert ends == [(0, 0, Decimal(0))] * 2, policy


async def test_a_withheld_shortfall_beyond_the_refund_is_settled_when_its_points_come_back(
    db: Database, client: Any
) -> None:
    """A probe: under withhold, money kept back pays for a shortfall only as far as the refund goes;
    the rest is absorbed as under clamp, but was not recorded, so the member kept 95 points,
    worth 95.00, for a net 10.00 paid."""
    tenant = await make_tenant(db, client, currency="RUB", timezone="Europe/Moscow", country="RU")
    await setup_shop(tenant, activation_delay_days=0, return_policy="withhold", max_spend_percent="100")
    bonus = {"name": "bonus", "condition": "sku = 'TEE'", "effect": {"type": "points_fixed", "value": "100"}}
    assert (await tenant.call("POST", "/v1/campaigns", bonus)).status_code == 201
    member = await member_with(tenant)
    earning = await receipt(tenant, basket(("TEE", 1, "10.00"), member=member))
    spending = await receipt(tenant, basket(("SKI", 1, "200.00"), member=member, spend=100))
    assert (earning["totals"]["points_earned"], spending["totals"]["points_earned"]) == (100, 5)
    first = (await tenant.call("POST", f"/v1/receipts/{earning['id']}/cancel")).json()
    assert (first["shortfall"], first["withhold"], first["refund"]) == (95, "10.00", "0.00")
    second = (await tenant.call("POST", f"/v1/receipts/{spending['id']}/cancel")).json()
    assert second["points_kept_back"] == 85  # what 10.00 could not pay for
    balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
    assert (balance["available"], balance["debt"]) == (10, 0)  # the 10 points the 10.00 paid for
    # 1.50 kept back stands for 2 points, not 1 and 0.50 for nothing (a later probe)
    other = await member_with(tenant, phone="+79001112299")
    small = await receipt(tenant, basket(("TEE", 1, "1.50"), member=other))
    big = await receipt(tenant, basket(("SKI", 1, "200.00"), member=other, spend=100))
    assert (await tenant.call("POST", f"/v1/receipts/{small['id']}/cancel")).json()["withhold"] == "1.50"
    assert (await tenant.call("POST", f"/v1/receipts/{big['id']}/cancel")).json()["points_kept_back"] == 93
    assert (await tenant.call("GET", f"/v1/members/{other}/balance")).json()["available"] == 2
    async with db.read() as conn:
        assert await verify.run(conn, tenant.tenant_id) == []


async def test_a_chain_of_three_receipts_cancelled_in_any_order_leaves_nothing_and_owes_nothing(
    db: Database, client: Any
) -> None:
    """A earns 20; B1 and B2 spend 10 of them each and earn 9. Cancelling A takes B1's and B2's
    points, so B2's own cancel falls short because of A: that shortfall was left on B2, whose lot
    nothing refills, and cancelling B1 last left the member a point (and a debt beside it)."""
    for policy in ("clamp", "debt"):
        for order in itertools.permutations(range(3)):
            tenant = await make_tenant(db, client, currency="EUR", timezone="Europe/Berlin")
            await setup_shop(tenant, activation_delay_days=0, return_policy=policy, earn_percent="10")
            member = await member_with(tenant)
            earning = await receipt(tenant, basket(("SKI", 4, "50.00"), member=member))
            spending = [
                await receipt(tenant, basket(("SKI", 2, "50.00"), member=member, spend=10)) for _ in range(2)
            ]
            assert [r["totals"]["points_earned"] for r in [earning, *spending]] == [20, 9, 9]
            receipts = [earning, *spending]
            for index in order:
                cancelled = await tenant.call("POST", f"/v1/receipts/{receipts[index]['id']}/cancel")
                assert cancelled.status_code == 200
            balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
            assert (balance["available"], balance["debt"]) == (0, 0), (policy, order)
            async with db.read() as conn:
                assert await verify.run(conn, tenant.tenant_id) == []


async def test_random_partial_returns_of_linked_receipts_end_with_nothing_and_owing_nothing(
    db: Database, client: Any
) -> None:
    """Receipts that spend what an earlier one earned, returned unit by unit in random orders
    (seeded): once everything is back, the member holds nothing and owes nothing."""
    ends = []
    for seed in range(30):
        rnd = random.Random(seed)
        policy = ("clamp", "debt")[seed % 2]
        tenant = await make_tenant(db, client, currency="EUR", timezone="Europe/Berlin")
        await setup_shop(tenant, activation_delay_days=0, return_policy=policy, earn_percent="10")
        member = await member_with(tenant)
        sold = [await receipt(tenant, basket(("SKI", 4, "50.00"), member=member))]
        for _ in range(rnd.randint(2, 4)):
            spend = rnd.randint(1, 10)
            sold.append(await receipt(tenant, basket(("SKI", 2, "50.00"), member=member, spend=spend)))
        left = {i: r["lines"][0]["quantity"] for i, r in enumerate(sold)}
        for number in itertools.count():
            if not any(left.values()):
                break
            i = rnd.choice([k for k, units in left.items() if units])
            units = rnd.randint(1, left[i])
            await give_back(tenant, sold[i]["id"], f"R{number}", (1, units))
            left[i] -= units
        balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
        ends.append((seed, balance["available"], balance["debt"]))
        async with db.read() as conn:
            assert await verify.run(conn, tenant.tenant_id) == []
    assert [end for end in ends if end[1:] != (0, 0)] == []


async def test_chains_found_by_probing_end_with_nothing(db: Database, client: Any) -> None:
    """Two sequences a probe found leaving points under clamp: (price, spend) of each receipt of
    one member, then the order of the cancellations."""
    cases = [
        ([("50.00", 0), ("50.00", 5), ("100.00", 3), ("100.00", 2)], [0, 2, 3, 1]),
        ([("200.00", 0), ("100.00", 14), ("200.00", 0), ("200.00", 30)], [2, 3, 0, 1]),
    ]
    for sales, order in cases:
        tenant = await make_tenant(db, client, currency="EUR", timezone="Europe/Berlin")
        await setup_shop(tenant, activation_delay_days=0, return_policy="clamp", earn_percent="10")
        member = await member_with(tenant)
        sold = [
            await receipt(tenant, basket(("SKI", 1, price), member=member, spend=spend))
            for price, spend in sales
        ]
        for index in order:
            assert (await tenant.call("POST", f"/v1/receipts/{sold[index]['id']}/cancel")).status_code == 200
        balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
        assert (balance["available"], balance["debt"]) == (0, 0), (sales, order)


async def test_returns_take_back_earned_points_and_policies(db: Database, client: Any) -> None:
    for policy, expected_refund, expected_withhold, expected_debt in (
        ("debt", "100.00", "0.00", 4),
        ("withhold", "96.00", "4.00", 0),
        ("clamp", "100.00", "0.00", 0),
    ):
        tenant = await make_tenant(db, client, currency="RUB", timezone="Europe/Moscow", country="RU")
        await setup_shop(tenant, activation_delay_days=0, return_policy=policy)
        member = await member_with(tenant)
        sold = await receipt(tenant, basket(("TEE", 1, "100.00"), member=member))
        assert sold["totals"]["points_earned"] == 5
        # the member uses 4 of the 5 earned points elsewhere
        debit = {"key": "use", "points": -4, "reason": "used"}
        assert (await tenant.call("POST", f"/v1/members/{member}/adjustments", debit)).status_code == 201
        assert await available(tenant, member) == 1
        result = await give_back(tenant, sold["id"], "r1", (1, 1))
        assert (result["points_reversed"], result["shortfall"]) == (1, 4), policy
        assert (result["refund"], result["withhold"]) == (expected_refund, expected_withhold), policy
        async with db.read() as conn:  # money kept back stays paid: the tier window counts it
            cur = await conn.execute(
                "SELECT paid_net FROM receipts WHERE tenant_id = %s AND id = %s",
                (tenant.tenant_id, sold["id"]),
            )
            assert (await cur.fetchone())["paid_net"] == Decimal(expected_withhold), policy  # type: ignore[index]
        balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
        assert (balance["available"], balance["debt"]) == (0, expected_debt), policy
        if policy == "debt":
            await asyncio.sleep(0.01)
            owing = datetime.now(UTC).isoformat()
            await asyncio.sleep(0.01)
            # later earnings pay the debt first: 10 earned, 4 owed
            later = await receipt(tenant, basket(("SKI", 1, "200.00"), member=member))
            assert later["totals"]["points_earned"] == 10
            assert later["balance"] == {"before": 0, "after": 6}
            balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
            assert (balance["available"], balance["debt"]) == (6, 0)
            # a balance asked for a moment before that receipt has the debt as it stood then
            then = (await tenant.call("GET", f"/v1/members/{member}/balance", params={"at": owing})).json()
            assert (then["available"], then["debt"]) == (0, 4)
        async with db.read() as conn:
            assert await verify.run(conn, tenant.tenant_id) == []


async def test_reversal_takes_from_this_receipts_points_first(tenant: Tenant) -> None:
    await setup_shop(tenant, activation_delay_days=0)
    member = await member_with(tenant, 50, valid_days=3)  # soon expiring: must not be touched
    sold = await receipt(tenant, basket(("TEE", 1, "200.00"), member=member))
    assert sold["totals"]["points_earned"] == 10
    result = await give_back(tenant, sold["id"], "r1", (1, 1))
    assert (result["points_reversed"], result["shortfall"]) == (10, 0)
    lots = (await tenant.call("GET", f"/v1/members/{member}/lots")).json()
    assert {lot["kind"]: lot["remaining"] for lot in lots} == {"adjustment": 50, "earn": 0}


async def test_return_errors_change_nothing(tenant: Tenant, other_tenant: Tenant) -> None:
    await setup_shop(tenant)
    member = await member_with(tenant, 100)
    sold = await receipt(tenant, basket(("TEE", 2, "50.00"), ("SKI", 1, "100.00"), member=member, spend=20))
    rid = sold["id"]
    assert_error(
        await tenant.call(
            "POST", f"/v1/receipts/{rid}/returns", {"number": "x", "lines": [{"line": 1, "quantity": 3}]}
        ),
        422,
    )
    assert_error(
        await tenant.call(
            "POST", f"/v1/receipts/{rid}/returns", {"number": "x", "lines": [{"line": 9, "quantity": 1}]}
        ),
        422,
    )
    assert_error(
        await tenant.call(
            "POST", f"/v1/receipts/{rid}/returns", {"number": "x", "lines": [{"line": 1, "quantity": 0}]}
        ),
        422,
    )
    assert_error(await tenant.call("POST", f"/v1/receipts/{rid}/returns", {"number": "x", "lines": []}), 422)
    dup = {"number": "x", "lines": [{"line": 1, "quantity": 1}, {"line": 1, "quantity": 1}]}
    assert_error(await tenant.call("POST", f"/v1/receipts/{rid}/returns", dup), 422)
    assert_error(
        await other_tenant.call(
            "POST", f"/v1/receipts/{rid}/returns", {"number": "x", "lines": [{"line": 1, "quantity": 1}]}
        ),
        404,
    )
    assert_error(await other_tenant.call("GET", f"/v1/receipts/{rid}"), 404)
    assert_error(await other_tenant.call("POST", f"/v1/receipts/{rid}/cancel"), 404)
    assert_error(
        await tenant.call(
            "POST", "/v1/receipts/nope/returns", {"number": "x", "lines": [{"line": 1, "quantity": 1}]}
        ),
        404,
    )
    assert (await tenant.call("GET", f"/v1/receipts/{rid}")).json()["status"] == "confirmed"
    assert await available(tenant, member) == 80

    first = await give_back(tenant, rid, "R-1", (1, 1))
    again = await give_back(tenant, rid, "R-1", (1, 1), status=200)
    assert again == first
    assert_error(
        await tenant.call(
            "POST", f"/v1/receipts/{rid}/returns", {"number": "R-1", "lines": [{"line": 2, "quantity": 1}]}
        ),
        409,
    )
    assert_error(
        await tenant.call(
            "POST", f"/v1/receipts/{rid}/returns", {"number": "R-2", "lines": [{"line": 1, "quantity": 2}]}
        ),
        422,
    )


async def test_too_many_units_says_how_many_remain_in_plain_words(tenant: Tenant) -> None:
    """It read "only 1 units of line 2 remain"."""
    await setup_shop(tenant)
    rid = (await receipt(tenant, basket(("TEE", 2, "50.00"), ("SKI", 1, "100.00"))))["id"]

    async def refused(number: str, line: int, quantity: int) -> str:
        body = {"number": number, "lines": [{"line": line, "quantity": quantity}]}
        error = assert_error(
            await tenant.call("POST", f"/v1/receipts/{rid}/returns", body), 422, "too_many_units"
        )
        return str(error["message"])

    assert await refused("r1", 1, 3) == "lines.0.quantity: only 2 units of line 1 remain"
    assert await refused("r2", 2, 2) == "lines.0.quantity: only 1 unit of line 2 remains"
    body = {"number": "r3", "lines": [{"line": 2, "quantity": 1}]}
    assert (await tenant.call("POST", f"/v1/receipts/{rid}/returns", body)).status_code == 201
    assert await refused("r4", 2, 1) == "lines.0.quantity: no units of line 2 remain"


async def test_a_return_repeated_with_its_lines_in_another_order_is_the_same_return(tenant: Tenant) -> None:
    await setup_shop(tenant, activation_delay_days=0)
    sold = await receipt(tenant, basket(("TEE", 2, "10.00"), ("SKI", 1, "100.00")))
    first = await give_back(tenant, sold["id"], "R", (1, 1), (2, 1))
    again = await give_back(tenant, sold["id"], "R", (2, 1), (1, 1), status=200)
    assert again == first
    more = {"number": "R", "lines": [{"line": 2, "quantity": 1}, {"line": 1, "quantity": 2}]}
    assert_error(
        await tenant.call("POST", f"/v1/receipts/{sold['id']}/returns", more), 409, "return_number_conflict"
    )
    lines = (await tenant.call("GET", f"/v1/receipts/{sold['id']}")).json()["lines"]
    assert [line["returned_quantity"] for line in lines] == [1, 1]


async def test_cancel_returns_everything_and_is_idempotent(tenant: Tenant, db: Database) -> None:
    await setup_shop(tenant, activation_delay_days=0)
    member = await member_with(tenant, 100)
    sold = await receipt(tenant, basket(("TEE", 3, "33.33"), ("SKI", 1, "100.00"), member=member, spend=30))
    await give_back(tenant, sold["id"], "r1", (1, 1))
    cancelled = await tenant.call("POST", f"/v1/receipts/{sold['id']}/cancel")
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert body["receipt"]["status"] == "cancelled"
    assert [line["returned_quantity"] for line in body["receipt"]["lines"]] == [3, 1]
    again = await tenant.call("POST", f"/v1/receipts/{sold['id']}/cancel")
    assert again.status_code == 200 and again.json() == body
    assert await available(tenant, member) == 100
    assert (await tenant.call("GET", f"/v1/receipts/{sold['id']}")).json()["status"] == "cancelled"
    assert_error(
        await tenant.call(
            "POST",
            f"/v1/receipts/{sold['id']}/returns",
            {"number": "late", "lines": [{"line": 2, "quantity": 1}]},
        ),
        422,
    )
    async with db.read() as conn:
        assert await verify.run(conn, tenant.tenant_id) == []


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 10_000),
    quantities=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    spend=st.integers(0, 60),
    delay=st.sampled_from([0, 1]),
)
async def test_returning_every_unit_in_any_order_restores_everything(
    db: Database, client: Any, seed: int, quantities: list[int], spend: int, delay: int
) -> None:
    rng = random.Random(seed)
    tenant = await make_tenant(db, client, currency="RUB", timezone="Europe/Moscow", country="RU")
    await setup_shop(tenant, activation_delay_days=delay)
    member = await member_with(tenant, 80, valid_days=50)
    gift = {
        "key": "gift",
        "points": 15,
        "reason": "gift",
        "valid_days": 9,
        "spend_condition": "sport = 'ski'",
    }
    assert (await tenant.call("POST", f"/v1/members/{member}/adjustments", gift)).status_code == 201
    lots_before = await lots_of(tenant, member)
    skus = ["TEE", "SKI", "POLE", "TEE"]
    lines = [(skus[i], q, f"{rng.randint(100, 9999) / 100:.2f}") for i, q in enumerate(quantities)]
    most = (
        await tenant.call("POST", "/v1/checkout/quote", basket(*lines, member=member, spend="max"))
    ).json()
    wanted = min(spend, most["totals"]["points_spent"])
    sold = await receipt(tenant, basket(*lines, member=member, spend=wanted))
    assert sold["totals"]["points_spent"] == wanted
    units = [line for line, q in enumerate(quantities, start=1) for _ in range(q)]
    rng.shuffle(units)
    refunds, refunded, reversed_ = [], 0, 0
    number = 0
    while units:
        take = units[: rng.randint(1, len(units))]
        units = units[len(take) :]
        counts: dict[int, int] = {}
        for line in take:
            counts[line] = counts.get(line, 0) + 1
        number += 1
        result = await give_back(tenant, sold["id"], f"r{number}", *counts.items())
        refunds.append(result["refund"])
        refunded += result["points_refunded"]
        reversed_ += result["points_reversed"]
        assert result["shortfall"] == 0
    from decimal import Decimal

    assert sum(Decimal(r) for r in refunds) == Decimal(sold["totals"]["paid"])
    assert refunded == sold["totals"]["points_spent"]
    assert reversed_ == sold["totals"]["points_earned"]
    after = await lots_of(tenant, member)
    assert {lot: after[lot] for lot in lots_before} == lots_before
    assert all(remaining == 0 for lot, remaining in after.items() if lot not in lots_before)
    async with db.read() as conn:
        assert await verify.run(conn, tenant.tenant_id) == []


async def test_under_debt_points_not_yet_available_pay_first(tenant: Tenant) -> None:
    """A probe: a cancel that found the earned points spent recorded a debt of 10 while the member
    held a point earned the same day (pending until the next): the next day the member could
    spend it and still owed 10, and no later earning ever took it back."""
    await setup_shop(tenant, activation_delay_days=1, return_policy="debt", earn_percent="10")
    member = await member_with(tenant, 0)
    three_days_ago = datetime.fromtimestamp(datetime.now(UTC).timestamp() - 3 * 86400, UTC).isoformat()
    earning = await receipt(tenant, basket(("TEE", 1, "100.00"), member=member, at=three_days_ago))
    assert earning["totals"]["points_earned"] == 10 and await available(tenant, member) == 10
    spending = await receipt(tenant, basket(("TEE", 1, "20.00"), member=member, spend=10))
    assert spending["totals"]["points_spent"] == 10 and spending["totals"]["points_earned"] == 1  # pending
    cancelled = (await tenant.call("POST", f"/v1/receipts/{earning['id']}/cancel")).json()
    assert (cancelled["points_reversed"], cancelled["shortfall"]) == (1, 9)  # the pending point paid first
    in_two_days = datetime.fromtimestamp(datetime.now(UTC).timestamp() + 2 * 86400, UTC).isoformat()
    later = (await tenant.call("GET", f"/v1/members/{member}/balance", params={"at": in_two_days})).json()
    assert (later["available"], later["pending"], later["debt"]) == (0, 0, 9)


async def test_under_withhold_and_clamp_points_not_yet_available_are_left_alone(
    db: Database, client: Any
) -> None:
    """Contract 7 takes earned points back from the member's available points; only the `debt`
    policy, whose debt future earnings pay, reaches for points still pending."""
    for policy in ("withhold", "clamp"):
        tenant = await make_tenant(db, client, currency="RUB", timezone="Europe/Moscow", country="RU")
        await setup_shop(tenant, activation_delay_days=1, return_policy=policy, earn_percent="10")
        member = await member_with(tenant, 0)
        three_days_ago = datetime.fromtimestamp(datetime.now(UTC).timestamp() - 3 * 86400, UTC).isoformat()
        earning = await receipt(tenant, basket(("TEE", 1, "100.00"), member=member, at=three_days_ago))
        await receipt(tenant, basket(("TEE", 1, "20.00"), member=member, spend=10))
        cancelled = (await tenant.call("POST", f"/v1/receipts/{earning['id']}/cancel")).json()
        assert (cancelled["points_reversed"], cancelled["shortfall"]) == (0, 10), policy


async def test_both_cancelled_leave_the_members_own_points_in_their_own_lot(
    db: Database, client: Any
) -> None:
    """A probe: R1 earns a campaign's short-lived lot for skis only, R2 spends it and 5 of the
    member's own year-long points, then R1 and R2 are cancelled in that order. R1's cancel took the
    member's own 5 in place of its spent lot; R2's refund then settled R1's shortfall from the
    member's own lot first, and the own points ended in R1's ski lot, expiring within days."""
    tenants = []
    for policy in ("debt", "clamp", "withhold"):
        tenant = await make_tenant(db, client, currency="RUB", timezone="Europe/Moscow", country="RU")
        tenants.append(tenant)
        await setup_shop(tenant, activation_delay_days=0, return_policy=policy, earn_percent="0")
        campaign = {
            "name": "ski points",
            "condition": "sku = 'SKI'",
            "effect": {"type": "points_fixed", "value": "20"},
            "points": {"valid_days": 5, "activation_delay_days": 0, "spend_condition": "sku = 'SKI'"},
            "limits": {"per_member": 1},  # R2 earns none of it
        }
        assert (await tenant.call("POST", "/v1/campaigns", campaign)).status_code == 201
        member = await member_with(tenant, 10)
        own_lot = next(iter(await lots_of(tenant, member)))
        r1 = await receipt(tenant, basket(("SKI", 2, "10.00"), member=member))
        assert r1["totals"]["points_earned"] == 20
        r2 = await receipt(tenant, basket(("SKI", 1, "100.00"), member=member, spend=25))
        assert (r2["totals"]["points_spent"], r2["totals"]["points_earned"]) == (25, 0)
        for sale in (r1, r2):
            assert (await tenant.call("POST", f"/v1/receipts/{sale['id']}/cancel")).status_code == 200
        lots = await lots_of(tenant, member)
        assert lots[own_lot] == 10, (policy, lots)  # the member's own points, in their own lot
        # nothing left in the cancelled receipt's lot, but under `withhold` the 15 points the
        # member paid for in money (R1's refund kept back 15.00), which come back to them
        assert sum(lots.values()) == (25 if policy == "withhold" else 10), (policy, lots)
        balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
        assert balance["debt"] == 0, policy
    async with db.read() as conn:  # each of them (other tests leave broken rows on purpose)
        for tenant in tenants:
            assert await verify.run(conn, tenant.tenant_id) == []


async def test_points_moved_back_into_a_cancelled_receipts_lot_move_on_to_what_it_took(
    db: Database, client: Any
) -> None:
    """A probe's chain: A earns 10 (5% of 200), B spends them, C earns a ski-only lot of 10; A is
    cancelled (its lot is spent: it takes C's 10 instead), then C (its lot is taken: it takes the
    member's own 10), then B. B's refund goes back into A's lot and on to C's: it stopped there,
    and the member's own year-long points stayed in C's ski-only lot, expiring within days."""
    tenants = []
    for policy in ("debt", "clamp", "withhold"):
        tenant = await make_tenant(db, client, currency="RUB", timezone="Europe/Moscow", country="RU")
        tenants.append(tenant)
        await setup_shop(tenant, activation_delay_days=0, return_policy=policy)
        campaign = {
            "name": "ski points",
            "condition": "sku = 'SKI'",
            "effect": {"type": "points_fixed", "value": "10"},
            "points": {"valid_days": 5, "activation_delay_days": 0, "spend_condition": "sku = 'SKI'"},
        }
        assert (await tenant.call("POST", "/v1/campaigns", campaign)).status_code == 201
        member = await member_with(tenant, 10, valid_days=400)
        own_lot = next(iter(await lots_of(tenant, member)))
        a = await receipt(tenant, basket(("TEE", 1, "200.00"), member=member))
        b = await receipt(tenant, basket(("TEE", 1, "20.00"), member=member, spend=10))
        c = await receipt(tenant, basket(("SKI", 1, "0.10"), member=member))
        assert (a["totals"]["points_earned"], b["totals"]["points_spent"], c["totals"]["points_earned"]) == (
            10,
            10,
            10,
        )
        for sale in (a, c, b):
            assert (await tenant.call("POST", f"/v1/receipts/{sale['id']}/cancel")).status_code == 200
        lots = await lots_of(tenant, member)
        assert lots[own_lot] == 10, (policy, lots)
        balance = (await tenant.call("GET", f"/v1/members/{member}/balance")).json()
        assert balance["debt"] == 0, policy
    async with db.read() as conn:
        for tenant in tenants:
            assert await verify.run(conn, tenant.tenant_id) == []


async def test_a_debt_paid_by_a_later_earning_is_given_back_to_it_when_the_debtors_lot_is_refilled(
    tenant: Tenant,
) -> None:
    """A probe: A earns 10, B spends them, cancelling A leaves a debt of 10, C's 10 pay it, then
    B is cancelled: its refund went back into A's cancelled lot (A's recorded debt was never
    lowered, so nothing settled it), and C's lot stayed empty."""
    await setup_shop(tenant, activation_delay_days=0, return_policy="debt", earn_percent="10")
    member = await member_with(tenant, 0)
    a = await receipt(tenant, basket(("TEE", 1, "100.00"), member=member))
    b = await receipt(tenant, basket(("TEE", 1, "20.00"), member=member, spend=10))
    assert (a["totals"]["points_earned"], b["totals"]["points_spent"], b["totals"]["points_earned"]) == (
        10,
        10,
        1,
    )
    cancelled = (await tenant.call("POST", f"/v1/receipts/{a['id']}/cancel")).json()
    assert cancelled["shortfall"] == 9  # B's 1 point taken in place of A's spent ones
    c = await receipt(tenant, basket(("TEE", 1, "100.00"), member=member))
    lots = (await tenant.call("GET", f"/v1/members/{member}/lots")).json()
    c_lot = next(lot["id"] for lot in lots if (lot["source"] or {}).get("receipt") == c["id"])
    a_lot = next(lot["id"] for lot in lots if (lot["source"] or {}).get("receipt") == a["id"])
    assert (await tenant.call("GET", f"/v1/members/{member}/balance")).json()["debt"] == 0  # C paid it
    assert (await tenant.call("POST", f"/v1/receipts/{b['id']}/cancel")).status_code == 200
    after = await lots_of(tenant, member)
    assert after[a_lot] == 0 and after[c_lot] == 10, after  # C's points back in C's lot
    assert (await tenant.call("GET", f"/v1/members/{member}/balance")).json()["debt"] == 0
