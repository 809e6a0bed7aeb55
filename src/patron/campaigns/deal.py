"""What a combination of campaigns is worth (contract 8, "How the best deal is found"). Pure.

A *placement* says which discount campaign sits on which lines (and which exclusive campaign,
if any, is applied). Its value is the money off plus every point it earns (base points on what is
paid after discounts, plus campaign points, before rounding) times the point value:

    value = sum_i D_i + point_value * (sum_i (a_i - D_i) * r_i / 100 + fixed points)

where ``a_i`` is the line's amount, ``D_i`` its discounts (never above ``a_i``) and ``r_i`` the
points rate on it (base rate plus the applied point campaigns). With the point campaigns fixed,
the value is ``constant + sum_i w_i * D_i`` with ``w_i = 1 - point_value * r_i / 100``.

``evaluate`` is the one definition of that value: the optimizer's searches agree with it and
the tests' brute force uses it directly.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from patron.campaigns.model import DISCOUNT_TYPES, Effect
from patron.money import round_half_up, split_money

HUNDRED = Decimal(100)
SEPARABLE = frozenset({"discount_percent", "fixed_price"})


@dataclass(frozen=True, slots=True)
class Line:
    index: int
    price: Decimal
    quantity: int
    amount: Decimal = field(init=False, compare=False, repr=False)  # price x quantity, read often

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", self.price * self.quantity)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An eligible campaign and the basket lines that qualify for it."""

    id: str
    priority: int
    stacking: str
    effect: Effect
    lines: tuple[int, ...]

    @property
    def is_discount(self) -> bool:
        return self.effect.type in DISCOUNT_TYPES


@dataclass(frozen=True, slots=True)
class PointRule:
    """Extra points of an applied point campaign: ``extra_rate`` percent of what is paid on
    ``lines`` (a multiplier m gives (m - 1) x the base rate), or ``fixed`` points split over them."""

    campaign_id: str
    lines: frozenset[int]
    extra_rate: Decimal = Decimal(0)
    fixed: int = 0


@dataclass(slots=True)
class Deal:
    """The chosen combination."""

    discounts: dict[int, list[tuple[str, Decimal]]]
    point_rules: list[PointRule]
    applied: list[str]
    value: Decimal
    priority: int
    optimal: bool
    exclusive: str | None = None
    leaves: int = 0

    def line_discount(self, index: int) -> Decimal:
        return sum((d for _, d in self.discounts.get(index, [])), Decimal(0))

    def campaign_discount(self, campaign_id: str) -> Decimal:
        return sum(
            (d for parts in self.discounts.values() for cid, d in parts if cid == campaign_id), Decimal(0)
        )


@dataclass(frozen=True, slots=True)
class Settings:
    base_rate: Decimal  # percent of what is paid
    point_value: Decimal
    quantum: Decimal
    max_leaves: int = 1 << 14
    time_limit: float = 0.05


def search_clock() -> float:
    """This thread's CPU seconds, which the search's time limit counts: the same basket is proven,
    or not, whatever else the machine is doing (wall time cut searches short on a busy machine,
    and a quote and its receipt disagreed on ``optimal``)."""
    return time.thread_time()


@dataclass(slots=True)
class Search:
    """One basket's search: its deadline, the leaves tried, and whether it was cut short."""

    lines: Sequence[Line]
    settings: Settings
    deadline: float
    leaves: int = 0
    exhausted: bool = False


# --- discounts of one campaign on a set of lines ---------------------------------------------


def separable_discount(effect: Effect, line: Line, quantum: Decimal) -> Decimal:
    """Money off one line from a campaign that looks at that line alone."""
    assert effect.value is not None
    if effect.type == "discount_percent":
        return round_half_up(line.amount * effect.value / HUNDRED, quantum)
    if effect.type == "fixed_price":
        return max(Decimal(0), (line.price - effect.value) * line.quantity)
    raise ValueError(effect.type)


def set_discounts(effect: Effect, lines: Sequence[Line], quantum: Decimal) -> dict[int, Decimal]:
    """Money off each line when a campaign sits on exactly ``lines`` (before the per-line cap)."""
    if not lines:
        return {}
    if effect.type in SEPARABLE:
        return {line.index: separable_discount(effect, line, quantum) for line in lines}
    if effect.type == "discount_amount":
        assert effect.value is not None
        total = min(effect.value, sum((line.amount for line in lines), Decimal(0)))
        parts = split_money(total, [line.amount for line in lines], quantum)
        return {line.index: part for line, part in zip(lines, parts, strict=True)}
    if effect.type == "buy_x_get_y":
        assert effect.buy is not None and effect.get is not None
        units = sum(line.quantity for line in lines)
        free = (units // (effect.buy + effect.get)) * effect.get
        result = {line.index: Decimal(0) for line in lines}
        for line in sorted(lines, key=lambda ln: (ln.price, ln.index)):
            if free <= 0:
                break
            take = min(free, line.quantity)
            free -= take
            result[line.index] = round_half_up(line.price * take * effect.bxgy_percent / HUNDRED, quantum)
        return result
    raise ValueError(effect.type)


# --- the value of a placement ------------------------------------------------------------------


def point_rules(candidates: Iterable[Candidate], base_rate: Decimal) -> list[PointRule]:
    rules = []
    for c in candidates:
        effect = c.effect
        assert effect.value is not None
        lines = frozenset(c.lines)
        if effect.type == "points_percent":
            rules.append(PointRule(c.id, lines, extra_rate=effect.value))
        elif effect.type == "points_multiplier":
            rules.append(PointRule(c.id, lines, extra_rate=(effect.value - 1) * base_rate))
        elif effect.type == "points_fixed":
            rules.append(PointRule(c.id, lines, fixed=int(effect.value)))
    return rules


def rates(lines: Sequence[Line], rules: Sequence[PointRule], base_rate: Decimal) -> dict[int, Decimal]:
    result = {line.index: base_rate for line in lines}
    for rule in rules:
        for index in rule.lines:
            result[index] += rule.extra_rate
    return result


def cap_line(amount: Decimal, parts: list[tuple[str, Decimal]]) -> list[tuple[str, Decimal]]:
    """A line's discounts together never exceed its amount: the last ones give way."""
    capped, room = [], amount
    for cid, discount in parts:
        take = min(discount, room)
        room -= take
        capped.append((cid, take))
    return capped


def evaluate(
    lines: Sequence[Line],
    candidates: Sequence[Candidate],
    placement: Mapping[str, Iterable[int]],
    settings: Settings,
    exclusive: str | None = None,
) -> Deal:
    """The value of one placement; ValueError if it breaks a stacking rule.

    Every line's discounts are listed ``line`` campaign first, then stackable ones by priority.
    This is the one definition of value: the optimizer's search agrees with it, and the tests'
    brute force uses it directly."""
    by_id = {c.id: c for c in candidates}
    by_index = {line.index: line for line in lines}
    if exclusive is not None:
        if by_id[exclusive].stacking != "exclusive":
            raise ValueError("not an exclusive campaign")
        if any(cid != exclusive and idx for cid, idx in ((c, list(p)) for c, p in placement.items())):
            raise ValueError("an exclusive campaign is the only one on the receipt")
        active_points = [by_id[exclusive]] if not by_id[exclusive].is_discount else []
    else:
        if any(by_id[cid].stacking == "exclusive" and list(idx) for cid, idx in placement.items()):
            raise ValueError("an exclusive campaign was placed without being chosen")
        active_points = [c for c in candidates if not c.is_discount and c.stacking != "exclusive"]
    per_line: dict[int, list[tuple[Candidate, Decimal]]] = {line.index: [] for line in lines}
    for cid, indexes in placement.items():
        chosen = sorted(set(indexes))
        if not chosen:
            continue
        campaign = by_id[cid]
        if not set(chosen) <= set(campaign.lines) or not campaign.is_discount:
            raise ValueError(f"campaign {cid} placed where it does not qualify")
        for index, discount in set_discounts(
            campaign.effect, [by_index[i] for i in chosen], settings.quantum
        ).items():
            per_line[index].append((campaign, discount))
    discounts: dict[int, list[tuple[str, Decimal]]] = {}
    for index, parts in per_line.items():
        if sum(1 for c, _ in parts if c.stacking in ("line", "exclusive")) > 1:
            raise ValueError(f"line {index} has two line campaigns")
        parts.sort(key=lambda p: (p[0].stacking == "stackable", -p[0].priority, p[0].id))
        discounts[index] = cap_line(by_index[index].amount, [(c.id, d) for c, d in parts])
    rules = point_rules(active_points, settings.base_rate)
    line_rates = rates(lines, rules, settings.base_rate)
    money_off = Decimal(0)
    points = Decimal(sum(rule.fixed for rule in rules))
    for line in lines:
        d = sum((x for _, x in discounts[line.index]), Decimal(0))
        money_off += d
        points += (line.amount - d) * line_rates[line.index] / HUNDRED
    applied = sorted(
        {cid for parts in discounts.values() for cid, d in parts if d > 0} | {c.id for c in active_points}
    )
    return Deal(
        discounts={i: [(cid, d) for cid, d in parts if d > 0] for i, parts in discounts.items()},
        point_rules=rules,
        applied=applied,
        value=money_off + points * settings.point_value,
        priority=sum(by_id[cid].priority for cid in applied),
        optimal=True,
        exclusive=exclusive,
    )
