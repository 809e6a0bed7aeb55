"""The arithmetic of a return, with no I/O (contract 3 and 7).

A returned unit gives back its cumulative share of each line figure; spent points go back into
the lots they came from, earned points are taken back from what this receipt credited first,
then from the member's other points soonest expiry first; the rest is a shortfall that the
program's return policy settles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from patron.ledger.rules import Holding, split_debt, take_soonest_first
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


def take_back(
    points: int, own: Sequence[Holding], others: Sequence[Holding], later: Sequence[Holding] = ()
) -> TakeBack:
    """Earned points to reverse: from this receipt's own lots first, then the member's other
    available ones, then (under the ``debt`` policy, which passes them) points not available yet:
    each group soonest expiry first."""
    taken: list[tuple[int, int]] = []
    left = points
    for group in (own, others, later):
        if left <= 0:
            break
        more = take_soonest_first(group, left)
        taken += more
        left -= sum(p for _, p in more)
    return TakeBack(taken, left)


def withhold_money(shortfall: int, point_value: Decimal, refund: Decimal) -> Decimal:
    """Under the ``withhold`` policy: the shortfall's money value, never more than the refund."""
    return min(shortfall * point_value, refund)


def points_paid_for(withheld: Decimal, point_value: Decimal) -> int:
    """The points that money withheld stands for, a part of one counted whole (1.50 kept back at
    1.00 a point is 2 points, not 1 and 0.50 for nothing): the rest of a shortfall is absorbed."""
    if point_value <= 0:
        return 0
    return int((withheld / point_value).to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True, slots=True)
class Shortfall:
    """What an earlier return of a receipt could not take back of its earned points: owed by the
    member as debt, or absorbed by the program (``clamp``)."""

    receipt_id: str
    debt: int
    absorbed: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """Points of a refund kept back from ``lot_id``: to settle ``receipt_id``'s shortfall, or,
    with no receipt, to pay the member's debt as any credit does."""

    receipt_id: str | None
    lot_id: int
    debt_paid: int
    absorbed: int


def settle_own_shortfalls(
    refunded: dict[int, int], owing: dict[int, Shortfall], member_debt: int
) -> list[Settlement]:
    """Spent points going back into the lots of a receipt whose return fell short of them settle
    that shortfall first: they were that receipt's earnings, and it was returned.

    ``refunded``: points put back per lot; ``owing``: the shortfall of the receipt that credited
    each lot (several lots may share one receipt, and so its shortfall). A receipt's debt part is
    settled first, never beyond the member's current debt (later earnings may have paid it
    already); then what the program absorbed. Lots in id order, so the outcome does not depend on
    the caller's."""
    debt_left = {s.receipt_id: s.debt for s in owing.values()}
    absorbed_left = {s.receipt_id: s.absorbed for s in owing.values()}
    settlements = []
    for lot_id in sorted(lot for lot in refunded if lot in owing):
        receipt = owing[lot_id].receipt_id
        debt_paid = min(refunded[lot_id], debt_left[receipt], member_debt)
        absorbed = min(refunded[lot_id] - debt_paid, absorbed_left[receipt])
        if debt_paid or absorbed:
            debt_left[receipt] -= debt_paid
            absorbed_left[receipt] -= absorbed
            member_debt -= debt_paid
            settlements.append(Settlement(receipt, lot_id, debt_paid, absorbed))
    return settlements


def pay_member_debt(
    resting: dict[int, int], live: set[int], member_debt: int, debts: Sequence[tuple[str, int]]
) -> list[Settlement]:
    """Points that came back and are needed nowhere else, in a lot not expired (``live``), pay the
    member's debt, as any credit does: the debt of the returned receipts that recorded one
    (``debts``, oldest first), so that each receipt's recorded shortfall stays what it is still
    owed, and the payment counts as taken from that lot in the receipt's name (when the receipt's
    own lot is refilled later, ``restore_lent`` gives it back); beyond those, no receipt's."""
    owed = [(receipt, points) for receipt, points in debts if points > 0]
    settlements = []
    for lot_id in sorted(lot for lot in resting if lot in live):
        points = min(resting[lot_id], member_debt)
        if points <= 0:
            continue
        parts = split_debt(points, owed)
        paid = dict(parts)
        owed = [(receipt, left) for receipt, owes in owed if (left := owes - paid.get(receipt, 0)) > 0]
        settlements += [Settlement(receipt, lot_id, part, 0) for receipt, part in parts]
        if rest := points - sum(paid.values()):
            settlements.append(Settlement(None, lot_id, rest, 0))
        member_debt -= points
    return settlements


@dataclass(frozen=True, slots=True)
class Restore:
    """Points moved from a returned receipt's lot back into a lot its return took them from."""

    receipt_id: str
    from_lot: int
    to_lot: int
    points: int


def restore_lent(
    left: dict[int, int], owner: dict[int, str], lent: dict[str, list[tuple[int, int]]]
) -> list[Restore]:
    """Points that came back into the lots of a receipt whose return found them spent first pay
    back the lots that return took in their place (the member's other points, "lent" to it).

    Receipt A earns 20 points, B spends them and 5 of the member's own, and A is cancelled: its
    lot is empty, so the cancel takes 5 of the member's own points (and the rest falls short).
    When B is cancelled, its 20 go back into A's lot: what is left of them after A's shortfall is
    settled goes back to where A took the member's own 5, so that both cancelled leave the member
    as before, in either order, with their own points' expiry and restrictions.

    ``left``: points just put back per lot, less what settled shortfalls; ``owner``: the receipt
    that credited each of those lots; ``lent``: per receipt, the lots its returns took in place
    of its own, with the points not yet paid back, in the order taken."""
    outstanding = {receipt: [[lot, points] for lot, points in lots] for receipt, lots in lent.items()}
    moves = []
    for lot_id in sorted(left):
        receipt = owner.get(lot_id)
        if receipt is None:
            continue
        points = left[lot_id]
        for lender in outstanding.get(receipt, []):
            if points <= 0:
                break
            part = min(points, lender[1])
            if part > 0:
                moves.append(Restore(receipt, lot_id, lender[0], part))
                lender[1] -= part
                points -= part
    return moves


def place_shortfall(
    shortfall: int, refillable: int, owed: int, drains: Sequence[tuple[str, int]], passed: int
) -> tuple[int, list[tuple[str, int]]]:
    """Where a receipt's new shortfall waits for points to come back: ``(its own part, the parts
    passed on)``. First on the receipt itself, as far as its points are out on receipts not yet
    returned (``refillable``, less what it already waits for: ``owed``), since their returns refill
    its lots; then on the receipts whose returns took its points (``pass_on``); the rest its own."""
    own = min(shortfall, max(0, refillable - owed))
    others = pass_on(shortfall - own, drains, passed)
    return shortfall - sum(points for _, points in others), others


def pass_on(shortfall: int, drains: Sequence[tuple[str, int]], passed: int) -> list[tuple[str, int]]:
    """The part of a receipt's shortfall that other receipts' returns caused, by those receipts.

    ``drains``: in the order it happened, the points other receipts' returns took from this
    receipt's lots (as "the member's other points"), which this receipt's own return now misses;
    ``passed``: what earlier returns of this receipt already passed on (the drains' first units).
    The rest of the shortfall is this receipt's own."""
    out: list[tuple[str, int]] = []
    for receipt_id, points in drains:
        skip = min(passed, points)
        passed -= skip
        give = min(points - skip, shortfall)
        if give:
            out.append((receipt_id, give))
            shortfall -= give
    return out
