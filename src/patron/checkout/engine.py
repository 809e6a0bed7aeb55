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
from fractions import Fraction
from math import floor, lcm
from typing import Literal

from patron.campaigns.optimizer import PointRule
from patron.conditions import Predicate, compile_condition
from patron.errors import InsufficientPoints
from patron.ledger import allocation
from patron.money import round_down_int, split_ints

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
    campaign_discounts: dict[str, Decimal] = field(default_factory=dict)
    campaign_points: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    lines: list[LineResult]
    points_spent: int
    points_earned: int
    campaign_points: dict[str, int] = field(default_factory=dict)

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


def _integer_weights(values: Sequence[Fraction]) -> tuple[list[int], int]:
    """The values over their common denominator: (numerators, denominator), in integers."""
    denominator = lcm(*(v.denominator for v in values)) if values else 1
    return [v.numerator * (denominator // v.denominator) for v in values], denominator


def earn_split(exact: Sequence[Fraction]) -> list[int]:
    """Whole points: the exact total rounded down, split over the parts by largest remainder."""
    weights, denominator = _integer_weights(exact)
    total = sum(weights) // denominator
    if total <= 0:
        return [0] * len(exact)
    return split_ints(total, weights)


def earn_split_by_paid(paid: Sequence[Decimal], rate: Decimal) -> list[int]:
    """``earn_split`` of ``paid × rate / 100`` per line (base earning without point campaigns, the
    common case), without ``Fraction`` arithmetic: the rate is common to every line, so the split
    is proportional to what each line paid."""
    total = floor(sum(paid, Decimal(0)) * rate / 100)
    if total <= 0:
        return [0] * len(paid)
    ratios = [p.as_integer_ratio() for p in paid]
    denominator = lcm(*(d for _, d in ratios))
    return split_ints(total, [n * (denominator // d) for n, d in ratios])


def _campaign_exact(paid: dict[int, Fraction], rule: PointRule) -> dict[int, Fraction]:
    """What a point campaign adds on each of its lines, before rounding."""
    lines = sorted(rule.lines & paid.keys())
    rate = Fraction(rule.extra_rate) / 100
    result = {i: paid[i] * rate for i in lines}
    if rule.fixed:
        total_paid = sum((paid[i] for i in lines), Fraction(0))
        for i in lines:
            share = paid[i] / total_paid if total_paid else Fraction(1, len(lines))
            result[i] += rule.fixed * share
    return result


def compute(
    lines: Sequence[Line],
    rules: Rules,
    *,
    earn_percent: Decimal | None,
    lots: Sequence[Lot],
    requested: int | Literal["max"],
    discounts: Mapping[int, Sequence[tuple[str, Decimal]]] | None = None,
    point_rules: Sequence[PointRule] = (),
) -> Outcome:
    """The whole receipt. ``earn_percent`` None means an anonymous basket: it earns and spends
    nothing. ``discounts`` are the campaigns' money off per line; ``point_rules`` their extra points."""
    discounts = discounts or {}
    line_discount = [sum((d for _, d in discounts.get(line.index, ())), Decimal(0)) for line in lines]
    allocations = spend(lines, line_discount, rules, lots, requested) if earn_percent is not None else []
    spent = {line.index: 0 for line in lines}
    by_line: dict[int, list[tuple[int, int]]] = {line.index: [] for line in lines}
    for alloc in allocations:
        spent[alloc.line] += alloc.points
        by_line[alloc.line].append((int(alloc.lot_id), alloc.points))
    paid = [
        line.amount - discount - spent[line.index] * rules.point_value
        for line, discount in zip(lines, line_discount, strict=True)
    ]
    earned = [0] * len(lines)
    per_campaign_line: dict[str, dict[int, int]] = {}
    campaign_totals: dict[str, int] = {}
    if earn_percent is not None and not point_rules:
        earned = earn_split_by_paid(paid, earn_percent)
    elif earn_percent is not None:
        exact_paid = {line.index: Fraction(p) for line, p in zip(lines, paid, strict=True)}
        base_rate = Fraction(earn_percent) / 100
        exact = {i: p * base_rate for i, p in exact_paid.items()}
        for rule in point_rules:
            extra = _campaign_exact(exact_paid, rule)
            for i, points in extra.items():
                exact[i] += points
            ordered = sorted(extra)
            parts = earn_split([extra[i] for i in ordered])
            per_campaign_line[rule.campaign_id] = dict(zip(ordered, parts, strict=True))
            campaign_totals[rule.campaign_id] = sum(parts)
        earned = earn_split([exact[line.index] for line in lines])
    # A line lists the campaigns that gave it something (contract 7: "those that touched it"):
    # a discount, or points. A campaign placed on a line that got nothing from it (the bought item
    # of a buy-x-get-y, a line paid wholly with points) is not listed, nor counted when a return
    # asks whether every unit the campaign touched has come back.
    touched: dict[int, list[str]] = {
        line.index: [cid for cid, amount in discounts.get(line.index, ()) if amount > 0] for line in lines
    }
    for rule in point_rules:
        given = per_campaign_line.get(rule.campaign_id, {})
        for i in sorted(rule.lines):
            if given.get(i, 0) > 0 and i in touched and rule.campaign_id not in touched[i]:
                touched[i].append(rule.campaign_id)
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
            campaigns=touched[line.index],
            lots=by_line[line.index],
            campaign_discounts=dict(discounts.get(line.index, ())),
            campaign_points={
                cid: parts[line.index] for cid, parts in per_campaign_line.items() if parts.get(line.index)
            },
        )
        for line, discount, line_paid, line_earned in zip(lines, line_discount, paid, earned, strict=True)
    ]
    return Outcome(results, sum(spent.values()), sum(earned), campaign_totals)


def rules_for(point_value: Decimal, max_spend_percent: Decimal, no_spend_condition: str | None) -> Rules:
    return Rules(
        point_value=point_value,
        max_spend_percent=max_spend_percent,
        no_spend=compile_condition(no_spend_condition) if no_spend_condition else None,
    )
