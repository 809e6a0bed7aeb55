"""The receipt arithmetic without a database: caps, spending, earning, returns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.campaigns.optimizer import PointRule
from patron.checkout import engine, returns
from patron.clock import zone
from patron.errors import InsufficientPoints
from patron.ledger.rules import Holding, earned_window, take_soonest_first

RULES = engine.rules_for(Decimal("1.00"), Decimal("50"), "category = 'tobacco'")
SOON = datetime(2027, 1, 1, tzinfo=UTC)


def line(index: int, price: str, quantity: int = 1, **attributes: object) -> engine.Line:
    return engine.Line(index, f"S{index}", quantity, Decimal(price), {"price": Decimal(price), **attributes})


def test_caps_round_down_and_skip_no_spend_lines() -> None:
    lines = [line(1, "99.99"), line(2, "10.00", category="tobacco"), line(3, "0.01")]
    assert engine.caps(lines, [Decimal(0)] * 3, RULES) == [49, 0, 0]
    assert engine.caps(lines, [Decimal("0.99"), Decimal(0), Decimal(0)], RULES) == [49, 0, 0]
    assert engine.caps(lines, [Decimal("1.99"), Decimal(0), Decimal(0)], RULES) == [49, 0, 0]
    assert engine.caps(lines, [Decimal("2.00"), Decimal(0), Decimal(0)], RULES) == [48, 0, 0]


def test_compute_spends_earns_and_balances() -> None:
    lots = [engine.Lot(7, 100, SOON, None)]
    outcome = engine.compute([line(1, "49.90", 2)], RULES, earn_percent=Decimal(5), lots=lots, requested=20)
    (result,) = outcome.lines
    assert (result.points_spent, result.paid, result.points_earned) == (20, Decimal("79.80"), 3)
    assert result.lots == [(7, 20)]


def test_anonymous_baskets_neither_spend_nor_earn() -> None:
    outcome = engine.compute([line(1, "10.00")], RULES, earn_percent=None, lots=[], requested="max")
    assert (outcome.points_spent, outcome.points_earned) == (0, 0)


def test_insufficient_points_names_what_can_be_spent() -> None:
    lots = [engine.Lot(1, 100, SOON, None)]
    with pytest.raises(InsufficientPoints) as caught:
        engine.compute([line(1, "10.00")], RULES, earn_percent=Decimal(5), lots=lots, requested=6)
    assert caught.value.available == 5


def test_campaign_points_are_split_and_counted_per_campaign() -> None:
    rules = [
        PointRule("fixed", frozenset({1, 2}), fixed=10),
        PointRule("pct", frozenset({2}), extra_rate=Decimal(10)),
    ]
    outcome = engine.compute(
        [line(1, "30.00"), line(2, "70.00")],
        RULES,
        earn_percent=Decimal(0),
        lots=[],
        requested=0,
        point_rules=rules,
    )
    assert outcome.campaign_points == {"fixed": 10, "pct": 7}
    assert [ln.points_earned for ln in outcome.lines] == [3, 14]
    assert outcome.lines[1].campaign_points == {"fixed": 7, "pct": 7}


@given(st.lists(st.fractions(min_value=0, max_value=1000, max_denominator=1000), min_size=1, max_size=30))
def test_earn_split_adds_up_and_stays_within_one_point(exact: list[Fraction]) -> None:
    parts = engine.earn_split(exact)
    total = int(sum(exact, Fraction(0)))
    assert sum(parts) == (total if total > 0 else 0)
    whole = sum(exact, Fraction(0))
    for part, value in zip(parts, exact, strict=True):
        share = total * value / whole if whole else 0
        assert share - 1 < part < share + 1


def test_earned_window_is_local_midnight() -> None:
    moscow = zone("Europe/Moscow")
    moment = datetime(2026, 11, 20, 22, 30, tzinfo=UTC)  # 01:30 on the 21st in Moscow
    window = earned_window(moment, moscow, 1, 365)
    assert window.available_from == datetime(2026, 11, 22, tzinfo=moscow)
    assert window.expires_at == datetime(2027, 11, 22, tzinfo=moscow)
    at_once = earned_window(moment, moscow, 0, 10)
    assert at_once.available_from == moment and at_once.expires_at == datetime(2026, 12, 1, tzinfo=moscow)


def test_take_soonest_first() -> None:
    holdings = [
        Holding(1, 10, SOON + timedelta(days=2)),
        Holding(2, 5, SOON),
        Holding(3, 7, SOON + timedelta(days=1)),
    ]
    assert take_soonest_first(holdings, 14) == [(2, 5), (3, 7), (1, 2)]
    assert take_soonest_first(holdings, 100) == [(2, 5), (3, 7), (1, 10)]


def test_return_shares_and_refunds() -> None:
    sold = returns.SoldLine(1, 3, 0, Decimal("20.00"), 10, 1)
    first = returns.line_share(sold, 1, Decimal("0.01"))
    assert (first.paid, first.points_spent, first.points_earned) == (Decimal("6.67"), 3, 0)
    with pytest.raises(ValueError):
        returns.line_share(sold, 4, Decimal("0.01"))
    assert returns.refund_to_lots(3, [(1, 5), (2, 5)]) == [(1, 2), (2, 1)]
    taken = returns.take_back(
        8, [Holding(9, 5, SOON)], [Holding(1, 2, SOON), Holding(2, 9, SOON + timedelta(1))]
    )
    assert (taken.taken, taken.shortfall) == ([(9, 5), (1, 2), (2, 1)], 0)
    assert returns.take_back(3, [], []).shortfall == 3
    assert returns.withhold_money(4, Decimal("0.50"), Decimal("1.00")) == Decimal("1.00")
    # the points money kept back stands for, a part of one counted whole: never money for nothing
    assert returns.points_paid_for(Decimal("1.50"), Decimal("1.00")) == 2
    assert returns.points_paid_for(Decimal("10.00"), Decimal("1.00")) == 10
    assert returns.points_paid_for(Decimal("0.05"), Decimal("0.03")) == 2
    assert returns.points_paid_for(Decimal("0.00"), Decimal("1.00")) == 0


@settings(max_examples=300)
@given(
    spent=st.lists(
        st.tuples(st.integers(1, 50), st.integers(1, 40)), min_size=1, max_size=5, unique_by=lambda t: t[0]
    ),
    quantity=st.integers(1, 6),
    data=st.data(),
)
def test_refunds_over_any_partition_of_units_give_back_every_lot_exactly(
    spent: list[tuple[int, int]], quantity: int, data: st.DataObject
) -> None:
    total = sum(points for _, points in spent)
    outstanding = dict(spent)
    returned = 0
    while returned < quantity:
        n = data.draw(st.integers(1, quantity - returned))
        share = returns.line_share(
            returns.SoldLine(1, quantity, returned, Decimal(0), total, 0), n, Decimal("0.01")
        )
        for lot, points in returns.refund_to_lots(
            share.points_spent, [(k, v) for k, v in outstanding.items() if v]
        ):
            assert 0 < points <= outstanding[lot]
            outstanding[lot] -= points
        returned += n
    assert all(v == 0 for v in outstanding.values())


@settings(max_examples=300)
@given(
    paid=st.lists(
        st.decimals(min_value=Decimal("0"), max_value=Decimal("99999.99"), places=2), min_size=1, max_size=30
    ),
    rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=3),
)
def test_the_split_by_paid_gives_the_same_points_as_exact_fractions(
    paid: list[Decimal], rate: Decimal
) -> None:
    exact = [Fraction(p) * Fraction(rate) / 100 for p in paid]
    assert engine.earn_split_by_paid(paid, rate) == engine.earn_split(exact)
