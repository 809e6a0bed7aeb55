"""The demo's data shaping (no database): deterministic, valid for Patron, true to the dataset."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal

import phonenumbers
import pytest

from patron.demo import campaigns, data, replay
from patron.members import phones
from patron.program.settings import Program


@pytest.fixture(scope="module")
def year() -> data.Year:
    return data.Year()


def test_every_household_phone_is_a_valid_distinct_us_number() -> None:
    numbers = [data.phone_of(h) for h in range(1, 2501)]
    assert len(set(numbers)) == 2500
    for number in numbers:
        parsed = phonenumbers.parse(number)
        assert phonenumbers.is_valid_number(parsed), number
        assert phonenumbers.region_code_for_number(parsed) == "US"
        assert phones.normalize(number, "US") == number
    assert data.phone_of(1) == "+12025550100"
    with pytest.raises(ValueError):
        data.phone_of(2501)


def test_the_year_is_in_time_order_in_the_demo_year_with_weekdays_kept(year: data.Year) -> None:
    assert len(year) > 150_000
    assert list(year.utc[:1000]) == sorted(year.utc[:1000])
    assert all(a <= b for a, b in zip(year.utc, year.utc[1:], strict=False))
    first, last = year.sale(0), year.sale(len(year) - 1)
    assert first.at.utcoffset() is not None
    # the data starts on Sunday 2017-01-01 and ends on Monday 2018-01-01 (store time)
    assert first.at.date() == date(2024, 12, 29) and first.at.isoweekday() == 7
    assert last.at.date() == date(2025, 12, 29) and last.at.isoweekday() == 1
    years = Counter(year.sale(i).at.year for i in range(0, len(year), 97))
    assert years[2025] > 0.99 * sum(years.values())


def test_a_sale_is_a_valid_receipt_with_shelf_prices_in_whole_cents(year: data.Year) -> None:
    from patron.checkout.model import ReceiptIn

    sale = year.sale(0)
    body = ReceiptIn.model_validate(sale.receipt())
    assert body.number == "31198570044" and body.store == "S00330"
    assert body.member is not None and body.member.card == "HH00900"
    # 0.50 paid, no discount in the data
    assert [(ln.sku, ln.quantity, ln.price) for ln in body.lines] == [("1095275", 1, Decimal("0.50"))]
    assert year.sale(0).at == datetime.fromisoformat("2024-12-29T11:53:26-06:00")
    for index in range(0, len(year), 1013):
        for _, quantity, price in year.sale(index).lines:
            assert quantity >= 1 and Decimal(price) == Decimal(price).quantize(Decimal("0.01"))


def test_fuel_sold_by_fractions_becomes_one_unit_at_the_line_amount(year: data.Year) -> None:
    # fuel lines carry odometer-like quantities (thousands) whose amount does not split into cents
    quantities = [q for i in range(0, 20_000, 7) for _, q, _ in year.sale(i).lines]
    assert max(quantities) < 1000
    assert year.line_count > 1_400_000


def test_stores_households_and_choices_are_deterministic(year: data.Year) -> None:
    stores = year.stores()
    assert len(stores) == len({s.code for s in stores}) == len(set(year.store.tolist()))
    assert {s.timezone for s in stores} <= {c.timezone for c in data.CITIES}
    again = data.Year()
    assert again.stores() == stores
    households = year.households()
    assert len(households) == 2469
    assert households == again.households()
    assert sum(h.birthday is not None for h in households) == 801
    spenders = sum(data.spends_points(int(n)) for n in year.number)
    assert 0.09 < spenders / len(year) < 0.11
    returning = sum(data.returned_line(int(n), 3) is not None for n in year.number)
    assert 0.015 < returning / len(year) < 0.025


def test_plan_keeps_each_household_in_time_order_on_one_queue(year: data.Year) -> None:
    queues = replay.plan(year, 3000, 4)
    sales = [e for q in queues for e in q if e.kind == replay.SALE]
    assert sorted(e.index for e in sales) == list(range(3000))
    owner: dict[int, int] = {}
    for number, queue in enumerate(queues):
        assert [e.utc for e in queue] == sorted(e.utc for e in queue)
        for event in queue:
            assert owner.setdefault(int(year.household[event.index]), number) == number
    returns = [e for q in queues for e in q if e.kind == replay.RETURN]
    assert returns and all(e.utc > int(year.utc[e.index]) for e in returns)


def test_program_and_campaigns_are_valid_definitions() -> None:
    program = Program.model_validate(campaigns.PROGRAM)
    assert [t.code for t in program.effective_tiers] == ["base", "silver", "gold"]
    assert program.currency == "USD"
    windows = {cid: (start, end) for cid, _, start, end in data.campaign_windows()}
    definitions = campaigns.definitions(windows)
    assert len(definitions) >= 12
    assert len({d["name"] for d in definitions}) == len(definitions)
    kinds = {d["effect"]["type"] for d in definitions}
    assert {"discount_percent", "points_multiplier", "buy_x_get_y", "points_fixed"} <= kinds
    assert any((d.get("points") or {}).get("spend_condition") for d in definitions)
    model = pytest.importorskip("patron.campaigns.model")
    for definition in definitions:
        model.CampaignIn.model_validate(definition)
