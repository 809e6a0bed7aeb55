"""Contract 8 with exact figures: every effect, stacking, thresholds, windows, audiences, limits
under races, returns that undo campaign effects, and the seed scenarios of issue 4."""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from patron import verify
from patron.campaigns import store as campaign_store
from patron.checkout import service
from patron.db.pool import Database
from tests.conftest import ManualClock
from tests.integration.conftest import Tenant
from tests.integration.test_api_conventions import assert_error
from tests.integration.test_checkout import member_with, setup_shop

# Thursday 3 December 2026, 12:00 in Moscow (09:00 UTC), 19:00 in Vladivostok
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
_numbers = itertools.count(1)


@pytest.fixture
async def shop(tenant: Tenant, clock: ManualClock) -> Tenant:
    clock.fixed = NOW
    await setup_shop(tenant)
    return tenant


async def campaign(tenant: Tenant, **definition: Any) -> str:
    response = await tenant.call("POST", "/v1/campaigns", {"name": definition.pop("name", "c"), **definition})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def line(sku: str, quantity: int, price: str, **attributes: Any) -> dict[str, Any]:
    return {"sku": sku, "quantity": quantity, "price": price, "attributes": attributes}


async def quote(
    tenant: Tenant, *lines: dict[str, Any], member: str | None = None, store: str = "MSK", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"store": store, "lines": list(lines), **extra}
    if member:
        body["member"] = {"id": member}
    response = await tenant.call("POST", "/v1/checkout/quote", body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def confirm(
    tenant: Tenant, *lines: dict[str, Any], member: str | None = None, store: str = "MSK", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"store": store, "lines": list(lines), "number": f"C{next(_numbers)}", **extra}
    if member:
        body["member"] = {"id": member}
    response = await tenant.call("POST", "/v1/receipts", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def discounts(result: dict[str, Any]) -> list[str]:
    return [ln["discount"] for ln in result["lines"]]


# --- definitions ----------------------------------------------------------------------------------


async def test_crud_and_validation(shop: Tenant, other_tenant: Tenant) -> None:
    definition = {
        "name": "Columbia week",
        "active": True,
        "starts_at": "2026-12-01",
        "ends_at": "2026-12-07",
        "weekdays": [1, 2, 3, 4, 5],
        "hours": {"from": "10:00", "to": "14:00"},
        "stores": ["MSK"],
        "cities": ["Moscow"],
        "countries": ["RU"],
        "tiers": ["base"],
        "birthday": {"days_before": 3, "days_after": 3},
        "condition": "brand = 'Columbia'",
        "min_amount": "10.00",
        "min_quantity": 1,
        "effect": {"type": "discount_percent", "value": "15"},
        "points": {"valid_days": 30, "activation_delay_days": 0, "spend_condition": "sport = 'ski'"},
        "stacking": "line",
        "priority": 5,
        "limits": {"per_member": 1, "uses": 100, "budget_points": None, "budget_money": "500.00"},
    }
    created = await shop.call("POST", "/v1/campaigns", definition)
    assert created.status_code == 201
    body = created.json()
    assert body["hours"] == {"from": "10:00", "to": "14:00"} and body["effect"]["type"] == "discount_percent"
    cid = body["id"]
    assert (await shop.call("GET", f"/v1/campaigns/{cid}")).json()["name"] == "Columbia week"
    replaced = await shop.call(
        "PUT", f"/v1/campaigns/{cid}", {"name": "Renamed", "effect": {"type": "points_fixed", "value": "5"}}
    )
    assert replaced.status_code == 200 and replaced.json()["condition"] is None
    assert [c["name"] for c in (await shop.call("GET", "/v1/campaigns")).json()["items"]] == ["Renamed"]
    assert_error(await other_tenant.call("GET", f"/v1/campaigns/{cid}"), 404)
    assert_error(await other_tenant.call("DELETE", f"/v1/campaigns/{cid}"), 404)
    assert (await shop.call("DELETE", f"/v1/campaigns/{cid}")).status_code == 204
    assert_error(await shop.call("GET", f"/v1/campaigns/{cid}"), 404)

    bad = {
        "condition": ({"condition": "brand = 'x' and"}, "condition"),
        "effect type": ({"effect": {"type": "free_lunch", "value": "1"}}, "effect.type"),
        "percent": ({"effect": {"type": "discount_percent", "value": "150"}}, "effect.value"),
        "bxgy": ({"effect": {"type": "buy_x_get_y", "buy": 2}}, "effect"),
        "weekday": ({"effect": {"type": "points_fixed", "value": "1"}, "weekdays": [8]}, "weekdays"),
        "hours": (
            {"effect": {"type": "points_fixed", "value": "1"}, "hours": {"from": "25:00", "to": "1:00"}},
            "hours.from",
        ),
        "dates": (
            {
                "effect": {"type": "points_fixed", "value": "1"},
                "starts_at": "2026-12-07",
                "ends_at": "2026-12-01",
            },
            "ends_at",
        ),
        "budget": (
            {"effect": {"type": "points_fixed", "value": "1"}, "limits": {"budget_money": "5"}},
            "limits",
        ),
        "stacking": ({"effect": {"type": "points_fixed", "value": "1"}, "stacking": "sometimes"}, "stacking"),
        "no effect": ({}, "effect"),
    }
    for name, (fields, field) in bad.items():
        error = assert_error(await shop.call("POST", "/v1/campaigns", {"name": name, **fields}), 422)
        assert str(error.get("field", "")).startswith(field), (name, error)
    error = assert_error(
        await shop.call(
            "POST",
            "/v1/campaigns",
            {"name": "x", "condition": "brand == 'x'", "effect": {"type": "points_fixed", "value": "1"}},
        ),
        422,
        "invalid_condition",  # as for an adjustment's spend_condition and the program's
    )
    assert "position 7" in str(error["message"])
    assert (await shop.call("GET", "/v1/campaigns")).json()["items"] == []


async def test_an_inactive_campaign_is_held_to_the_program_when_activated(shop: Tenant) -> None:
    """As documented (docs/campaigns.md): any campaign can be deactivated, whatever it holds."""
    odd = {"name": "c", "countries": ["XX"], "tiers": ["gold"], "min_amount": "5.555"}
    odd["effect"] = {"type": "discount_percent", "value": "10"}
    made = await shop.call("POST", "/v1/campaigns", {**odd, "active": False})
    assert made.status_code == 201, made.text
    for field, fixed in (("min_amount", "5.55"), ("tiers", []), ("countries", ["RU"])):
        error = assert_error(
            await shop.call("PUT", f"/v1/campaigns/{made.json()['id']}", {**odd, "active": True}), 422
        )
        assert error["field"] == field
        odd[field] = fixed
    assert (
        await shop.call("PUT", f"/v1/campaigns/{made.json()['id']}", {**odd, "active": True})
    ).status_code == 200


@pytest.mark.parametrize(
    ("effect", "bound"),
    [
        ({"type": "points_percent", "value": "1001"}, "at most 1000 for points_percent"),
        ({"type": "discount_percent", "value": "101"}, "at most 100 for discount_percent"),
        ({"type": "points_multiplier", "value": "101"}, "at most 100"),
    ],
)
async def test_a_value_out_of_its_types_bounds_names_effect_value_and_the_bound(
    shop: Tenant, effect: dict[str, str], bound: str
) -> None:
    """A points_percent of 1001 was told "at most 100 for discounts", naming ``effect``."""
    error = assert_error(await shop.call("POST", "/v1/campaigns", {"name": "x", "effect": effect}), 422)
    assert error["field"] == "effect.value" and error["message"].startswith("effect.value: "), error
    assert error["message"].endswith(bound), error
    ok = {**effect, "value": "1000" if effect["type"] == "points_percent" else "100"}
    assert (await shop.call("POST", "/v1/campaigns", {"name": "x", "effect": ok})).status_code == 201


@pytest.mark.parametrize("value", ["0.5", "1", "0.999"])
async def test_an_active_points_multiplier_of_1_or_less_is_refused(
    shop: Tenant, db: Database, value: str
) -> None:
    """One below 1 cut the member's points, yet the receipt showed the campaign with 0 points, no
    line listed it, and no use was counted; one of 1 did nothing."""
    body = {"name": "half", "effect": {"type": "points_multiplier", "value": value}}
    error = assert_error(await shop.call("POST", "/v1/campaigns", body), 422)
    assert error["field"] == "effect.value", error
    assert error["message"] == "effect.value: a multiplier above 1, at most 100", error
    for beyond in ("-2", "0", "100.5"):  # these were told "above 0", and 0.5 then "above 1"
        wrong = {**body, "effect": {**body["effect"], "value": beyond}}
        error = assert_error(await shop.call("POST", "/v1/campaigns", wrong), 422)
        assert error["message"].startswith("effect.value: a multiplier above 1 "), error
    made = await shop.call("POST", "/v1/campaigns", {**body, "active": False})
    assert made.status_code == 201, made.text
    path = f"/v1/campaigns/{made.json()['id']}"
    assert_error(await shop.call("PUT", path, {**body, "active": True}), 422)
    async with db.transaction() as conn:  # one stored active before the rule still loads and applies
        await conn.execute(
            "UPDATE campaigns SET definition = jsonb_set(definition, '{active}', 'true') WHERE tenant_id = %s",
            (shop.tenant_id,),
        )
    assert (await shop.call("GET", path)).json()["effect"]["value"] == value
    await quote(shop, line("TEE", 1, "10.00"))
    assert (await shop.call("PUT", path, {**body, "active": False})).status_code == 200
    above = {**body, "effect": {**body["effect"], "value": "1.01"}}
    assert (await shop.call("POST", "/v1/campaigns", above)).status_code == 201


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "\u200b"}, "name"),
        ({"cities": [""]}, "cities"),
        ({"cities": ["Moscow", " \t"]}, "cities"),
        ({"cities": ["\u200b"]}, "cities"),
        ({"stores": [""]}, "stores"),
        ({"stores": ["MSK", " "]}, "stores"),
    ],
)
async def test_a_blank_name_city_or_store_is_refused_naming_it(
    shop: Tenant, fields: dict[str, Any], field: str
) -> None:
    """All were stored: a campaign named by spaces (or a zero-width space), and one listed as
    active that no store's city or code could ever match."""
    fine = {"name": "x", "effect": {"type": "discount_percent", "value": "10"}, "cities": ["Moscow"]}
    body = {**fine, "cities": [], **fields}
    error = assert_error(await shop.call("POST", "/v1/campaigns", body), 422)
    assert error["field"] == field and error["message"].startswith(f"{field}: "), error
    if field == "name":  # in the words of every other blank name
        assert error["message"] == "name: is blank: spaces alone say nothing", error
    made = await shop.call("POST", "/v1/campaigns", fine)
    assert_error(await shop.call("PUT", f"/v1/campaigns/{made.json()['id']}", body), 422)
    assert [c["name"] for c in (await shop.call("GET", "/v1/campaigns")).json()["items"]] == ["x"]


async def test_buy_x_get_y_shows_the_100_percent_it_means_and_refuses_a_value(
    shop: Tenant, db: Database
) -> None:
    """An omitted percent was answered as null (and applied as 100); a stray value was stored."""
    body = {"name": "2 for 1", "effect": {"type": "buy_x_get_y", "buy": 1, "get": 1}}
    made = await shop.call("POST", "/v1/campaigns", body)
    assert made.status_code == 201 and made.json()["effect"]["percent"] == "100", made.text
    path = f"/v1/campaigns/{made.json()['id']}"
    assert (await shop.call("GET", path)).json()["effect"]["percent"] == "100"
    assert discounts(await quote(shop, line("TEE", 2, "10.00"))) == ["10.00"]
    stray = {**body, "effect": {**body["effect"], "percent": "50", "value": "5"}}
    for method, where in (("POST", "/v1/campaigns"), ("PUT", path)):
        error = assert_error(await shop.call(method, where, stray), 422)
        assert error["field"] == "effect.value" and "buy_x_get_y" in error["message"], error
    async with db.transaction() as conn:  # one stored before the percent was filled in
        await conn.execute(
            "UPDATE campaigns SET definition = jsonb_set(definition, '{effect,percent}', 'null')"
            " WHERE tenant_id = %s",
            (shop.tenant_id,),
        )
    assert (await shop.call("GET", path)).json()["effect"]["percent"] == "100"


async def test_money_in_a_campaign_is_answered_with_the_currency_minor_units(shop: Tenant) -> None:
    """Contract 2: money is written with the currency's minor units; "10" was answered as sent."""
    body = {
        "name": "ten off",
        "effect": {"type": "discount_amount", "value": "10"},
        "min_amount": "50.5",
        "limits": {"budget_money": "100"},
    }
    created = await shop.call("POST", "/v1/campaigns", body)
    assert created.status_code == 201, created.text
    for answer in (created.json(), (await shop.call("GET", f"/v1/campaigns/{created.json()['id']}")).json()):
        assert (answer["effect"]["value"], answer["min_amount"], answer["limits"]["budget_money"]) == (
            "10.00",
            "50.50",
            "100.00",
        )
    plain = await shop.call(
        "POST", "/v1/campaigns", {"name": "x2", "effect": {"type": "points_multiplier", "value": "2"}}
    )
    assert plain.json()["min_amount"] == "0.00" and plain.json()["effect"]["value"] == "2"  # not money
    listed = (await shop.call("GET", "/v1/campaigns")).json()["items"]
    assert [c["min_amount"] for c in listed] == ["50.50", "0.00"]


# --- every effect type --------------------------------------------------------------------------


async def test_discount_percent_rounds_half_up_per_line(shop: Tenant) -> None:
    await campaign(shop, effect={"type": "discount_percent", "value": "15"})
    result = await quote(shop, line("TEE", 1, "33.33"), line("TEE", 3, "0.10"))
    assert discounts(result) == ["5.00", "0.05"]  # 4.9995 -> 5.00; 0.045 -> 0.05
    assert result["campaigns"][0]["discount"] == "5.05"


async def test_discount_amount_splits_over_the_lines_in_proportion(shop: Tenant) -> None:
    await campaign(shop, effect={"type": "discount_amount", "value": "10.00"})
    assert discounts(await quote(shop, line("TEE", 1, "30.00"), line("TEE", 1, "70.00"))) == ["3.00", "7.00"]
    assert discounts(await quote(shop, *[line("TEE", 1, "5.00")] * 3)) == ["3.34", "3.33", "3.33"]
    assert discounts(await quote(shop, line("TEE", 1, "4.00"))) == ["4.00"]  # never more than the lines


async def test_fixed_price(shop: Tenant) -> None:
    await campaign(shop, condition="sku = 'TEE'", effect={"type": "fixed_price", "value": "7.99"})
    assert discounts(
        await quote(shop, line("TEE", 3, "10.00"), line("TEE", 1, "5.00"), line("SKI", 1, "10.00"))
    ) == [
        "6.03",
        "0.00",
        "0.00",
    ]


async def test_buy_x_get_y_discounts_the_cheapest_units(shop: Tenant) -> None:
    await campaign(
        shop,
        condition="category = 'socks'",
        effect={"type": "buy_x_get_y", "buy": 2, "get": 1, "percent": "100"},
    )
    result = await quote(
        shop,
        line("S1", 2, "12.00", category="socks"),
        line("S2", 2, "8.00", category="socks"),
        line("S3", 2, "10.00", category="socks"),
    )
    # 6 units: two groups of 3, the two cheapest units (8.00 each) are free
    assert discounts(result) == ["0.00", "16.00", "0.00"]
    # a line lists the campaigns that gave it something: only the free units' line
    assert [bool(ln["campaigns"]) for ln in result["lines"]] == [False, True, False]
    half = await campaign(
        shop,
        name="half",
        condition="category = 'caps'",
        effect={"type": "buy_x_get_y", "buy": 1, "get": 1, "percent": "50"},
    )
    result = await quote(shop, line("C1", 3, "9.99", category="caps"))
    assert discounts(result) == ["5.00"]  # one group of 2: 50% of 9.99 = 4.995 -> 5.00
    assert result["campaigns"][0]["id"] == half


async def test_point_effects(shop: Tenant) -> None:
    member = await member_with(shop)
    await campaign(shop, name="pp", condition="sku = 'TEE'", effect={"type": "points_percent", "value": "10"})
    await campaign(
        shop, name="mult", condition="sku = 'SKI'", effect={"type": "points_multiplier", "value": "3"}
    )
    await campaign(
        shop, name="fixed", condition="sport = 'ski'", effect={"type": "points_fixed", "value": "50"}
    )
    result = await quote(
        shop, line("TEE", 1, "100.00"), line("SKI", 1, "200.00"), line("POLE", 1, "50.00"), member=member
    )
    # base 5%: 5 + 10 + 2.5; TEE +10; SKI x3: +20; fixed 50 over SKI/POLE by paid: 40 + 10
    assert [ln["points_earned"] for ln in result["lines"]] == [15, 70, 12]
    assert result["totals"]["points_earned"] == 97  # floor(97.5)
    assert sorted((c["name"], c["points"], c["discount"]) for c in result["campaigns"]) == [
        ("fixed", 50, "0.00"),
        ("mult", 20, "0.00"),
        ("pp", 10, "0.00"),
    ]
    anonymous = await quote(shop, line("TEE", 1, "100.00"))
    assert anonymous["campaigns"] == [] and anonymous["totals"]["points_earned"] == 0


async def test_points_are_earned_on_what_is_paid_after_points_are_spent(shop: Tenant) -> None:
    member = await member_with(shop, 100)
    await campaign(shop, effect={"type": "points_percent", "value": "10"})
    result = await confirm(shop, line("TEE", 1, "100.00"), member=member, spend_points=40)
    assert result["lines"][0]["paid"] == "60.00"
    assert result["totals"]["points_earned"] == 9  # 60 x (5% + 10%)
    assert result["campaigns"][0]["points"] == 6


# --- stacking and the best deal -------------------------------------------------------------


async def test_line_campaigns_do_not_stack_stackable_ones_do(shop: Tenant) -> None:
    await campaign(shop, name="ten", effect={"type": "discount_percent", "value": "10"})
    await campaign(
        shop, name="twenty", condition="sku = 'TEE'", effect={"type": "discount_percent", "value": "20"}
    )
    await campaign(
        shop,
        name="extra",
        stacking="stackable",
        condition="sku = 'TEE'",
        effect={"type": "discount_percent", "value": "5"},
    )
    result = await quote(shop, line("TEE", 1, "100.00"), line("SKI", 1, "100.00"))
    assert discounts(result) == ["25.00", "10.00"]
    assert sorted(c["name"] for c in result["campaigns"]) == ["extra", "ten", "twenty"]
    assert result["optimal"] is True


async def test_exclusive_is_alone_and_chosen_only_when_worth_more(shop: Tenant) -> None:
    member = await member_with(shop)
    await campaign(shop, name="ten", effect={"type": "discount_percent", "value": "10"})
    await campaign(shop, name="points", effect={"type": "points_percent", "value": "5"})
    exclusive = await campaign(
        shop,
        name="big",
        stacking="exclusive",
        condition="sku = 'SKI'",
        effect={"type": "discount_amount", "value": "30.00"},
    )
    small = await quote(shop, line("TEE", 1, "100.00"), line("SKI", 1, "100.00"), member=member)
    # ten + points: 20.00 off + (180 x 10%) = 38.00; big alone: 30.00 + 170 x 5% = 38.50
    assert [c["id"] for c in small["campaigns"]] == [exclusive]
    assert discounts(small) == ["0.00", "30.00"] and small["totals"]["points_earned"] == 8
    big = await quote(shop, line("TEE", 1, "300.00"), line("SKI", 1, "100.00"), member=member)
    assert sorted(c["name"] for c in big["campaigns"]) == ["points", "ten"]


async def test_thresholds_count_qualifying_lines_before_discounts(shop: Tenant) -> None:
    await campaign(
        shop,
        condition="sport = 'ski'",
        min_amount="100.00",
        min_quantity=2,
        effect={"type": "discount_amount", "value": "10.00"},
    )
    assert discounts(await quote(shop, line("SKI", 1, "99.00"), line("POLE", 1, "0.99"))) == ["0.00", "0.00"]
    assert discounts(await quote(shop, line("SKI", 1, "150.00"), line("TEE", 5, "10.00"))) == ["0.00", "0.00"]
    assert discounts(await quote(shop, line("SKI", 1, "99.01"), line("POLE", 1, "0.99"))) == ["9.90", "0.10"]


# --- windows and audiences ---------------------------------------------------------------------


async def test_local_time_windows_across_two_time_zones(shop: Tenant, clock: ManualClock) -> None:
    await campaign(
        shop,
        hours={"from": "10:00", "to": "14:00"},
        weekdays=[4],
        starts_at="2026-12-03",
        ends_at="2026-12-03",
        effect={"type": "discount_percent", "value": "10"},
    )
    assert discounts(await quote(shop, line("TEE", 1, "10.00"), store="MSK")) == ["1.00"]  # 12:00 Thursday
    assert discounts(await quote(shop, line("TEE", 1, "10.00"), store="VVO")) == ["0.00"]  # 19:00
    clock.fixed = datetime(2026, 12, 3, 1, 30, tzinfo=UTC)  # 04:30 Moscow, 11:30 Vladivostok
    assert discounts(await quote(shop, line("TEE", 1, "10.00"), store="MSK")) == ["0.00"]
    assert discounts(await quote(shop, line("TEE", 1, "10.00"), store="VVO")) == ["1.00"]
    clock.fixed = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)  # Friday 4 Dec in both: out of dates and weekday
    assert discounts(await quote(shop, line("TEE", 1, "10.00"), store="VVO")) == ["0.00"]


async def test_store_city_country_scopes(shop: Tenant) -> None:
    await campaign(shop, name="moscow", cities=["Moscow"], effect={"type": "discount_percent", "value": "10"})
    await campaign(shop, name="vvo store", stores=["VVO"], effect={"type": "discount_percent", "value": "20"})
    await campaign(shop, name="de", countries=["DE"], effect={"type": "discount_percent", "value": "50"})
    assert discounts(await quote(shop, line("TEE", 1, "10.00"), store="MSK")) == ["1.00"]
    assert discounts(await quote(shop, line("TEE", 1, "10.00"), store="VVO")) == ["2.00"]


async def test_a_city_matches_whatever_its_case_and_spaces(shop: Tenant) -> None:
    """A marketer's "moscow " is the store's "Moscow", as a broadcast's city filter takes it."""
    await campaign(
        shop, name="moscow", cities=["  moscow "], effect={"type": "discount_percent", "value": "10"}
    )
    assert discounts(await quote(shop, line("TEE", 1, "10.00"), store="MSK")) == ["1.00"]
    assert discounts(await quote(shop, line("TEE", 1, "10.00"), store="VVO")) == ["0.00"]


async def test_a_city_matches_whatever_its_unicode_form(shop: Tenant) -> None:
    """A store's "Mu\u0308nchen" (decomposed, as macOS and PIM exports write it) did not match a
    campaign's "München", though case and spaces were already ignored."""
    for code, city in (("MUC1", "Mu\u0308nchen"), ("MUC2", "M\u00fcnchen")):
        stored = await shop.call("PUT", f"/v1/stores/{code}", {"name": code, "country": "DE", "city": city})
        assert stored.status_code == 201, stored.text
    for name, city in (("precomposed", "M\u00dcNCHEN"), ("decomposed", "mu\u0308nchen")):
        effect = {"type": "discount_percent", "value": "10"}
        await campaign(shop, name=name, cities=[city], stacking="stackable", effect=effect)
    for code in ("MUC1", "MUC2"):
        assert discounts(await quote(shop, line("TEE", 1, "10.00"), store=code)) == ["2.00"], code


async def test_null_means_what_leaving_a_field_out_means(shop: Tenant) -> None:
    unset = ("active", "weekdays", "stores", "cities", "countries", "tiers", "min_amount", "min_quantity")
    body = {
        "name": "nulls",
        "effect": {"type": "discount_percent", "value": "10"},
        **dict.fromkeys((*unset, "stacking", "priority", "limits", "hours", "condition"), None),
    }
    created = await shop.call("POST", "/v1/campaigns", body)
    assert created.status_code == 201, created.text
    stored = created.json()
    assert (stored["active"], stored["weekdays"], stored["cities"], stored["min_amount"]) == (
        True,
        [],
        [],
        "0.00",
    )
    assert (stored["stacking"], stored["priority"], stored["limits"]["uses"]) == ("line", 0, None)
    assert discounts(await quote(shop, line("TEE", 1, "10.00"), store="MSK")) == ["1.00"]
    nested = await shop.call(
        "POST", "/v1/campaigns", {**body, "birthday": {"days_before": 3, "days_after": None}}
    )
    assert nested.json()["birthday"] == {"days_before": 3, "days_after": 0}, nested.text
    assert (await shop.call("POST", "/v1/campaigns", {**body, "name": None})).status_code == 422
    assert (await shop.call("POST", "/v1/campaigns", {**body, "effect": None})).status_code == 422


async def test_tiers_and_birthday_windows(shop: Tenant) -> None:
    tiers = [
        {"code": "base", "name": "Base", "threshold": "0", "earn_percent": "5"},
        {"code": "gold", "name": "Gold", "threshold": "1000", "earn_percent": "5"},
    ]
    assert (await shop.call("PATCH", "/v1/program", {"tiers": tiers})).status_code == 200
    await campaign(shop, name="gold", tiers=["gold"], effect={"type": "discount_percent", "value": "10"})
    await campaign(
        shop,
        name="bday",
        birthday={"days_before": 3, "days_after": 1},
        stacking="stackable",
        effect={"type": "discount_percent", "value": "5"},
    )
    soon = (
        await shop.call("POST", "/v1/members", {"phone": "+79001113301", "birthday": "1990-12-06"})
    ).json()["id"]
    past = (
        await shop.call("POST", "/v1/members", {"phone": "+79001113302", "birthday": "1985-12-01"})
    ).json()["id"]
    leap = (
        await shop.call("POST", "/v1/members", {"phone": "+79001113303", "birthday": "1992-12-02"})
    ).json()["id"]
    assert discounts(await quote(shop, line("TEE", 1, "100.00"), member=soon)) == ["5.00"]  # in 3 days
    assert discounts(await quote(shop, line("TEE", 1, "100.00"), member=past)) == ["0.00"]  # 2 days ago
    assert discounts(await quote(shop, line("TEE", 1, "100.00"), member=leap)) == ["5.00"]  # yesterday
    assert discounts(await quote(shop, line("TEE", 1, "100.00"))) == ["0.00"]  # anonymous
    # 1100.00 less the birthday 5% the day after her birthday: 1045.00 paid, enough for gold
    await confirm(shop, line("SKI", 1, "1100.00"), member=past, at=(NOW - timedelta(days=1)).isoformat())
    assert discounts(await quote(shop, line("TEE", 1, "100.00"), member=past)) == ["10.00"]


# --- restricted points given by a campaign --------------------------------------------------------


async def test_seed_ski_points_valid_14_days_spendable_only_on_ski_goods(
    shop: Tenant, clock: ManualClock
) -> None:
    member = await member_with(shop)
    await campaign(
        shop,
        name="ski gift",
        condition="category = 'skis'",
        effect={"type": "points_fixed", "value": "500"},
        points={"valid_days": 14, "activation_delay_days": 0, "spend_condition": "sport = 'ski'"},
    )
    bought = await confirm(shop, line("SKI", 1, "1000.00"), member=member)
    assert bought["totals"]["points_earned"] == 550
    lots = {lot["kind"]: lot for lot in (await shop.call("GET", f"/v1/members/{member}/lots")).json()}
    gift = lots["campaign"]
    assert (gift["points"], gift["spend_condition"]) == (500, "sport = 'ski'")
    assert datetime.fromisoformat(gift["expires_at"]) == datetime.fromisoformat("2026-12-17T00:00:00+03:00")
    assert lots["earn"]["points"] == 50
    clock.fixed = NOW + timedelta(days=2)
    tee_only = await quote(shop, line("TEE", 1, "1000.00"), member=member, spend_points="max")
    assert tee_only["totals"]["points_spent"] == 50  # the 50 base points; the ski points may not pay for it
    spent = await quote(
        shop, line("TEE", 1, "1000.00"), line("POLE", 1, "100.00"), member=member, spend_points="max"
    )
    # the ski points go first, on the poles only (cap 50 of 100.00); the base points then fit the tee
    assert [ln["points_spent"] for ln in spent["lines"]] == [50, 50]
    clock.fixed = NOW + timedelta(days=15)
    later = await quote(shop, line("POLE", 1, "100.00"), member=member, spend_points="max")
    assert later["lines"][0]["points_spent"] == 50  # only the base points are left; the gift has expired
    balance = (await shop.call("GET", f"/v1/members/{member}/balance")).json()
    assert balance["available"] == 50


# --- the other seed scenarios ----------------------------------------------------------------------


async def test_seed_double_points_on_columbia_jackets_this_week_in_moscow(
    shop: Tenant, clock: ManualClock
) -> None:
    member = await member_with(shop)
    await campaign(
        shop,
        name="Columbia x2",
        starts_at="2026-11-30",
        ends_at="2026-12-06",
        cities=["Moscow"],
        condition="brand = 'Columbia' and category = 'jackets'",
        effect={"type": "points_multiplier", "value": "2"},
    )
    jacket = line("J1", 1, "1000.00", brand="Columbia", category="jackets")
    other = line("J2", 1, "1000.00", brand="Acme", category="jackets")
    assert (await quote(shop, jacket, other, member=member))["totals"]["points_earned"] == 150
    assert (await quote(shop, jacket, member=member, store="VVO"))["totals"]["points_earned"] == 50
    clock.fixed = NOW + timedelta(days=7)
    assert (await quote(shop, jacket, member=member))["totals"]["points_earned"] == 50


async def test_seed_gold_members_15_percent_on_a_category_not_combinable(shop: Tenant) -> None:
    tiers = [
        {"code": "base", "name": "Base", "threshold": "0", "earn_percent": "5"},
        {"code": "gold", "name": "Gold", "threshold": "500", "earn_percent": "5"},
    ]
    assert (await shop.call("PATCH", "/v1/program", {"tiers": tiers})).status_code == 200
    await campaign(
        shop,
        name="gold jackets",
        tiers=["gold"],
        condition="category = 'jackets'",
        stacking="line",
        effect={"type": "discount_percent", "value": "15"},
    )
    await campaign(shop, name="ten off", effect={"type": "discount_percent", "value": "10"})
    gold = await member_with(shop)
    await confirm(shop, line("SKI", 1, "600.00"), member=gold, at=(NOW - timedelta(days=1)).isoformat())
    base = await member_with(shop, phone="+79001112201")
    basket = (line("J1", 1, "200.00", category="jackets"), line("TEE", 1, "100.00"))
    assert discounts(await quote(shop, *basket, member=gold)) == ["30.00", "10.00"]
    assert discounts(await quote(shop, *basket, member=base)) == ["20.00", "10.00"]


async def test_seed_buy_two_get_one_on_socks_against_twenty_percent_off_everything(shop: Tenant) -> None:
    socks = await campaign(
        shop,
        name="socks 2+1",
        condition="category = 'socks'",
        effect={"type": "buy_x_get_y", "buy": 2, "get": 1},
    )
    everything = await campaign(shop, name="20% off", effect={"type": "discount_percent", "value": "20"})
    result = await quote(
        shop,
        line("SOCK-A", 3, "10.00", category="socks"),  # 2+1: 10.00 off beats 20%: 6.00
        line("SOCK-B", 1, "30.00", category="socks"),  # alone it would not make a group; 20%: 6.00
        line("TEE", 1, "50.00"),  # 20%: 10.00
    )
    assert discounts(result) == ["10.00", "6.00", "10.00"]
    assert result["lines"][0]["campaigns"] == [socks] and result["lines"][1]["campaigns"] == [everything]
    assert result["optimal"] is True


# --- limits and budgets -----------------------------------------------------------------------------


async def test_uses_and_budgets_hold_under_twenty_racing_receipts(shop: Tenant, db: Database) -> None:
    limited = await campaign(
        shop, name="first five", limits={"uses": 5}, effect={"type": "discount_amount", "value": "10.00"}
    )
    budget = await campaign(
        shop,
        name="budget",
        stacking="stackable",
        limits={"budget_money": "30.00"},
        effect={"type": "discount_amount", "value": "5.00"},
    )
    members = [await member_with(shop, phone=f"+7900111{4000 + i}") for i in range(20)]
    bodies = [
        {"store": "MSK", "number": f"L{i}", "member": {"id": m}, "lines": [line("TEE", 1, "100.00")]}
        for i, m in enumerate(members)
    ]
    responses = await asyncio.gather(*[shop.call("POST", "/v1/receipts", b) for b in bodies])
    assert all(r.status_code == 201 for r in responses)
    applied = [sorted(c["id"] for c in r.json()["campaigns"]) for r in responses]
    assert sum(limited in a for a in applied) == 5
    assert sum(budget in a for a in applied) == 6
    async with db.read() as conn:
        cur = await conn.execute(
            "SELECT campaign_id::text AS id, uses, money FROM campaign_usage WHERE tenant_id = %s",
            (shop.tenant_id,),
        )
        usage = {row["id"]: (row["uses"], row["money"]) for row in await cur.fetchall()}
    assert usage[limited][0] == 5 and usage[budget][1] == 30
    # a cancelled receipt gives its use back
    winner = next(r.json() for r in responses if limited in [c["id"] for c in r.json()["campaigns"]])
    assert (await shop.call("POST", f"/v1/receipts/{winner['id']}/cancel")).status_code == 200
    again = await confirm(shop, line("TEE", 1, "100.00"), member=members[0])
    assert limited in [c["id"] for c in again["campaigns"]]
    async with db.read() as conn:
        assert await verify.run(conn, shop.tenant_id) == []


async def test_receipts_and_returns_racing_on_the_same_limited_campaigns_never_deadlock(shop: Tenant) -> None:
    """Receipts count uses and returns give them back in campaign id order: with the line of the
    later campaign first on every receipt, returns in line order would lock the two campaigns'
    rows in the opposite order to receipts."""
    first = await campaign(
        shop,
        name="a",
        stacking="stackable",
        condition="brand = 'A'",
        limits={"uses": 1000},
        effect={"type": "discount_amount", "value": "1.00"},
    )
    second = await campaign(
        shop,
        name="b",
        stacking="stackable",
        condition="brand = 'B'",
        limits={"uses": 1000},
        effect={"type": "discount_amount", "value": "2.00"},
    )
    later, earlier = ("A", "B") if first > second else ("B", "A")
    basket = [line("TEE", 1, "10.00", brand=later), line("CAP", 1, "10.00", brand=earlier)]
    members = [await member_with(shop, phone=f"+7900222{5000 + i}") for i in range(16)]
    sold = [await confirm(shop, *basket, member=m) for m in members[:8]]
    requests = [shop.call("POST", f"/v1/receipts/{r['id']}/cancel") for r in sold] + [
        shop.call(
            "POST", "/v1/receipts", {"store": "MSK", "number": f"D{i}", "member": {"id": m}, "lines": basket}
        )
        for i, m in enumerate(members[8:])
    ]
    responses = await asyncio.gather(*requests)
    assert [r.status_code for r in responses] == [200] * 8 + [201] * 8
    assert all(len(r.json()["campaigns"]) == 2 for r in responses[8:])


async def test_per_member_limit_and_points_budget(shop: Tenant) -> None:
    once = await campaign(
        shop, name="once", limits={"per_member": 1}, effect={"type": "points_fixed", "value": "100"}
    )
    member = await member_with(shop)
    first = await confirm(shop, line("TEE", 1, "10.00"), member=member)
    second = await confirm(shop, line("TEE", 1, "10.00"), member=member)
    assert [c["id"] for c in first["campaigns"]] == [once] and second["campaigns"] == []
    await campaign(
        shop, name="pool", limits={"budget_points": 150}, effect={"type": "points_fixed", "value": "100"}
    )
    other = await member_with(shop, phone="+79001114999")
    third = await confirm(shop, line("TEE", 1, "10.00"), member=other)
    fourth = await confirm(shop, line("TEE", 1, "10.00"), member=other)
    assert "pool" in [c["name"] for c in third["campaigns"]]
    assert "pool" not in [c["name"] for c in fourth["campaigns"]]  # 50 left would not cover 100
    # "once per member" cannot be counted for a customer who is not known: no anonymous basket has it
    tenth = await campaign(
        shop, name="tenth", limits={"per_member": 1}, effect={"type": "discount_percent", "value": "10"}
    )
    anonymous = await confirm(shop, line("TEE", 1, "10.00"))
    assert (anonymous["totals"]["discount"], anonymous["campaigns"]) == ("0.00", [])
    known = await confirm(shop, line("TEE", 1, "10.00"), member=member)
    assert [c["id"] for c in known["campaigns"]] == [tenth]


@pytest.mark.parametrize("read_ahead", [service.MAX_LIMITED_READ_AHEAD, 0])
async def test_quotes_leave_out_campaigns_whose_limits_are_used_up(
    shop: Tenant, read_ahead: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quote reads the limited campaigns' usage with its context (one statement), or, for a
    program with more limited campaigns than that reads, after eligibility: the same answers."""
    monkeypatch.setattr(service, "MAX_LIMITED_READ_AHEAD", read_ahead)
    once = await campaign(
        shop, name="once", limits={"per_member": 1}, effect={"type": "points_fixed", "value": "100"}
    )
    money = await campaign(
        shop, name="money", limits={"budget_money": "5"}, effect={"type": "discount_amount", "value": "3"}
    )
    member = await member_with(shop)
    before = await quote(shop, line("TEE", 1, "10.00"), member=member)
    assert sorted(c["id"] for c in before["campaigns"]) == sorted([once, money])
    await confirm(shop, line("TEE", 1, "10.00"), member=member)
    after = await quote(shop, line("TEE", 1, "10.00"), member=member)
    assert after["campaigns"] == []  # used once by this member; $2 left would not cover $3
    other = await member_with(shop, phone="+79001114998")
    theirs = await quote(shop, line("TEE", 1, "10.00"), member=other)
    assert [c["id"] for c in theirs["campaigns"]] == [once]


async def test_taking_uses_counts_what_fits_and_names_what_does_not(shop: Tenant, db: Database) -> None:
    """``campaign_store.take`` on its own: the limits of several campaigns checked in one go,
    the member's counter bumped only where the campaign's own limits allowed the use."""
    twice = await campaign(
        shop, name="twice", limits={"per_member": 2}, effect={"type": "points_fixed", "value": "10"}
    )
    money = await campaign(
        shop,
        name="money",
        limits={"budget_money": "5.00"},
        effect={"type": "discount_amount", "value": "3.00"},
    )
    member = await member_with(shop)

    def uses(points: int, amount: str) -> list[campaign_store.Use]:
        return [
            campaign_store.Use(twice, points, Decimal(0), None, None, None, 2),
            campaign_store.Use(money, 0, Decimal(amount), None, None, Decimal("5.00"), None),
        ]

    async with db.transaction() as conn:
        assert await campaign_store.take(conn, shop.tenant_id, member, uses(10, "3.00")) == set()
        assert await campaign_store.take(conn, shop.tenant_id, member, uses(10, "3.00")) == {money}
        assert await campaign_store.take(conn, shop.tenant_id, member, uses(10, "2.00")) == {twice}
        cur = await conn.execute(
            "SELECT campaign_id::text AS id, uses, money FROM campaign_usage WHERE tenant_id = %s",
            (shop.tenant_id,),
        )
        usage = {row["id"]: (row["uses"], row["money"]) for row in await cur.fetchall()}
        cur = await conn.execute(
            "SELECT uses FROM campaign_member_usage WHERE tenant_id = %s AND campaign_id = %s",
            (shop.tenant_id, twice),
        )
        member_uses = (await cur.fetchone())["uses"]
    assert usage[twice][0] == 3  # the campaign's own count has no limit; the member's stops at 2
    assert member_uses == 2
    assert usage[money] == (2, Decimal("5.00"))  # 3.00 + 2.00: the second 3.00 did not fit


# --- returns undo campaign effects ---------------------------------------------------------------------


async def test_returns_give_back_campaign_discounts_and_points_exactly(shop: Tenant, db: Database) -> None:
    assert (await shop.call("PATCH", "/v1/program", {"activation_delay_days": 0})).status_code == 200
    member = await member_with(shop)
    await campaign(
        shop,
        name="amount",
        limits={"budget_money": "1000.00"},
        effect={"type": "discount_amount", "value": "10.00"},
    )
    await campaign(shop, name="pts", effect={"type": "points_percent", "value": "10"})
    sold = await confirm(shop, line("TEE", 3, "10.00"), line("SKI", 1, "70.00"), member=member)
    assert discounts(sold) == ["3.00", "7.00"]
    assert sold["totals"]["points_earned"] == 13  # 90.00 x 15% = 13.5
    rid = sold["id"]
    refunds = []
    for number, lines in (
        ("r1", [{"line": 1, "quantity": 1}]),
        ("r2", [{"line": 1, "quantity": 2}, {"line": 2, "quantity": 1}]),
    ):
        response = await shop.call("POST", f"/v1/receipts/{rid}/returns", {"number": number, "lines": lines})
        assert response.status_code == 201
        refunds.append(response.json())
    assert [r["refund"] for r in refunds] == ["9.00", "81.00"]
    assert sum(r["points_reversed"] for r in refunds) == 13
    assert (await shop.call("GET", f"/v1/members/{member}/balance")).json()["available"] == 0
    async with db.read() as conn:
        cur = await conn.execute(
            "SELECT uses, money FROM campaign_usage WHERE tenant_id = %s", (shop.tenant_id,)
        )
        assert [(row["uses"], row["money"]) for row in await cur.fetchall()] == [(0, 0)]
        assert await verify.run(conn, shop.tenant_id) == []


async def usage(db: Database, tenant: Tenant, campaign_id: str) -> tuple[int, Decimal]:
    async with db.read() as conn:
        cur = await conn.execute(
            "SELECT uses, money FROM campaign_usage WHERE tenant_id = %s AND campaign_id = %s",
            (tenant.tenant_id, campaign_id),
        )
        row = await cur.fetchone()
    return (0, Decimal(0)) if row is None else (row["uses"], row["money"])


async def test_a_return_gives_back_only_the_uses_its_receipt_counted(shop: Tenant, db: Database) -> None:
    """A receipt from before the campaign had limits counted no use: cancelling it must not free
    one (the campaign then went past its limit, and later gave a 500 below zero)."""
    body = {"name": "five off", "effect": {"type": "discount_amount", "value": "5.00"}}
    cid = await campaign(shop, **body)
    early = [await confirm(shop, line("TEE", 1, "20.00")) for _ in range(2)]
    assert (
        await shop.call("PUT", f"/v1/campaigns/{cid}", {**body, "limits": {"uses": 2}})
    ).status_code == 200
    counted = [await confirm(shop, line("TEE", 1, "20.00")) for _ in range(2)]
    assert [len(r["campaigns"]) for r in early + counted] == [1, 1, 1, 1]
    assert await usage(db, shop, cid) == (2, Decimal("10.00"))
    for receipt in early:
        assert (await shop.call("POST", f"/v1/receipts/{receipt['id']}/cancel")).status_code == 200
    assert await usage(db, shop, cid) == (2, Decimal("10.00"))
    assert (await confirm(shop, line("TEE", 1, "20.00")))["campaigns"] == []  # still used up
    assert (await shop.call("POST", f"/v1/receipts/{counted[0]['id']}/cancel")).status_code == 200
    assert await usage(db, shop, cid) == (1, Decimal("5.00"))
    assert len((await confirm(shop, line("TEE", 1, "20.00")))["campaigns"]) == 1


async def test_a_limited_campaign_that_gives_a_receipt_nothing_uses_none_of_its_limits(
    shop: Tenant, db: Database
) -> None:
    assert (
        await shop.call("PATCH", "/v1/program", {"max_spend_percent": "100", "activation_delay_days": 0})
    ).status_code == 200
    cid = await campaign(
        shop, name="bonus", limits={"uses": 1}, effect={"type": "points_percent", "value": "10"}
    )
    member = await member_with(shop, points=100)
    paid_in_points = await confirm(shop, line("TEE", 1, "5.00"), member=member, spend_points=5)
    assert paid_in_points["totals"]["paid"] == "0.00"
    assert [c["points"] for c in paid_in_points["campaigns"] if c["id"] == cid] in ([], [0])
    assert await usage(db, shop, cid) == (0, Decimal(0))
    other = await member_with(shop, phone="+79001114999")
    paying = await confirm(shop, line("TEE", 1, "100.00"), member=other)
    assert [(c["id"], c["points"]) for c in paying["campaigns"]] == [(cid, 10)]
    assert await usage(db, shop, cid) == (1, Decimal(0))


async def test_a_long_basket_is_worked_out_off_the_event_loop(
    shop: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1,000-line basket with a few buy-x-get-y campaigns held the event loop for seconds: every
    other till of the process waited."""
    await campaign(shop, name="two for one", effect={"type": "buy_x_get_y", "buy": 1, "get": 1})
    threads: list[bool] = []
    compute = service.engine.compute

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread() is threading.main_thread())
        return compute(*args, **kwargs)

    monkeypatch.setattr(service.engine, "compute", watched)
    long = await quote(shop, *[line("TEE", 2, "49.90")] * service.LINES_ON_A_THREAD)
    short = await quote(shop, line("TEE", 2, "49.90"))
    assert threads == [False, True]  # the long one on a thread, the short one where it was
    assert (long["optimal"], long["totals"]["discount"]) == (True, "4990.00")  # one of each two units free
    assert short["totals"]["discount"] == "49.90"


# --- definitions in memory --------------------------------------------------------------------------


async def test_a_change_made_by_another_process_is_seen_and_quotes_read_no_campaigns(
    shop: Tenant, database_url: str, clock: ManualClock
) -> None:
    import httpx

    from patron.api.app import create_app

    other = create_app(database_url, clock=clock)
    async with (
        other.router.lifespan_context(other),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://other") as http,
    ):
        body = {"store": "MSK", "lines": [line("TEE", 1, "10.00")]}

        async def other_quote() -> dict[str, Any]:
            response = await http.post("/v1/checkout/quote", json=body, headers=shop.auth)
            return dict(response.json())

        assert (await other_quote())["campaigns"] == []
        loads = other.state.campaigns.loads
        for _ in range(5):
            await other_quote()
        assert other.state.campaigns.loads == loads  # cached: quotes do not read campaigns

        async def other_applies(expected: list[str]) -> list[str]:
            """What the other process applies once PostgreSQL's notice of the change reached it
            (docs/ledger-and-checkout.md: a few milliseconds)."""
            seen: list[str] = []
            for _ in range(100):
                seen = [c["id"] for c in (await other_quote())["campaigns"]]
                if seen == expected:
                    break
                await asyncio.sleep(0.02)
            return seen

        cid = await campaign(
            shop, effect={"type": "discount_percent", "value": "10"}
        )  # through the first app
        assert await other_applies([cid]) == [cid]
        assert other.state.campaigns.loads == loads + 1
        assert (await shop.call("DELETE", f"/v1/campaigns/{cid}")).status_code == 204
        assert await other_applies([]) == []


def test_today_is_a_thursday() -> None:
    assert date(2026, 12, 3).isoweekday() == 4


async def test_a_line_lists_only_the_campaigns_that_gave_it_something(shop: Tenant) -> None:
    """Contract 7: "each line lists the ids of those that touched it". A points campaign placed on
    a line that the customer pays nothing for gives it no points, and was listed there all the same."""
    free = await campaign(
        shop, name="free", condition="category = 'free'", effect={"type": "fixed_price", "value": "0"}
    )
    nine = await campaign(shop, name="nine", effect={"type": "points_fixed", "value": "9"})
    member = await member_with(shop)
    result = await quote(
        shop,
        line("J1", 1, "10.00", category="free"),
        line("J2", 1, "10.00"),
        line("P1", 1, "10.00"),
        member=member,
    )
    assert sorted(c["name"] for c in result["campaigns"]) == ["free", "nine"]
    first = result["lines"][0]
    assert (first["paid"], first["campaigns"]) == ("0.00", [free])
    assert all(nine in ln["campaigns"] for ln in result["lines"][1:])
