"""Points that come back into a lot whose receipt's return fell short settle that shortfall
first (``checkout.returns.settle_own_shortfalls``), and then pay the member's debt as any credit
does (``pay_member_debt``).
Pure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from patron.checkout.returns import (
    Settlement,
    Shortfall,
    pass_on,
    pay_member_debt,
    place_shortfall,
    restore_lent,
    settle_own_shortfalls,
)


def settle_shortfalls(
    refunded: dict[int, int], owing: dict[int, Shortfall], live: set[int], member_debt: int
) -> list[Settlement]:
    """The two steps as a return takes them when nothing moves on in between: the receipts' own
    shortfalls, then the member's debt from what is left (with no receipt's debt to name)."""
    own = settle_own_shortfalls(refunded, owing, member_debt)
    left = dict(refunded)
    for s in own:
        left[s.lot_id] -= s.debt_paid + s.absorbed
        member_debt -= s.debt_paid
    return own + pay_member_debt(left, live, member_debt, [])


def test_the_debt_is_paid_first_then_what_the_program_absorbed() -> None:
    owing = {7: Shortfall("a", debt=4, absorbed=3)}
    [settled] = settle_shortfalls({7: 10}, owing, {7}, member_debt=4)
    assert (settled.receipt_id, settled.lot_id, settled.debt_paid, settled.absorbed) == ("a", 7, 4, 3)


def test_a_debt_already_paid_by_later_earnings_is_not_paid_twice() -> None:
    [settled] = settle_shortfalls({7: 10}, {7: Shortfall("a", debt=9, absorbed=0)}, {7}, member_debt=2)
    assert (settled.debt_paid, settled.absorbed) == (2, 0)


def test_lots_of_one_receipt_share_its_shortfall_and_other_lots_keep_their_points() -> None:
    owing = {1: Shortfall("a", 0, 5), 2: Shortfall("a", 0, 5)}
    settled = settle_shortfalls({1: 3, 2: 3, 9: 4}, owing, {1, 2, 9}, member_debt=0)
    assert [(s.lot_id, s.absorbed) for s in settled] == [(1, 3), (2, 2)]


def test_what_is_left_pays_the_member_s_debt_from_lots_not_expired() -> None:
    owing = {1: Shortfall("a", 0, 2)}
    settled = settle_shortfalls({1: 5, 2: 4, 3: 4}, owing, live={1, 3}, member_debt=6)
    assert [(s.receipt_id, s.lot_id, s.debt_paid, s.absorbed) for s in settled] == [
        ("a", 1, 0, 2),
        (None, 1, 3, 0),
        (None, 3, 3, 0),  # lot 2 has expired: its points pay nothing
    ]


def test_a_receipts_own_lot_settles_its_debt_before_the_members_other_lots_pay_it() -> None:
    """Lot 1 is the member's own (a lower id), lot 5 the returned receipt's: its refund pays the
    receipt's debt, and the member's own lot keeps what came back to it."""
    settled = settle_shortfalls({1: 5, 5: 20}, {5: Shortfall("a", 15, 0)}, {1, 5}, member_debt=15)
    assert [(s.receipt_id, s.lot_id, s.debt_paid) for s in settled] == [("a", 5, 15)]


def test_points_back_in_a_returned_receipts_lot_pay_back_the_lots_its_return_took_instead() -> None:
    moves = restore_lent({5: 5, 6: 4, 9: 3}, {5: "a", 6: "a", 9: "b"}, {"a": [(1, 3), (2, 4)], "b": []})
    assert [(m.receipt_id, m.from_lot, m.to_lot, m.points) for m in moves] == [
        ("a", 5, 1, 3),
        ("a", 5, 2, 2),
        ("a", 6, 2, 2),  # what lot 5 could not pay back; lot 6 keeps its other 2
    ]
    assert restore_lent({5: 5}, {}, {"a": [(1, 3)]}) == []  # a lot no receipt credited moves nothing


@given(
    st.dictionaries(st.integers(1, 8), st.integers(1, 30), max_size=8),
    st.dictionaries(st.integers(1, 8), st.sampled_from(["a", "b"]), max_size=8),
    st.dictionaries(
        st.sampled_from(["a", "b"]),
        st.lists(st.tuples(st.integers(10, 15), st.integers(1, 20)), unique_by=lambda t: t[0], max_size=4),
    ),
)
def test_restoring_never_moves_more_than_came_back_or_was_lent(
    left: dict[int, int], owner: dict[int, str], lent: dict[str, list[tuple[int, int]]]
) -> None:
    moves = restore_lent(left, owner, lent)
    for lot, points in left.items():
        assert sum(m.points for m in moves if m.from_lot == lot) <= points
    for receipt, lenders in lent.items():
        for lender, points in lenders:
            assert sum(m.points for m in moves if m.receipt_id == receipt and m.to_lot == lender) <= points
    assert all(m.points > 0 and owner[m.from_lot] == m.receipt_id for m in moves)
    # as much as both allow: a receipt's lots either gave all that came back or repaid all it owed
    for receipt in {owner[lot] for lot in left if lot in owner}:
        moved = sum(m.points for m in moves if m.receipt_id == receipt)
        came_back = sum(points for lot, points in left.items() if owner.get(lot) == receipt)
        assert moved == min(came_back, sum(p for _, p in lent.get(receipt, [])))


def test_points_at_rest_pay_the_debt_of_the_oldest_receipts_first_then_no_receipts() -> None:
    """Paid in a receipt's name, the payment is that receipt's to give back when its lot is
    refilled (``restore_lent``), and its recorded debt stays what it is still owed."""
    paid = pay_member_debt({1: 6, 2: 9, 3: 4}, live={1, 3}, member_debt=9, debts=[("old", 4), ("new", 3)])
    assert [(s.receipt_id, s.lot_id, s.debt_paid) for s in paid] == [
        ("old", 1, 4),
        ("new", 1, 2),
        ("new", 3, 1),  # lot 2 has expired: its points pay nothing
        (None, 3, 2),  # beyond what the receipts recorded
    ]


receipts = st.sampled_from(["a", "b", "c"])


@given(
    st.dictionaries(st.integers(1, 8), st.integers(1, 50), max_size=8),
    st.dictionaries(
        st.integers(1, 8), st.tuples(receipts, st.integers(0, 30), st.integers(0, 30)), max_size=8
    ),
    st.integers(0, 60),
    st.sets(st.integers(1, 8)),
)
def test_never_more_than_came_back_owed_or_owing(
    refunded: dict[int, int], lots: dict[int, tuple[str, int, int]], member_debt: int, live: set[int]
) -> None:
    # one receipt has one shortfall, whichever of its lots names it
    first = {}
    for _lot, (receipt, debt, absorbed) in sorted(lots.items()):
        first.setdefault(receipt, (debt, absorbed))
    owing = {lot: Shortfall(receipt, *first[receipt]) for lot, (receipt, _, _) in lots.items()}
    settled = settle_shortfalls(refunded, owing, live, member_debt)
    for s in settled:
        assert s.debt_paid + s.absorbed > 0 and s.debt_paid >= 0 and s.absorbed >= 0
        assert s.receipt_id is not None or s.lot_id in live
    for lot, points in refunded.items():
        assert sum(s.debt_paid + s.absorbed for s in settled if s.lot_id == lot) <= points
    assert sum(s.debt_paid for s in settled) <= member_debt
    for receipt, (debt, absorbed) in first.items():
        mine = [s for s in settled if s.receipt_id == receipt]
        assert sum(s.debt_paid for s in mine) <= debt and sum(s.absorbed for s in mine) <= absorbed
    # as much as could be settled was: a receipt whose lots brought back more than it kept owes nothing
    # more, or only debt that the member no longer owes
    debt_left = member_debt - sum(s.debt_paid for s in settled)
    for receipt, (debt, absorbed) in first.items():
        mine = [s for s in settled if s.receipt_id == receipt]
        brought = sum(p for lot, p in refunded.items() if lot in owing and owing[lot].receipt_id == receipt)
        if sum(s.debt_paid + s.absorbed for s in mine) < brought:
            assert sum(s.absorbed for s in mine) == absorbed
            assert sum(s.debt_paid for s in mine) == debt or debt_left == 0


def test_a_shortfall_another_return_caused_is_passed_on_to_it_once() -> None:
    drains = [("a", 9), ("c", 3)]
    assert pass_on(1, drains, passed=0) == [("a", 1)]
    assert pass_on(10, drains, passed=1) == [("a", 8), ("c", 2)]  # a's first unit went before
    assert pass_on(5, drains, passed=12) == []  # all passed on already: the rest is its own
    assert pass_on(0, drains, passed=0) == []


def test_a_shortfall_waits_on_its_own_receipt_while_returns_to_come_can_refill_its_lots() -> None:
    drains = [("a", 9)]
    assert place_shortfall(6, refillable=14, owed=0, drains=drains, passed=0) == (6, [])
    assert place_shortfall(6, refillable=14, owed=10, drains=drains, passed=0) == (4, [("a", 2)])
    assert place_shortfall(6, refillable=0, owed=0, drains=drains, passed=0) == (0, [("a", 6)])
    assert place_shortfall(12, refillable=0, owed=0, drains=drains, passed=0) == (3, [("a", 9)])


def test_a_credit_pays_the_oldest_recorded_debts_first_and_names_no_receipt_beyond_them() -> None:
    from patron.ledger.rules import split_debt

    assert split_debt(7, [("old", 4), ("new", 5)]) == [("old", 4), ("new", 3)]
    assert split_debt(12, [("old", 4), ("new", 5)]) == [("old", 4), ("new", 5)]  # 3 in no one's name
    assert split_debt(0, [("old", 4)]) == []
