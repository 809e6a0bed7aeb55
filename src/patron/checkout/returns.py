"""The arithmetic of a return, with no I/O (contract 3 and 7).

A returned unit gives back its cumulative share of each line figure; spent points go back into
the lots they came from, earned points are taken back from what this receipt credited first,
then from the member's other points soonest expiry first; the rest is a shortfall that the
program's return policy settles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from patron.ledger.rules import Holding, take_soonest_first
from patron.money import share_for_return, split_ints


@dataclass(frozen=True, slots=True)
class SoldLine:
    line: int
    quantity: int
    returned: int
    paid: Decimal
    points_spent: int
    points_earned: int


@dataclass(frozen=True, slots=True)
class LineShare:
    line: int
    quantity: int
    paid: Decimal
    points_spent: int
    points_earned: int


def line_share(sold: SoldLine, quantity: int, quantum: Decimal) -> LineShare:
    """What returning ``quantity`` more units of ``sold`` gives back."""
    if quantity < 1 or sold.returned + quantity > sold.quantity:
        raise ValueError("cannot return more units than remain")
    prev, units = sold.returned, sold.quantity
    return LineShare(
        line=sold.line,
        quantity=quantity,
        paid=share_for_return(sold.paid, prev, quantity, units, quantum),
        points_spent=share_for_return(sold.points_spent, prev, quantity, units),
        points_earned=share_for_return(sold.points_earned, prev, quantity, units),
    )


def refund_to_lots(points: int, unrefunded: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spreads ``points`` back over the lots a line spent from, in proportion to what each lot has
    not had back yet (never more than that). ``unrefunded`` is (lot id, points) per lot."""
    outstanding = sum(points for _, points in unrefunded)
    if points < 0 or points > outstanding:
        raise ValueError("cannot refund more than was spent")
    if points == 0:
        return []
    parts = split_ints(points, [p for _, p in unrefunded])
    return [(lot_id, part) for (lot_id, _), part in zip(unrefunded, parts, strict=True) if part]


@dataclass(frozen=True, slots=True)
class TakeBack:
    taken: list[tuple[int, int]]
    shortfall: int


def take_back(points: int, own: Sequence[Holding], others: Sequence[Holding]) -> TakeBack:
    """Earned points to reverse: from this receipt's own lots first, then others, soonest expiry first."""
    taken = take_soonest_first(own, points)
    left = points - sum(p for _, p in taken)
    if left > 0:
        more = take_soonest_first(others, left)
        taken += more
        left -= sum(p for _, p in more)
    return TakeBack(taken, left)


def withhold_money(shortfall: int, point_value: Decimal, refund: Decimal) -> Decimal:
    """Under the ``withhold`` policy: the shortfall's money value, never more than the refund."""
    return min(shortfall * point_value, refund)
