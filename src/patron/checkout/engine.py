"""The arithmetic of a receipt, with no I/O: spend caps, which lots pay for which lines, what is
paid in money, and the points earned. Campaigns (discounts and extra points) arrive as inputs.

Rules (contract 3 and 7):
- a line's cap is (amount - discount) x max_spend_percent / 100 / point_value, rounded down;
  lines matching the program's ``no_spend_condition`` have cap 0;
- lots are spent by ``ledger.allocation`` (spending order, proportional spread, max flow);
- ``paid = amount - discount - points_spent x point_value``;
- the receipt earns floor(sum of exact line figures) points, split over lines by largest remainder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from patron.conditions import Predicate, compile_condition
from patron.errors import InsufficientPoints
from patron.ledger import allocation
from patron.money import round_down_int, split_largest_remainder

HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Line:
    """A priced basket line; ``attributes`` is what conditions see (catalog, line, sku, price, quantity)."""

    index: int
    sku: str
    quantity: int
    price: Decimal
    attributes: Mapping[str, object]

    @property
    def amount(self) -> Decimal:
        return self.price * self.quantity


@dataclass(frozen=True, slots=True)
class Lot:
    """Points a member may spend now."""

    id: int
    remaining: int
    expires_at: datetime
    spend_condition: str | None


@dataclass(frozen=True, slots=True)
class Rules:
    """The program's settings that the arithmetic needs."""

    point_value: Decimal
    max_spend_percent: Decimal
    no_spend: Predicate | None


@dataclass(slots=True)
class LineResult:
    line: int
    sku: str
    quantity: int
    amount: Decimal
    discount: Decimal
    points_spent: int
    paid: Decimal
    points_earned: int
    campaigns: list[str] = field(default_factory=list)
    lots: list[tuple[int, int]] = field(default_factory=list)


@dataclass(slots=True)
class Outcome:
    lines: list[LineResult]
    points_spent: int
    points_earned: int

    @property
    def amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def discount(self) -> Decimal:
        return sum((line.discount for line in self.lines), Decimal(0))

    @property
    def paid(self) -> Decimal:
        return sum((line.paid for line in self.lines), Decimal(0))


def caps(lines: Sequence[Line], discounts: Sequence[Decimal], rules: Rules) -> list[int]:
    """Most points each line may take."""
    result = []
    for line, discount in zip(lines, discounts, strict=True):
        if rules.no_spend is not None and rules.no_spend(line.attributes):
            result.append(0)
            continue
        after = line.amount - discount
        result.append(max(0, round_down_int(after * rules.max_spend_percent / HUNDRED / rules.point_value)))
    return result


def spend(
    lines: Sequence[Line],
    discounts: Sequence[Decimal],
    rules: Rules,
    lots: Sequence[Lot],
    requested: int | Literal["max"],
) -> list[allocation.Allocation]:
    """Which lot pays how much for which line; InsufficientPoints when ``requested`` cannot be met."""
    if requested == 0 or (not lots and requested == "max"):
        return []
    line_caps = caps(lines, discounts, rules)
    spend_lines = [
        allocation.SpendLine(line.index, line.amount - discount if cap else Decimal(0), cap)
        for line, discount, cap in zip(lines, discounts, line_caps, strict=True)
    ]
    every = frozenset(line.index for line in lines)
    spend_lots = []
    for lot in lots:
        if lot.spend_condition:
            matches = compile_condition(lot.spend_condition)
            eligible = frozenset(line.index for line in lines if matches(line.attributes))
        else:
            eligible = every
        spend_lots.append(
            allocation.SpendLot(
                str(lot.id), lot.remaining, lot.expires_at, bool(lot.spend_condition), eligible
            )
        )
    try:
        return allocation.allocate(spend_lines, spend_lots, requested)
    except allocation.InsufficientPoints as exc:
        raise InsufficientPoints(exc.requested, exc.available) from exc


def earn_split(exact: Sequence[Decimal]) -> list[int]:
    """The receipt's points: the exact total rounded down, split over lines by largest remainder."""
    total = round_down_int(sum(exact, Decimal(0)))
    if total <= 0:
        return [0] * len(exact)
    return split_largest_remainder(total, list(exact))


def compute(
    lines: Sequence[Line],
    discounts: Sequence[Decimal],
    rules: Rules,
    *,
    earn_percent: Decimal | None,
    lots: Sequence[Lot],
    requested: int | Literal["max"],
    extra_points_exact: Sequence[Decimal] | None = None,
    campaigns: Sequence[list[str]] | None = None,
) -> Outcome:
    """The whole receipt. ``earn_percent`` None means an anonymous basket: it earns and spends nothing."""
    allocations = spend(lines, discounts, rules, lots, requested) if earn_percent is not None else []
    spent = {line.index: 0 for line in lines}
    by_line: dict[int, list[tuple[int, int]]] = {line.index: [] for line in lines}
    for alloc in allocations:
        spent[alloc.line] += alloc.points
        by_line[alloc.line].append((int(alloc.lot_id), alloc.points))
    paid = [
        line.amount - discount - spent[line.index] * rules.point_value
        for line, discount in zip(lines, discounts, strict=True)
    ]
    if earn_percent is None:
        earned = [0] * len(lines)
    else:
        exact = [p * earn_percent / HUNDRED for p in paid]
        if extra_points_exact is not None:
            exact = [e + x for e, x in zip(exact, extra_points_exact, strict=True)]
        earned = earn_split(exact)
    results = [
        LineResult(
            line=line.index,
            sku=line.sku,
            quantity=line.quantity,
            amount=line.amount,
            discount=discount,
            points_spent=spent[line.index],
            paid=line_paid,
            points_earned=line_earned,
            campaigns=list(campaigns[i]) if campaigns is not None else [],
            lots=by_line[line.index],
        )
        for i, (line, discount, line_paid, line_earned) in enumerate(
            zip(lines, discounts, paid, earned, strict=True)
        )
    ]
    return Outcome(results, sum(spent.values()), sum(earned))


def rules_for(point_value: Decimal, max_spend_percent: Decimal, no_spend_condition: str | None) -> Rules:
    return Rules(
        point_value=point_value,
        max_spend_percent=max_spend_percent,
        no_spend=compile_condition(no_spend_condition) if no_spend_condition else None,
    )
