"""Points that come back into a lot whose receipt's return fell short settle that shortfall
first (``checkout.returns.settle_shortfalls``). Pure."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from patron.checkout.returns import Shortfall, settle_shortfalls


def test_the_debt_is_paid_first_then_what_the_program_absorbed() -> None:
    owing = {7: Shortfall("a", debt=4, absorbed=3)}
    [settled] = settle_shortfalls({7: 10}, owing, member_debt=4)
    assert (settled.receipt_id, settled.lot_id, settled.debt_paid, settled.absorbed) == ("a", 7, 4, 3)


def test_a_debt_already_paid_by_later_earnings_is_not_paid_twice() -> None:
    [settled] = settle_shortfalls({7: 10}, {7: Shortfall("a", debt=9, absorbed=0)}, member_debt=2)
    assert (settled.debt_paid, settled.absorbed) == (2, 0)


def test_lots_of_one_receipt_share_its_shortfall_and_other_lots_keep_their_points() -> None:
    owing = {1: Shortfall("a", 0, 5), 2: Shortfall("a", 0, 5)}
    settled = settle_shortfalls({1: 3, 2: 3, 9: 4}, owing, member_debt=0)
    assert [(s.lot_id, s.absorbed) for s in settled] == [(1, 3), (2, 2)]


receipts = st.sampled_from(["a", "b", "c"])


@given(
    st.dictionaries(st.integers(1, 8), st.integers(1, 50), max_size=8),
    st.dictionaries(
        st.integers(1, 8), st.tuples(receipts, st.integers(0, 30), st.integers(0, 30)), max_size=8
    ),
    st.integers(0, 60),
)
def test_never_more_than_came_back_owed_or_owing(
    refunded: dict[int, int], lots: dict[int, tuple[str, int, int]], member_debt: int
) -> None:
    # one receipt has one shortfall, whichever of its lots names it
    first = {}
    for _lot, (receipt, debt, absorbed) in sorted(lots.items()):
        first.setdefault(receipt, (debt, absorbed))
    owing = {lot: Shortfall(receipt, *first[receipt]) for lot, (receipt, _, _) in lots.items()}
    settled = settle_shortfalls(refunded, owing, member_debt)
    for s in settled:
        assert 0 < s.debt_paid + s.absorbed <= refunded[s.lot_id]
        assert s.debt_paid >= 0 and s.absorbed >= 0
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
