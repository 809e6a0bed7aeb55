"""Property tests: splits and returns add up, max_spendable is a true max flow, allocate meets the
contract's invariants and spends lots in order as far as feasibility allows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from fractions import Fraction
from itertools import pairwise
from math import floor

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.ledger.allocation import (
    Allocation,
    InsufficientPoints,
    SpendLine,
    SpendLot,
    allocate,
    max_spendable,
    spending_order,
)
from patron.money import (
    cumulative_money_share,
    cumulative_share,
    share_for_return,
    split_largest_remainder,
    split_money,
)

CENT = D("0.01")
PROPERTY = settings(max_examples=300, deadline=None)
DATES = [datetime(2027, month, 1, tzinfo=UTC) for month in (1, 3, 6)]


# --- strategies ---------------------------------------------------------------------------------

weights_st = st.lists(
    st.one_of(
        st.integers(0, 50),
        st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=8,
)


@st.composite
def partitions(draw: st.DrawFn, units: int) -> list[int]:
    """A random way of returning ``units`` units in one or more returns (sizes may be 0)."""
    cuts = sorted(draw(st.lists(st.integers(0, units), max_size=6)))
    bounds = [0, *cuts, units]
    return [b - a for a, b in pairwise(bounds)]


@st.composite
def baskets(
    draw: st.DrawFn, max_lines: int = 6, max_lots: int = 5, max_cap: int = 30, max_points: int = 40
) -> tuple[list[SpendLine], list[SpendLot]]:
    indexes = draw(st.lists(st.integers(0, 12), min_size=0, max_size=max_lines, unique=True))
    lines = []
    for index in indexes:
        cents = draw(st.integers(0, 5000))
        cap = draw(st.integers(0, max_cap)) if cents else 0
        lines.append(SpendLine(index, D(cents) / 100, cap))
    lots = []
    for i in range(draw(st.integers(0, max_lots))):
        eligible = draw(st.frozensets(st.sampled_from([*indexes, 13]), max_size=len(indexes) + 1))
        lots.append(
            SpendLot(
                id=f"lot{i}",
                remaining=draw(st.integers(0, max_points)),
                expires_at=draw(st.sampled_from(DATES)),
                restricted=draw(st.booleans()),
                eligible_lines=eligible,
            )
        )
    return lines, lots


# --- oracles ------------------------------------------------------------------------------------


def nx_max_flow(lines: list[SpendLine], lots: list[SpendLot]) -> int:
    graph = nx.DiGraph()
    graph.add_nodes_from(["s", "t"])
    indexes = {line.index for line in lines}
    for line in lines:
        graph.add_edge(("line", line.index), "t", capacity=line.cap)
    for lot in lots:
        graph.add_edge("s", ("lot", lot.id), capacity=lot.remaining)
        for index in lot.eligible_lines & indexes:
            graph.add_edge(("lot", lot.id), ("line", index))  # no capacity attribute: unbounded
    return int(nx.maximum_flow_value(graph, "s", "t"))


def brute_force_max(lines: list[SpendLine], lots: list[SpendLot]) -> int:
    """Try every assignment of points to (lot, line) pairs."""
    caps = {line.index: line.cap for line in lines}
    pairs = [(lot.id, index) for lot in lots for index in sorted(lot.eligible_lines & caps.keys())]
    lot_left = {lot.id: lot.remaining for lot in lots}

    def best(k: int) -> int:
        if k == len(pairs):
            return 0
        lot_id, index = pairs[k]
        top = 0
        for points in range(min(lot_left[lot_id], caps[index]) + 1):
            lot_left[lot_id] -= points
            caps[index] -= points
            top = max(top, points + best(k + 1))
            lot_left[lot_id] += points
            caps[index] += points
        return top

    return best(0)


def check_invariants(
    lines: list[SpendLine], lots: list[SpendLot], allocs: list[Allocation], total: int
) -> None:
    by_id = {lot.id: lot for lot in lots}
    caps = {line.index: line.cap for line in lines}
    assert sum(a.points for a in allocs) == total
    assert all(a.points > 0 for a in allocs)
    assert len({(a.lot_id, a.line) for a in allocs}) == len(allocs)
    for a in allocs:
        assert a.line in by_id[a.lot_id].eligible_lines and a.line in caps
    for lot in lots:
        assert sum(a.points for a in allocs if a.lot_id == lot.id) <= lot.remaining
    for index, cap in caps.items():
        assert sum(a.points for a in allocs if a.line == index) <= cap
    rank = {lot.id: i for i, lot in enumerate(spending_order(lots))}
    keys = [(rank[a.lot_id], a.line) for a in allocs]
    assert keys == sorted(keys)


# --- (1) splits ---------------------------------------------------------------------------------


@PROPERTY
@given(total=st.integers(0, 1000), weights=weights_st)
def test_split_largest_remainder_properties(total: int, weights: list[D | int]) -> None:
    parts = split_largest_remainder(total, weights)
    assert sum(parts) == total and len(parts) == len(weights)
    weight_sum = sum(Fraction(w) for w in weights)
    exact = [
        Fraction(total) * Fraction(w) / weight_sum if weight_sum else Fraction(total, len(weights))
        for w in weights
    ]
    for part, share, w in zip(parts, exact, weights, strict=True):
        assert floor(share) <= part <= floor(share) + 1 and abs(part - share) < 1
        if weight_sum and not w:
            assert part == 0
    # The units above the floor went to the largest remainders, ties to the earlier index.
    remainder = [share - floor(share) for share in exact]
    up = [i for i, (p, s) in enumerate(zip(parts, exact, strict=True)) if p > floor(s)]
    down = [i for i in range(len(parts)) if i not in up]
    for i in up:
        for j in down:
            assert remainder[i] > remainder[j] or (remainder[i] == remainder[j] and i < j)


@PROPERTY
@given(cents=st.integers(0, 100_000), weights=weights_st)
def test_split_money_adds_up(cents: int, weights: list[D | int]) -> None:
    total = D(cents) / 100
    parts = split_money(total, weights, CENT)
    assert sum(parts) == total
    assert all(p.as_tuple().exponent == -2 for p in parts)


# --- (2) returns --------------------------------------------------------------------------------


@PROPERTY
@given(
    data=st.data(), points=st.integers(0, 100_000), cents=st.integers(0, 1_000_000), units=st.integers(1, 24)
)
def test_returns_give_back_exactly_the_figure(
    data: st.DataObject, points: int, cents: int, units: int
) -> None:
    money = D(cents) / 100
    returned = 0
    points_back = 0
    money_back = D("0.00")
    for size in data.draw(partitions(units)):
        p = share_for_return(points, returned, size, units)
        m = share_for_return(money, returned, size, units, CENT)
        assert p >= 0 and m >= 0
        returned += size
        points_back += p
        money_back += m
        # Each cumulative share is figure * r / q rounded half up.
        exact = Fraction(points * returned, units)
        assert cumulative_share(points, returned, units) == floor(exact + Fraction(1, 2))
        exact_cents = Fraction(cents * returned, units)
        assert (
            cumulative_money_share(money, returned, units, CENT)
            == D(floor(exact_cents + Fraction(1, 2))) / 100
        )
    assert returned == units
    assert points_back == points
    assert money_back == money


# --- (3) max_spendable --------------------------------------------------------------------------


@PROPERTY
@given(baskets())
def test_max_spendable_matches_networkx(basket: tuple[list[SpendLine], list[SpendLot]]) -> None:
    lines, lots = basket
    assert max_spendable(lines, lots) == nx_max_flow(lines, lots)


@PROPERTY
@given(baskets(max_lines=3, max_lots=3, max_cap=3, max_points=3))
def test_max_spendable_matches_brute_force(basket: tuple[list[SpendLine], list[SpendLot]]) -> None:
    lines, lots = basket
    assert max_spendable(lines, lots) == brute_force_max(lines, lots)


# --- (4) allocate -------------------------------------------------------------------------------


@PROPERTY
@given(baskets())
def test_allocate_max_spends_max_spendable(basket: tuple[list[SpendLine], list[SpendLot]]) -> None:
    lines, lots = basket
    best = max_spendable(lines, lots)
    check_invariants(lines, lots, allocate(lines, lots, "max"), best)


@PROPERTY
@given(baskets(), st.data())
def test_allocate_spends_exactly_what_is_requested(
    basket: tuple[list[SpendLine], list[SpendLot]], data: st.DataObject
) -> None:
    lines, lots = basket
    best = max_spendable(lines, lots)
    requested = data.draw(st.integers(0, best + 3))
    if requested > best:
        try:
            allocate(lines, lots, requested)
        except InsufficientPoints as error:
            assert (error.requested, error.available) == (requested, best)
        else:
            raise AssertionError("expected InsufficientPoints")
    else:
        check_invariants(lines, lots, allocate(lines, lots, requested), requested)


# --- (5) spending order -------------------------------------------------------------------------


@PROPERTY
@given(baskets(), st.data())
def test_lots_are_spent_in_order_as_far_as_feasible(
    basket: tuple[list[SpendLine], list[SpendLot]], data: st.DataObject
) -> None:
    """The first i lots (in spending order) together spend min(T, F_i), F_i being the most they
    could spend on their own: no earlier lot is left with usable points while a later one pays."""
    lines, lots = basket
    best = max_spendable(lines, lots)
    target = data.draw(st.integers(0, best))
    allocs = allocate(lines, lots, data.draw(st.sampled_from([target, "max"])))
    target = sum(a.points for a in allocs)
    ordered = spending_order(lots)
    spent = 0
    for i, lot in enumerate(ordered):
        spent += sum(a.points for a in allocs if a.lot_id == lot.id)
        assert spent == min(target, nx_max_flow(lines, ordered[: i + 1]))


# --- the spread ---------------------------------------------------------------------------------


def reference_water_fill(total: int, lines: list[SpendLine]) -> dict[int, int]:
    """Fill in proportion, pin lines that overflow at their cap, redistribute, repeat; then round."""
    active = [line for line in lines if line.cap]
    pinned: dict[int, int] = {}
    while True:
        rest = total - sum(pinned.values())
        free = [line for line in active if line.index not in pinned]
        weight = sum(Fraction(line.amount) for line in free)
        over = [line for line in free if Fraction(rest) * Fraction(line.amount) / weight > line.cap]
        if not over:
            break
        pinned.update((line.index, line.cap) for line in over)
    result = dict(pinned)
    parts = split_largest_remainder(rest, [line.amount for line in free])
    result.update((line.index, part) for line, part in zip(free, parts, strict=True))
    return {index: points for index, points in sorted(result.items()) if points}


@PROPERTY
@given(baskets(max_lots=0), st.data())
def test_single_lot_spread_is_capped_proportional(
    basket: tuple[list[SpendLine], list[SpendLot]], data: st.DataObject
) -> None:
    lines, _ = basket
    room = sum(line.cap for line in lines)
    total = data.draw(st.integers(0, room))
    only = SpendLot(
        "only", total + data.draw(st.integers(0, 5)), DATES[0], False, frozenset(x.index for x in lines)
    )
    spread = {a.line: a.points for a in allocate(sorted(lines, key=lambda x: x.index), [only], total)}
    assert spread == reference_water_fill(total, sorted(lines, key=lambda x: x.index))
