"""The best deal for the customer (contract 8, "How the best deal is found"). Pure.

A *placement* says which discount campaign sits on which lines (and which exclusive campaign,
if any, is applied). Its value is the money off plus every point it earns (base points on what is
paid after discounts, plus campaign points, before rounding) times the point value:

    value = sum_i D_i + point_value * (sum_i (a_i - D_i) * r_i / 100 + fixed points)

where ``a_i`` is the line's amount, ``D_i`` its discounts (never above ``a_i``) and ``r_i`` the
points rate on it (base rate plus the applied point campaigns). With the point campaigns fixed,
the value is ``constant + sum_i w_i * D_i`` with ``w_i = 1 - point_value * r_i / 100``.

The search is exact:
- point campaigns always apply (unless an exclusive campaign is chosen), so the ``w_i`` are
  known in each branch (no exclusive, or one exclusive campaign alone);
- campaigns whose discount on a line does not depend on other lines (``discount_percent``,
  ``fixed_price``) are decided line by line: with the rest fixed, a line's value is
  ``w_i * min(a_i, its discounts)``, so when ``w_i > 0`` the best is every stackable one plus the
  largest ``line`` one, and when ``w_i <= 0`` none;
- campaigns whose discount depends on the set of lines they are placed on (``discount_amount``,
  ``buy_x_get_y``) are enumerated over every subset of their qualifying lines, each subset's
  per-line discounts computed once.
When the subsets to enumerate exceed ``max_leaves`` or the time limit passes, the best placement
found so far is returned with ``optimal=False`` (the fallback starts from every campaign on all
its qualifying lines, so it is never worse than that).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from patron.campaigns.model import DISCOUNT_TYPES, Effect
from patron.money import round_half_up, split_money

HUNDRED = Decimal(100)
SEPARABLE = frozenset({"discount_percent", "fixed_price"})


@dataclass(frozen=True, slots=True)
class Line:
    index: int
    price: Decimal
    quantity: int

    @property
    def amount(self) -> Decimal:
        return self.price * self.quantity


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


# --- the search ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Search:
    lines: Sequence[Line]
    settings: Settings
    deadline: float
    leaves: int = 0
    exhausted: bool = False
    best_key: tuple[Fraction, int] | None = None
    best: dict[str, tuple[int, ...]] = field(default_factory=dict)


def _weights(lines: Sequence[Line], rules: Sequence[PointRule], settings: Settings) -> dict[int, Fraction]:
    line_rates = rates(lines, rules, settings.base_rate)
    pv = Fraction(settings.point_value)
    return {i: 1 - pv * Fraction(r) / 100 for i, r in line_rates.items()}


def _branch(
    lines: Sequence[Line],
    discount_campaigns: Sequence[Candidate],
    weights: Mapping[int, Fraction],
    search: _Search,
    points_priority: int,
) -> tuple[Fraction, int, dict[str, tuple[int, ...]]] | None:
    """Best placement of ``discount_campaigns`` (with fixed point rates); None if cut off early."""
    quantum = search.settings.quantum
    by_index = {line.index: line for line in lines}
    amount = {line.index: Fraction(line.amount) for line in lines}
    separable = [c for c in discount_campaigns if c.effect.type in SEPARABLE]
    coupled = [c for c in discount_campaigns if c.effect.type not in SEPARABLE]

    # per line: the stackable separable discounts, and the best separable line campaign
    stack_sum: dict[int, Fraction] = {i: Fraction(0) for i in by_index}
    stack_ids: dict[int, list[Candidate]] = {i: [] for i in by_index}
    best_line: dict[int, tuple[Fraction, int, Candidate | None]] = {
        i: (Fraction(0), 0, None) for i in by_index
    }
    for c in separable:
        for i in c.lines:
            if weights[i] <= 0:
                continue
            d = Fraction(separable_discount(c.effect, by_index[i], quantum))
            if c.stacking == "stackable":
                stack_sum[i] += d
                stack_ids[i].append(c)
            elif (d, c.priority) > best_line[i][:2]:
                best_line[i] = (d, c.priority, c)

    # every subset of the coupled campaigns' lines, with its per-line discounts computed once
    options: list[list[tuple[tuple[int, ...], dict[int, Fraction]]]] = []
    for c in coupled:
        subsets = []
        for r in range(len(c.lines), -1, -1):  # larger placements first: ties keep the fullest
            for subset in itertools.combinations(c.lines, r):
                money_off = set_discounts(c.effect, [by_index[i] for i in subset], quantum)
                subsets.append((subset, {i: Fraction(d) for i, d in money_off.items()}))
        options.append(subsets)
    total = 1
    for subsets in options:
        total *= len(subsets)
    if total > search.settings.max_leaves:
        search.exhausted = True
        options = [
            [
                (
                    c.lines,
                    {
                        i: Fraction(d)
                        for i, d in set_discounts(c.effect, [by_index[i] for i in c.lines], quantum).items()
                    },
                ),
                ((), {}),
            ]
            for c in coupled
        ]

    touched = sorted({i for c in coupled for i in c.lines})
    fixed_value = Fraction(0)
    for i in by_index:
        if i not in touched and weights[i] > 0:
            fixed_value += weights[i] * min(amount[i], stack_sum[i] + best_line[i][0])

    best: tuple[Fraction, int, dict[str, tuple[int, ...]]] | None = None
    for combo in itertools.product(*options):
        search.leaves += 1
        if search.leaves % 256 == 0 and time.perf_counter() > search.deadline:
            search.exhausted = True
            break
        extra: dict[int, Fraction] = {}
        line_taken: set[int] = set()
        feasible = True
        priority = 0
        for c, (subset, per_line) in zip(coupled, combo, strict=True):
            if subset and any(per_line.values()):
                priority += c.priority
            for i, d in per_line.items():
                extra[i] = extra.get(i, Fraction(0)) + d
                if c.stacking == "line":
                    if i in line_taken:
                        feasible = False
                    line_taken.add(i)
        if not feasible:
            continue
        value = fixed_value
        for i in touched:
            w = weights[i]
            own = extra.get(i, Fraction(0))
            if w > 0:
                sep = stack_sum[i] + (0 if i in line_taken else best_line[i][0])
                value += w * min(amount[i], own + sep)
            else:
                value += w * min(amount[i], own)
        key = (value, priority)
        if best is None or key > best[:2]:
            best = (value, priority, {c.id: subset for c, (subset, _) in zip(coupled, combo, strict=True)})
    if best is None:
        return None
    value, priority, coupled_choice = best
    placement: dict[str, tuple[int, ...]] = dict(coupled_choice)
    line_taken = {i for c in coupled if c.stacking == "line" for i in coupled_choice.get(c.id, ())}
    for i in by_index:
        if weights[i] <= 0:
            continue
        for c in stack_ids[i]:
            placement[c.id] = (*placement.get(c.id, ()), i)
        chosen = best_line[i][2]
        if chosen is not None and i not in line_taken:
            placement[chosen.id] = (*placement.get(chosen.id, ()), i)
    return value, priority + points_priority, placement


def best_deal(lines: Sequence[Line], candidates: Sequence[Candidate], settings: Settings) -> Deal:
    """The combination of campaigns worth most to the customer; ties go to the higher priority sum."""
    search = _Search(lines, settings, deadline=time.perf_counter() + settings.time_limit)
    points_all = [c for c in candidates if not c.is_discount and c.stacking != "exclusive"]
    rules = point_rules(points_all, settings.base_rate)
    weights = _weights(lines, rules, settings)
    const = _constant(lines, rules, settings)
    discounts = [c for c in candidates if c.is_discount and c.stacking != "exclusive"]
    options: list[tuple[Fraction, int, dict[str, tuple[int, ...]], str | None]] = []
    found = _branch(lines, discounts, weights, search, sum(c.priority for c in points_all))
    if found is not None:
        options.append((const + found[0], found[1], found[2], None))
    for e in (c for c in candidates if c.stacking == "exclusive"):
        own_rules = [] if e.is_discount else point_rules([e], settings.base_rate)
        own_weights = _weights(lines, own_rules, settings)
        own_const = _constant(lines, own_rules, settings)
        found = _branch(
            lines, [e] if e.is_discount else [], own_weights, search, 0 if e.is_discount else e.priority
        )
        if found is not None:
            value, _, placement = found
            if value > 0 or not e.is_discount:
                options.append((own_const + value, e.priority, placement, e.id))
    if not options:  # pragma: no cover - the first branch always yields a placement
        return evaluate(lines, candidates, {}, settings)
    _value, _priority, placement, exclusive = max(options, key=lambda o: (o[0], o[1]))
    deal = evaluate(lines, candidates, placement, settings, exclusive)
    deal.optimal = not search.exhausted
    deal.leaves = search.leaves
    return deal


def _constant(lines: Sequence[Line], rules: Sequence[PointRule], settings: Settings) -> Fraction:
    """The value with no discount at all: every point, at the given rates."""
    line_rates = rates(lines, rules, settings.base_rate)
    pv = Fraction(settings.point_value)
    points = Fraction(sum(rule.fixed for rule in rules))
    points += sum(
        (Fraction(line.amount) * Fraction(line_rates[line.index]) / 100 for line in lines), Fraction(0)
    )
    return points * pv
