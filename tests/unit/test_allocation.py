"""Exact small examples for patron.ledger.allocation: order, spread, feasibility."""

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from patron.ledger import allocation
from patron.ledger.allocation import (
    Allocation,
    InsufficientPoints,
    SpendLine,
    SpendLot,
    allocate,
    allocations_by_line,
    max_spendable,
    spending_order,
)

JAN = datetime(2027, 1, 31, tzinfo=UTC)
FEB = datetime(2027, 2, 28, tzinfo=UTC)
DEC = datetime(2027, 12, 31, tzinfo=UTC)


def lot(
    lot_id: str, remaining: int, expires_at: datetime, lines: set[int], *, restricted: bool = False
) -> SpendLot:
    return SpendLot(lot_id, remaining, expires_at, restricted, frozenset(lines))


def lines(*specs: tuple[str, int]) -> list[SpendLine]:
    return [SpendLine(i, D(amount), cap) for i, (amount, cap) in enumerate(specs)]


def test_spending_order_restricted_then_soonest_expiry_then_id() -> None:
    regular_dec = lot("r-dec", 10, DEC, {0})
    birthday_feb = lot("birthday", 10, FEB, {0})
    regular_jan_b = lot("b", 10, JAN, {0})
    regular_jan_a = lot("a", 10, JAN, {0})
    coffee_dec = lot("coffee", 10, DEC, {0}, restricted=True)
    ordered = spending_order([regular_dec, birthday_feb, regular_jan_b, coffee_dec, regular_jan_a])
    assert [x.id for x in ordered] == ["coffee", "a", "b", "birthday", "r-dec"]


def test_lots_of_one_expiry_go_in_the_order_of_their_numbers() -> None:
    """Lot ids are numbers as text: 996 before 1001, as a debit takes them (not "1001" < "996")."""
    ordered = spending_order([lot("1001", 6, JAN, {0}), lot("996", 23, JAN, {0}), lot("97", 1, JAN, {0})])
    assert [x.id for x in ordered] == ["97", "996", "1001"]


def test_restricted_lot_goes_first_and_only_on_matching_lines() -> None:
    basket = lines(("10.00", 100), ("30.00", 300))
    coffee = lot("coffee", 50, DEC, {0}, restricted=True)  # expires last, still goes first
    regular = lot("regular", 500, JAN, {0, 1})
    assert allocate(basket, [regular, coffee], 120) == [
        Allocation("coffee", 0, 50),
        # 70 over room 50 / 300 by amount 10:30 -> 17.5 / 52.5 -> 18 / 52 (tie to the earlier line).
        Allocation("regular", 0, 18),
        Allocation("regular", 1, 52),
    ]


def test_soonest_expiry_first() -> None:
    basket = lines(("20.00", 1000))
    late = lot("late", 500, DEC, {0})
    soon = lot("soon", 300, JAN, {0})
    birthday = lot("birthday", 100, FEB, {0})
    assert allocate(basket, [late, birthday, soon], 350) == [
        Allocation("soon", 0, 300),
        Allocation("birthday", 0, 50),
    ]


def test_proportional_spread_with_a_capped_line_overflowing() -> None:
    # Amounts 10 / 20 / 70, 100 points: proportional 10 / 20 / 70, but line 2 takes at most 40.
    # The 30 it cannot take goes to lines 0 and 1 in proportion 10:20 -> 20 / 40.
    basket = lines(("10.00", 100), ("20.00", 100), ("70.00", 40))
    assert allocate(basket, [lot("p", 1000, DEC, {0, 1, 2})], 100) == [
        Allocation("p", 0, 20),
        Allocation("p", 1, 40),
        Allocation("p", 2, 40),
    ]


def test_overflow_cascades_through_several_caps() -> None:
    # 90 points over 1 / 1 / 1 / 1 with caps 5 / 10 / 100 / 100: line 0 full at 5, then line 1 at 10,
    # the remaining 75 split 37.5 / 37.5 -> 38 / 37 (tie to the earlier line).
    basket = lines(("1", 5), ("1", 10), ("1", 100), ("1", 100))
    spent = allocate(basket, [lot("p", 90, DEC, {0, 1, 2, 3})], 90)
    assert allocations_by_line(spent) == {0: 5, 1: 10, 2: 38, 3: 37}


def test_spread_rounds_by_largest_remainder() -> None:
    # Over 3.00 / 3.00 / 4.00: 10 points split exactly 3 / 3 / 4; 11 points are 3.3 / 3.3 / 4.4 and
    # the odd point goes to the largest remainder (line 2); 12 points are 3.6 / 3.6 / 4.8 and the two
    # odd points go to line 2 (.8) and line 0 (.6, tied with line 1, earlier wins).
    basket = lines(("3.00", 100), ("3.00", 100), ("4.00", 100))
    only = [lot("p", 100, DEC, {0, 1, 2})]
    assert allocations_by_line(allocate(basket, only, 10)) == {0: 3, 1: 3, 2: 4}
    assert allocations_by_line(allocate(basket, only, 11)) == {0: 3, 1: 3, 2: 5}
    assert allocations_by_line(allocate(basket, only, 12)) == {0: 4, 1: 3, 2: 5}


def test_requested_beyond_max_raises_with_available() -> None:
    basket = lines(("10.00", 30), ("5.00", 10))
    lots = [lot("a", 25, JAN, {0, 1}), lot("coffee", 100, DEC, {1}, restricted=True)]
    assert max_spendable(basket, lots) == 35
    with pytest.raises(InsufficientPoints) as info:
        allocate(basket, lots, 36)
    assert (info.value.requested, info.value.available) == (36, 35)


def test_max_spends_everything_possible() -> None:
    basket = lines(("10.00", 30), ("5.00", 10))
    lots = [lot("a", 25, JAN, {0, 1}), lot("coffee", 100, DEC, {1}, restricted=True)]
    spent = allocate(basket, lots, "max")
    assert spent == [Allocation("coffee", 1, 10), Allocation("a", 0, 25)]
    assert sum(a.points for a in spent) == 35


def test_zero_request_and_nothing_to_spend() -> None:
    basket = lines(("10.00", 30))
    assert allocate(basket, [lot("a", 25, JAN, {0})], 0) == []
    assert allocate(basket, [], "max") == []
    assert allocate(lines(("0.00", 0)), [lot("a", 25, JAN, {0})], "max") == []
    assert max_spendable(basket, [lot("a", 25, JAN, {7})]) == 0


def test_excluded_line_has_cap_zero() -> None:
    # A no_spend line arrives with cap 0 and takes nothing, whatever its amount.
    basket = lines(("100.00", 0), ("10.00", 50))
    assert allocate(basket, [lot("a", 80, JAN, {0, 1})], "max") == [Allocation("a", 1, 50)]


def test_greedy_trap_restricted_lots_still_spend_the_feasible_total() -> None:
    # A (expires first) may pay for lines 0 and 1, B only for line 0. A proportional spread of A
    # would take 3 points of line 0 and leave B only 2; the whole 10 is feasible, so A steps aside.
    basket = lines(("10.00", 5), ("10.00", 5))
    a = lot("A", 5, JAN, {0, 1}, restricted=True)
    b = lot("B", 5, FEB, {0}, restricted=True)
    assert max_spendable(basket, [a, b]) == 10
    assert allocate(basket, [a, b], "max") == [Allocation("A", 1, 5), Allocation("B", 0, 5)]
    assert allocate(basket, [a, b], 10) == [Allocation("A", 1, 5), Allocation("B", 0, 5)]


def test_fallback_stays_proportional_where_it_can() -> None:
    # A's 12 points would go 2.4 / 2.4 / 7.2, but B needs all of line 0's room. A spreads its 12
    # over lines 1 and 2 in proportion 10:30 -> 3 / 9; the regular lot fills the rest.
    basket = lines(("10.00", 5), ("10.00", 5), ("30.00", 100))
    a = lot("A", 12, JAN, {0, 1, 2}, restricted=True)
    b = lot("B", 5, FEB, {0}, restricted=True)
    regular = lot("R", 50, JAN, {0, 1, 2})
    assert allocate(basket, [regular, b, a], 20) == [
        Allocation("A", 1, 3),
        Allocation("A", 2, 9),
        Allocation("B", 0, 5),
        # 3 over room 2 / 91 by 10:30 -> 0.75 / 2.25 -> 1 / 2.
        Allocation("R", 1, 1),
        Allocation("R", 2, 2),
    ]


def test_fallback_partial_reservation() -> None:
    # B needs 3 of line 0's 5; A (4 points, lines 0 and 1 equally weighted) would take 2 / 2 and
    # leaves 3 for B: fine, no fallback. With A at 8: 4 / 4 leaves B 1 -> A may take at most 2 on
    # line 0, and 6 on line 1.
    basket = lines(("10.00", 5), ("10.00", 10))
    b = lot("B", 3, FEB, {0}, restricted=True)
    four = allocate(basket, [lot("A", 4, JAN, {0, 1}, restricted=True), b], "max")
    assert four == [Allocation("A", 0, 2), Allocation("A", 1, 2), Allocation("B", 0, 3)]
    eight = allocate(basket, [lot("A", 8, JAN, {0, 1}, restricted=True), b], "max")
    assert eight == [Allocation("A", 0, 2), Allocation("A", 1, 6), Allocation("B", 0, 3)]


def test_earlier_lot_gives_way_only_as_far_as_later_lots_need() -> None:
    # Target 8: A spends all 5, B the other 3 (on line 0, the only line it may use). A's plain
    # spread 3 / 2 would leave B only 2 on line 0, so A keeps line 0 to 2 points (all that B can
    # spare) and puts 3 on line 1: as close to 2.5 / 2.5 as B allows.
    basket = lines(("10.00", 5), ("10.00", 5))
    a = lot("A", 5, JAN, {0, 1}, restricted=True)
    b = lot("B", 5, FEB, {0}, restricted=True)
    assert allocate(basket, [a, b], 8) == [
        Allocation("A", 0, 2),
        Allocation("A", 1, 3),
        Allocation("B", 0, 3),
    ]
    # Target 4: A alone covers it, proportionally.
    assert allocate(basket, [a, b], 4) == [Allocation("A", 0, 2), Allocation("A", 1, 2)]


def test_allocations_by_line_sums_per_line() -> None:
    allocs = [Allocation("a", 2, 5), Allocation("b", 0, 1), Allocation("c", 2, 3)]
    assert allocations_by_line(allocs) == {0: 1, 2: 8}


@pytest.mark.parametrize("requested", [-1, "all", 1.5, True])
def test_bad_requests_are_refused(requested: object) -> None:
    with pytest.raises(ValueError):
        allocate(lines(("1", 1)), [], requested)  # type: ignore[arg-type]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        max_spendable([SpendLine(0, D("1"), 1), SpendLine(0, D("2"), 1)], [])
    with pytest.raises(ValueError):
        max_spendable([SpendLine(0, D("0"), 5)], [])
    with pytest.raises(ValueError):
        max_spendable([SpendLine(0, D("-1"), 0)], [])
    with pytest.raises(ValueError):
        max_spendable(lines(("1", 1)), [lot("a", 1, JAN, {0}), lot("a", 2, JAN, {0})])
    with pytest.raises(ValueError):
        max_spendable(lines(("1", 1)), [lot("a", -1, JAN, {0})])


def test_lots_that_may_pay_for_the_same_lines_share_one_node_of_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each lot had a node of its own, and each lot checked every later one: a member with a
    thousand lots made a 100-line "max" quote take seconds, and 5,000 lots hung the server."""
    sizes: list[int] = []
    network = allocation._network

    def counted(caps: Any, lots: int) -> Any:
        sizes.append(lots)
        return network(caps, lots)

    monkeypatch.setattr(allocation, "_network", counted)
    lines = [SpendLine(i, D("10.00"), 5) for i in range(40)]
    ski = frozenset(range(0, 40, 4))
    lots = [
        SpendLot(
            f"l{k}",
            1,
            datetime(2027, 1, 1 + k % 28, tzinfo=UTC),
            k % 10 == 0,
            ski if k % 10 == 0 else frozenset(range(40)),
        )
        for k in range(1000)
    ]
    spent = allocate(lines, lots, "max")
    assert sum(a.points for a in spent) == 200  # every line's cap
    assert (
        sum(a.points for a in spent if a.lot_id in {f"l{k}" for k in range(0, 1000, 10)}) == 50
    )  # ski lots first
    assert sizes and max(sizes) <= 2  # two kinds of lots: two nodes, however many lots
