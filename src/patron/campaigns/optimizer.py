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
  ``fixed_price``, and any campaign that qualifies on one line of this basket) are decided line
  by line: with the rest fixed, a line's value is ``w_i * min(a_i, its discounts)``, so when
  ``w_i > 0`` the best is every stackable one plus the largest ``line`` one, and when
  ``w_i <= 0`` none;
- campaigns whose discount depends on the set of lines they are placed on (``discount_amount``,
  ``buy_x_get_y`` on several lines) are split into groups that share lines (groups do not
  interact), and each group is searched by depth-first branch and bound over the subsets of each
  campaign's lines: subsets that another subset of the same campaign dominates on every line are
  dropped first, and a branch is cut when an optimistic bound cannot beat the best found.
Everything is computed in integers (minor units, weights over a common denominator), so values
compare exactly. When a campaign qualifies on more than ``MAX_SUBSET_LINES`` lines, a group is
too large, or the time limit passes, the best placement found so far is returned with
``optimal=False`` (such a campaign is tried on all its lines or none).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from math import lcm

from patron.campaigns.model import DISCOUNT_TYPES, Effect
from patron.money import round_half_up, split_money

HUNDRED = Decimal(100)
SEPARABLE = frozenset({"discount_percent", "fixed_price"})
MAX_SUBSET_LINES = 12  # beyond this a coupled campaign is tried on all its lines or none (not proven)


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


def _components(coupled: Sequence[Candidate]) -> list[list[Candidate]]:
    """Groups of coupled campaigns linked by shared lines: each group is optimised on its own."""
    groups: list[tuple[set[int], list[Candidate]]] = []
    for c in coupled:
        linked = [g for g in groups if g[0] & set(c.lines)]
        merged_lines, merged = set(c.lines), [c]
        for g in linked:
            merged_lines |= g[0]
            merged += g[1]
            groups.remove(g)
        groups.append((merged_lines, merged))
    return [sorted(g[1], key=lambda c: c.id) for g in groups]


def _branch(
    lines: Sequence[Line],
    discount_campaigns: Sequence[Candidate],
    weights: Mapping[int, Fraction],
    search: _Search,
    points_priority: int,
) -> tuple[Fraction, int, dict[str, tuple[int, ...]]] | None:
    """Best placement of ``discount_campaigns`` (with fixed point rates); None if cut off early.

    A campaign that qualifies on one line only is decided with that line, like the separable
    ones; the others ("coupled") are enumerated per group of campaigns that share lines."""
    quantum = search.settings.quantum
    by_index = {line.index: line for line in lines}
    # exact integer arithmetic: money in minor units, weights over their common denominator
    scale = lcm(*(w.denominator for w in weights.values())) if weights else 1
    w_int = {i: int(w * scale) for i, w in weights.items()}
    amount = {line.index: _units(line.amount, quantum) for line in lines}
    separable = [c for c in discount_campaigns if c.effect.type in SEPARABLE or len(c.lines) == 1]
    coupled = [c for c in discount_campaigns if c.effect.type not in SEPARABLE and len(c.lines) > 1]

    # per line: the stackable separable discounts, and the best separable line campaign
    stack_sum: dict[int, int] = {i: 0 for i in by_index}
    stack_ids: dict[int, list[Candidate]] = {i: [] for i in by_index}
    best_line: dict[int, tuple[int, int, Candidate | None]] = {i: (0, 0, None) for i in by_index}
    for c in separable:
        for i in c.lines:
            if w_int[i] <= 0:
                continue
            d = _units(set_discounts(c.effect, [by_index[i]], quantum)[i], quantum)
            if c.stacking == "stackable":
                stack_sum[i] += d
                stack_ids[i].append(c)
            elif (d, c.priority) > best_line[i][:2]:
                best_line[i] = (d, c.priority, c)

    def line_value(i: int, own: int, line_taken: bool) -> int:
        w = w_int[i]
        if w <= 0:
            return w * min(amount[i], own)
        return w * min(amount[i], own + stack_sum[i] + (0 if line_taken else best_line[i][0]))

    touched_all = {i for c in coupled for i in c.lines}
    value = sum(line_value(i, 0, False) for i in by_index if i not in touched_all)
    priority = 0
    coupled_choice: dict[str, tuple[int, ...]] = {}
    for group in _components(coupled):
        found = _best_group(group, by_index, quantum, line_value, w_int, search)
        if found is None:
            return None
        value += found[0]
        priority += found[1]
        coupled_choice.update(found[2])

    placement: dict[str, tuple[int, ...]] = dict(coupled_choice)
    line_taken = {i for c in coupled if c.stacking != "stackable" for i in coupled_choice.get(c.id, ())}
    for i in by_index:
        if w_int[i] <= 0:
            continue
        for c in stack_ids[i]:
            placement[c.id] = (*placement.get(c.id, ()), i)
        chosen = best_line[i][2]
        if chosen is not None and i not in line_taken:
            placement[chosen.id] = (*placement.get(chosen.id, ()), i)
    return Fraction(value, scale) * Fraction(quantum), priority + points_priority, placement


def _units(money: Decimal, quantum: Decimal) -> int:
    return int(money / quantum)


def _undominated(
    subsets: list[tuple[tuple[int, ...], dict[int, int]]], blocks: bool, weights: Mapping[int, int]
) -> list[tuple[tuple[int, ...], dict[int, int]]]:
    """Drops every placement that another one beats or equals on every line: at least as much
    off where money off is worth something (less where it is not), and no more lines taken from
    other ``line`` campaigns. The first of equals (the larger placement) is kept."""

    def covers(a: tuple[tuple[int, ...], dict[int, int]], b: tuple[tuple[int, ...], dict[int, int]]) -> bool:
        if blocks and not set(a[0]) <= set(b[0]):
            return False
        for i in set(a[1]) | set(b[1]):
            da, db = a[1].get(i, 0), b[1].get(i, 0)
            if (da < db) if weights[i] > 0 else (da > db):
                return False
        return True

    kept: list[tuple[tuple[int, ...], dict[int, int]]] = []
    for candidate in subsets:
        if not any(covers(other, candidate) for other in kept):
            kept = [other for other in kept if not covers(candidate, other)] + [candidate]
    return sorted(kept, key=lambda option: -len(option[0]))


def _best_group(
    group: Sequence[Candidate],
    by_index: Mapping[int, Line],
    quantum: Decimal,
    line_value: Callable[[int, int, bool], int],
    weights: Mapping[int, int],
    search: _Search,
) -> tuple[int, int, dict[str, tuple[int, ...]]] | None:
    """The best placements of a group of coupled campaigns, by depth-first branch and bound.

    Each campaign's subsets of lines are tried, larger first (so ties keep the fullest); a branch
    is cut when even its optimistic bound cannot beat the best value found. The bound is sound:
    a line's value only grows with its discounts (when ``w > 0``), each undecided campaign adds at
    most the largest discount any of its subsets puts on that line, and a line takes at most one
    more ``line`` campaign."""
    options: list[list[tuple[tuple[int, ...], dict[int, int]]]] = []
    most: list[dict[int, int]] = []
    count = 1
    for c in group:
        count *= 1 << len(c.lines)
    full_only = count > search.settings.max_leaves * 64
    if full_only:
        search.exhausted = True
    for c in group:
        subsets: list[tuple[tuple[int, ...], dict[int, int]]] = []
        peak: dict[int, int] = {}
        whole_or_none = full_only or len(c.lines) > MAX_SUBSET_LINES
        if whole_or_none:
            search.exhausted = True
        sizes = (len(c.lines), 0) if whole_or_none else range(len(c.lines), -1, -1)
        for r in sizes:
            for subset in itertools.combinations(c.lines, r):
                money_off = {
                    i: _units(d, quantum)
                    for i, d in set_discounts(c.effect, [by_index[i] for i in subset], quantum).items()
                }
                subsets.append((subset, money_off))
                for i, d in money_off.items():
                    peak[i] = max(peak.get(i, 0), d)
        options.append(_undominated(subsets, c.stacking != "stackable", weights))
        most.append(peak)
    # the campaigns that can give most are decided first: a good placement is found early and
    # the bound cuts more
    order = sorted(range(len(group)), key=lambda k: (-sum(most[k].values()), group[k].id))
    group = [group[k] for k in order]
    options = [options[k] for k in order]
    most = [most[k] for k in order]
    touched = sorted({i for c in group for i in c.lines})
    extra = {i: 0 for i in touched}
    taken: set[int] = set()
    chosen: list[tuple[int, ...]] = []
    best: list[tuple[int, int, dict[str, tuple[int, ...]]]] = []

    # what the campaigns from k on could still add to each line, at most
    stack_after = [dict.fromkeys(touched, 0) for _ in range(len(group) + 1)]
    line_after = [dict.fromkeys(touched, 0) for _ in range(len(group) + 1)]
    for k in range(len(group) - 1, -1, -1):
        stack_after[k] = dict(stack_after[k + 1])
        line_after[k] = dict(line_after[k + 1])
        for i, d in most[k].items():
            if group[k].stacking == "stackable":
                stack_after[k][i] += d
            else:
                line_after[k][i] = max(line_after[k][i], d)

    def bound(k: int) -> int:
        total = 0
        stack, one = stack_after[k], line_after[k]
        for i in touched:
            own = extra[i]
            if weights[i] <= 0:
                total += line_value(i, own, i in taken)
            elif i in taken:
                total += line_value(i, own + stack[i], True)
            else:
                total += max(
                    line_value(i, own + stack[i] + one[i], True), line_value(i, own + stack[i], False)
                )
        return total

    def dfs(k: int, priority: int) -> bool:
        search.leaves += 1
        if search.leaves % 256 == 0 and time.perf_counter() > search.deadline:
            search.exhausted = True
            return False
        if k == len(group):
            value = sum(line_value(i, extra[i], i in taken) for i in touched)
            if not best or (value, priority) > best[0][:2]:
                best[:] = [(value, priority, {c.id: sub for c, sub in zip(group, chosen, strict=True)})]
            return True
        if best and bound(k) <= best[0][0]:
            return True
        c = group[k]
        blocks = c.stacking != "stackable"
        for subset, per_line in options[k]:
            if blocks and any(i in taken for i in subset):
                continue
            for i, d in per_line.items():
                extra[i] += d
            if blocks:
                taken.update(subset)
            chosen.append(subset)
            gained = c.priority if subset and any(per_line.values()) else 0
            going = dfs(k + 1, priority + gained)
            chosen.pop()
            if blocks:
                taken.difference_update(subset)
            for i, d in per_line.items():
                extra[i] -= d
            if not going:
                return False
        return True

    dfs(0, 0)
    return best[0] if best else None


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
