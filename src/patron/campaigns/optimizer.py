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
  interact). A campaign that can give its most on lines no other campaign of the group wants is
  decided alone (``_peel``). Each group then gets a greedy placement and a ceiling on what any
  placement can be worth (a max flow of each campaign's largest possible money off into the
  room left on its lines, by weight); when the greedy placement reaches the ceiling it is proven
  best at once, which is the usual case even for a campaign on the whole basket. Otherwise the
  group is searched exactly: a ``discount_amount`` on up to ``MAX_VECTOR_LINES`` lines under every
  placement of the group's other (few) campaigns, all its subsets scored and evaluated at once
  with numpy; a lone campaign on up to ``MAX_SUBSET_LINES`` lines over every subset with a cheap
  bound; other groups by depth-first branch and bound over the subsets of each campaign's
  lines, from the greedy value.
Everything is computed in integers (minor units, weights over a common denominator), so values
compare exactly. When a group can be neither proven by its ceiling nor searched, or the time
limit passes, the best placement found so far (at least the greedy one) is returned with
``optimal=False``. The time limit is checked while subsets are generated and searched, so it
bounds a quote.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow
from fractions import Fraction
from math import lcm

import numpy as np

from patron.campaigns.model import DISCOUNT_TYPES, Effect
from patron.money import round_half_up, split_ints, split_money

HUNDRED = Decimal(100)
SEPARABLE = frozenset({"discount_percent", "fixed_price"})
MAX_SUBSET_LINES = 12  # beyond this a coupled campaign's subsets are not enumerated
MAX_VECTOR_LINES = 14  # a discount_amount's subsets scored at once with numpy, up to this many lines
MAX_OTHER_PLACEMENTS = 64  # the other campaigns' placements tried under it, at most
DOMINANCE_LIMIT = 64  # beyond this many subsets only exact repeats are dropped (the filter is quadratic)


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


# Decimal arithmetic that must not round: a product or sum that would need more digits raises
# (Inexact) instead of losing them; Patron's figures never come near 60 digits.
_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])


def _weights(lines: Sequence[Line], rules: Sequence[PointRule], settings: Settings) -> dict[int, Fraction]:
    """``w_i = 1 - point_value * rate_i / 100`` per line, exactly; lines share few rates."""
    line_rates = rates(lines, rules, settings.base_rate)
    by_rate: dict[Decimal, Fraction] = {}
    for r in set(line_rates.values()):
        by_rate[r] = Fraction(
            _EXACT.subtract(1, _EXACT.divide(_EXACT.multiply(settings.point_value, r), HUNDRED))
        )
    return {i: by_rate[r] for i, r in line_rates.items()}


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
) -> tuple[Fraction, int, dict[str, tuple[int, ...]]]:
    """Best placement of ``discount_campaigns`` (with fixed point rates); the best found when cut
    off early (``search.exhausted``).

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
    occupied = {i: min(amount[i], stack_sum[i] + best_line[i][0]) for i in by_index}
    amounts_exact = all(line.amount % quantum == 0 for line in lines)
    known: dict[tuple[str, tuple[int, ...]], dict[int, int]] = {}
    looks: list[_Look] = []
    pending = _components(coupled)
    while pending:
        group = _Group(
            pending.pop(),
            by_index,
            quantum,
            line_value,
            w_int,
            occupied,
            amount,
            stack_sum,
            {i: best_line[i][0] for i in by_index},
            amounts_exact,
            known,
        )
        peeled = _peel(group)
        if peeled is not None:
            c, subset, found_value = peeled
            rest = [other for other in group.campaigns if other is not c]
            rest_lines = {i for other in rest for i in other.lines}
            value += found_value + sum(
                line_value(i, 0, False) for i in c.lines if i not in rest_lines and i not in subset
            )
            priority += c.priority
            coupled_choice[c.id] = subset
            pending.extend(_components(rest))
            continue
        looks.append(_first_look(group, search))
    # a basket with a group that can be neither proven nor searched is not proven whatever the
    # others do: they keep their greedy placements rather than spend the time limit on a search
    hopeless = search.exhausted or any(not look.proven and not look.searchable for look in looks)
    for look in looks:
        found = _best_group(look, search, hopeless)
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


def _units_up(money: Decimal, quantum: Decimal) -> int:
    return int((money / quantum).to_integral_value(rounding=ROUND_CEILING))


def _most_off(c: Candidate, by_index: Mapping[int, Line], quantum: Decimal) -> int:
    """The most money off (minor units) that coupled campaign ``c`` can give on any subset of its
    lines: a sound ceiling, and usually the very amount that a good placement reaches.

    ``discount_amount`` gives at most its value (and never more than its lines' total).
    ``buy_x_get_y``: a subset of ``U`` units has its units, sorted by price, each no dearer than the
    ``U`` dearest units of all the lines, so its ``F`` cheapest are worth no more than the ``F``
    cheapest of those; a line's rounded discount is at most its units' values each rounded up."""
    effect = c.effect
    lines = [by_index[i] for i in c.lines]
    if effect.type == "discount_amount":
        assert effect.value is not None
        return _units_up(min(effect.value, sum((line.amount for line in lines), Decimal(0))), quantum)
    if effect.type == "buy_x_get_y":
        assert effect.buy is not None and effect.get is not None
        unit_values = sorted(
            (
                value
                for line in lines
                for value in [_units_up(line.price * effect.bxgy_percent / HUNDRED, quantum)] * line.quantity
            ),
            reverse=True,
        )
        dearest = list(itertools.accumulate(unit_values, initial=0))
        size = effect.buy + effect.get
        return max(
            (dearest[u] - dearest[u - (u // size) * effect.get] for u in range(size, len(unit_values) + 1)),
            default=0,
        )
    raise ValueError(effect.type)  # pragma: no cover - separable campaigns are never coupled


def _candidate_subsets(
    c: Candidate,
    by_index: Mapping[int, Line],
    weights: Mapping[int, int],
    available: Sequence[int],
    occupied: Mapping[int, int],
    contention: Mapping[int, int],
) -> set[tuple[int, ...]]:
    """A few placements of ``c`` likely to be best, from a few pools of lines: all the lines it
    may take; those where money off is worth most; of those, the ones no other discount occupies
    (``occupied``: money off already on a line). From each pool: all of it; for
    ``discount_amount`` the fewest lines that carry its whole value (least contested and largest
    first) and every run of the lines with the most room left (so no line's cap cuts the share it
    gets), and for ``buy_x_get_y`` every run of its dearest lines."""
    top = max((weights[i] for i in available), default=0)
    worth_most = [i for i in available if top > 0 and weights[i] == top]
    pools = [list(available), worth_most, [i for i in worth_most if occupied[i] == 0]]
    found: set[tuple[int, ...]] = set()

    def runs(ordered: list[int]) -> None:
        for n in range(1, len(ordered)):
            found.add(tuple(sorted(ordered[:n])))

    for pool in pools:
        found.add(tuple(sorted(pool)))
        if c.effect.type == "discount_amount":
            assert c.effect.value is not None
            cover: list[int] = []
            carried = Decimal(0)
            for i in sorted(pool, key=lambda i: (contention[i], -by_index[i].amount, i)):
                if carried >= c.effect.value:
                    break
                cover.append(i)
                carried += by_index[i].amount
            found.add(tuple(sorted(cover)))
            runs(
                sorted(
                    pool,
                    key=lambda i: (
                        _share_taken(occupied[i], by_index[i]),
                        -weights[i],
                        -by_index[i].amount,
                        i,
                    ),
                )
            )
        elif c.effect.type == "buy_x_get_y":
            runs(sorted(pool, key=lambda i: (by_index[i].price, i), reverse=True))
    return found


def _share_taken(occupied: int, line: Line) -> float:
    """How much of a line other discounts already take (0 to 1); a free line has no room."""
    return occupied / float(line.amount) if line.amount else 1.0


def _max_flow(supply: Mapping[str, int], room: Mapping[int, int], edges: Mapping[str, Sequence[int]]) -> int:
    """The most money off that campaigns (each giving at most ``supply``) can put on lines (each
    taking at most ``room``), a campaign only on its lines (``edges``): a max flow, by shortest
    augmenting paths; the graph has a handful of campaigns and at most a basket's lines."""
    flow: Counter[tuple[str, int]] = Counter()
    given = dict.fromkeys(supply, 0)
    filled = dict.fromkeys(room, 0)
    total = 0
    while True:
        came_from: dict[str | int, str | int | None] = {c: None for c in supply if given[c] < supply[c]}
        queue: deque[str | int] = deque(came_from)
        end: int | None = None
        while queue and end is None:
            node = queue.popleft()
            if isinstance(node, str):  # a campaign: on to any of its lines
                onward: list[str | int] = [i for i in edges[node] if i in room]
            else:  # a line: back to a campaign whose money off on it could move elsewhere
                onward = [c for c in supply if flow[(c, node)] > 0]
            for step in onward:
                if step in came_from:
                    continue
                came_from[step] = node
                if isinstance(step, int) and filled[step] < room[step]:
                    end = step
                    break
                queue.append(step)
        if end is None:
            return total
        moves: list[tuple[str, int, int]] = []  # (campaign, line, +1 forward or -1 withdrawn)
        at: str | int = end
        while (previous := came_from[at]) is not None:
            if isinstance(at, int):
                moves.append((str(previous), at, 1))
            else:
                moves.append((at, int(previous), -1))
            at = previous
        start = str(at)
        push = min(
            supply[start] - given[start],
            room[end] - filled[end],
            *(flow[(c, i)] for c, i, direction in moves if direction < 0),
        )
        for c, i, direction in moves:
            flow[(c, i)] += direction * push
        given[start] += push
        filled[end] += push
        total += push


def _ceiling(group: _Group, most_off: Mapping[str, int]) -> int:
    """No placement of the group is worth more than this.

    A line's value grows with money off by at most its weight per unit, and only up to its
    ``room`` (its amount less what separable campaigns already take off it); each campaign gives
    at most ``most_off`` and only on its lines. The best such relaxed placement fills the lines
    by weight, highest first, so it is the sum over weight levels of (the level's step) times
    (the most the campaigns can put on the lines at or above that level): max flows."""
    touched = {i for c in group.campaigns for i in c.lines}
    base = sum(group.line_value(i, 0, False) for i in touched)
    room = {i: group.by_index_units[i] - group.occupied[i] for i in touched if group.weights[i] > 0}
    room = {i: r for i, r in room.items() if r > 0}
    supply = {c.id: most_off[c.id] for c in group.campaigns if most_off[c.id] > 0}
    edges = {c.id: c.lines for c in group.campaigns}
    levels = sorted({group.weights[i] for i in room}, reverse=True)
    total = base
    for k, level in enumerate(levels):
        step = level - (levels[k + 1] if k + 1 < len(levels) else 0)
        total += step * _max_flow(supply, {i: r for i, r in room.items() if group.weights[i] >= level}, edges)
    return total


def _undominated(
    subsets: list[tuple[tuple[int, ...], dict[int, int]]], blocks: bool, weights: Mapping[int, int]
) -> list[tuple[tuple[int, ...], dict[int, int]]]:
    """Drops every placement that another one beats or equals on every line: at least as much
    off where money off is worth something (less where it is not), and no more lines taken from
    other ``line`` campaigns. The first of equals (the larger placement) is kept.

    The pairwise comparison is quadratic, so beyond ``DOMINANCE_LIMIT`` placements only exact
    repeats (the same lines taken, the same money off on each) are dropped."""

    def covers(a: tuple[tuple[int, ...], dict[int, int]], b: tuple[tuple[int, ...], dict[int, int]]) -> bool:
        if blocks and not set(a[0]) <= set(b[0]):
            return False
        for i in set(a[1]) | set(b[1]):
            da, db = a[1].get(i, 0), b[1].get(i, 0)
            if (da < db) if weights[i] > 0 else (da > db):
                return False
        return True

    if len(subsets) > DOMINANCE_LIMIT:
        seen: set[tuple[tuple[int, ...], tuple[tuple[int, int], ...]]] = set()
        distinct = []
        for option in subsets:
            key = (option[0] if blocks else (), tuple(sorted(option[1].items())))
            if key not in seen:
                seen.add(key)
                distinct.append(option)
        return sorted(distinct, key=lambda option: -len(option[0]))
    kept: list[tuple[tuple[int, ...], dict[int, int]]] = []
    for candidate in subsets:
        if not any(covers(other, candidate) for other in kept):
            kept = [other for other in kept if not covers(candidate, other)] + [candidate]
    return sorted(kept, key=lambda option: -len(option[0]))


@dataclass(slots=True)
class _Group:
    """A group of coupled campaigns (linked by shared lines) and what is known of its lines."""

    campaigns: list[Candidate]
    by_index: Mapping[int, Line]
    quantum: Decimal
    line_value: Callable[[int, int, bool], int]
    weights: Mapping[int, int]
    occupied: Mapping[int, int]  # money off that separable campaigns put on each line, capped
    by_index_units: Mapping[int, int]  # each line's amount, in minor units
    stacked: Mapping[int, int]  # the stackable separable discounts on each line
    best_line_off: Mapping[int, int]  # the best separable ``line`` discount on each line

    amounts_exact: bool  # every line's amount is a whole number of minor units
    known: dict[tuple[str, tuple[int, ...]], dict[int, int]]  # money_off already computed

    def money_off(self, c: Candidate, subset: tuple[int, ...]) -> dict[int, int]:
        """Money off each line (minor units) when ``c`` sits on exactly ``subset``: the same
        figures as ``set_discounts``, in integers for ``discount_amount`` (the hot case)."""
        key = (c.id, subset)
        found = self.known.get(key)
        if found is None:
            value = c.effect.value
            if (
                c.effect.type == "discount_amount"
                and self.amounts_exact
                and subset
                and value is not None
                and value % self.quantum == 0
            ):
                weights = [self.by_index_units[i] for i in subset]
                total = min(_units(value, self.quantum), sum(weights))
                found = dict(zip(subset, split_ints(total, weights), strict=True))
            else:
                found = {
                    i: _units(d, self.quantum)
                    for i, d in set_discounts(
                        c.effect, [self.by_index[i] for i in subset], self.quantum
                    ).items()
                }
            self.known[key] = found
        return found


def _greedy(group: _Group, most_off: Mapping[str, int]) -> tuple[int, int, dict[str, tuple[int, ...]]]:
    """A good placement, quickly: the campaigns that can add most go first, each on the best of a
    few candidate subsets of the lines still open to it (see ``_candidate_subsets``)."""
    touched = sorted({i for c in group.campaigns for i in c.lines})
    contention = Counter(i for c in group.campaigns for i in c.lines)
    extra = dict.fromkeys(touched, 0)
    taken: set[int] = set()
    placement: dict[str, tuple[int, ...]] = {}
    priority = 0
    lv = group.line_value
    for c in sorted(group.campaigns, key=lambda c: (-most_off[c.id] * _slope(c, group.weights), c.id)):
        blocks = c.stacking != "stackable"
        available = [i for i in c.lines if not (blocks and i in taken)]
        occupied = {i: group.occupied[i] + extra[i] for i in available}
        best: tuple[int, int, int, int] = (0, 0, 0, 0)
        chosen: tuple[tuple[int, ...], dict[int, int]] = ((), {})
        for subset in _candidate_subsets(c, group.by_index, group.weights, available, occupied, contention):
            off = group.money_off(c, subset)
            gain = sum(
                lv(i, extra[i] + d, blocks or i in taken) - lv(i, extra[i], i in taken)
                for i, d in off.items()
            )
            applied = c.priority if any(off.values()) else 0
            # at equal value: applied, then leaving others the lines they also want, then the
            # fullest placement (a discount spread over all its lines, as a marketer expects)
            key = (gain, applied, -sum(contention[i] > 1 for i in subset), len(subset))
            if subset and key > best:
                best, chosen = key, (subset, off)
        subset, off = chosen
        if not subset:
            continue
        for i, d in off.items():
            extra[i] += d
        if blocks:
            taken.update(subset)
        placement[c.id] = subset
        priority += best[1]
    value = sum(lv(i, extra[i], i in taken) for i in touched)
    return value, priority, placement


def _peel(group: _Group) -> tuple[Candidate, tuple[int, ...], int] | None:
    """A campaign of the group that can be decided on its own, with its placement and the value
    of the lines it takes; None if there is none.

    A campaign ``c`` can be decided on its own when it can take off the most it ever can
    (``_most_off``) at the best weight among its lines, on lines that no other campaign of the
    group qualifies on. That is optimal: adding ``c`` to any placement of the others adds at most
    that much, and here it adds exactly that without touching a line the others could use; the
    others are then decided without it (they may fall apart into smaller groups)."""
    if len(group.campaigns) < 2:
        return None
    contention = Counter(i for c in group.campaigns for i in c.lines)
    lv = group.line_value
    for c in sorted(group.campaigns, key=lambda c: (len(c.lines), c.id)):
        own_lines = [i for i in c.lines if contention[i] == 1]
        target = _most_off(c, group.by_index, group.quantum) * _slope(c, group.weights)
        if not own_lines or target <= 0:
            continue
        blocks = c.stacking != "stackable"
        for subset in sorted(  # the fullest first
            _candidate_subsets(c, group.by_index, group.weights, own_lines, group.occupied, contention),
            key=lambda subset: (-len(subset), subset),
        ):
            if not subset:
                continue
            off = group.money_off(c, subset)
            gain = sum(lv(i, d, blocks) - lv(i, 0, False) for i, d in off.items())
            if gain >= target:
                return c, subset, sum(lv(i, d, blocks) for i, d in off.items())
    return None


def _best_single(
    group: _Group,
    greedy: tuple[int, int, dict[str, tuple[int, ...]]],
    most_off: int,
    search: _Search,
) -> tuple[int, int, dict[str, tuple[int, ...]]]:
    """The best subset of lines for a group of one campaign, by trying every subset, larger first,
    from the greedy placement. A subset is skipped unless a cheap optimistic figure could beat
    the best so far: each line gains at most its weight times its room, and the campaign at most
    ``most_off`` (for ``discount_amount``, never more than the subset's amount) at the best weight
    among them."""
    (c,) = group.campaigns
    lv = group.line_value
    blocks = c.stacking != "stackable"
    base = {i: lv(i, 0, False) for i in c.lines}
    base_total = sum(base.values())
    line_gain = {i: max(0, group.weights[i]) * (group.by_index_units[i] - group.occupied[i]) for i in c.lines}
    amount_off = c.effect.type == "discount_amount"
    best_value, best_priority, best_placement = greedy
    priority_open = c.priority > 0 and best_priority < c.priority
    tried = 0
    for size in range(len(c.lines), 0, -1):
        for subset in itertools.combinations(c.lines, size):
            tried += 1
            if tried % 256 == 0 and time.perf_counter() > search.deadline:
                search.exhausted = True
                return best_value, best_priority, best_placement
            optimistic = sum(line_gain[i] for i in subset)
            cap = most_off
            if amount_off:
                cap = min(cap, sum(group.by_index_units[i] for i in subset))
            optimistic = min(optimistic, cap * max(0, *(group.weights[i] for i in subset)))
            if base_total + optimistic < best_value or (
                base_total + optimistic == best_value and not priority_open
            ):
                continue
            off = group.money_off(c, subset)
            value = base_total + sum(lv(i, d, blocks) - base[i] for i, d in off.items())
            priority = c.priority if any(off.values()) else 0
            if (value, priority) > (best_value, best_priority):
                best_value, best_priority, best_placement = value, priority, {c.id: subset}
                priority_open = c.priority > 0 and best_priority < c.priority
    search.leaves += tried
    return best_value, best_priority, best_placement


def _slope(c: Candidate, weights: Mapping[int, int]) -> int:
    """What a unit of money off is worth, at most, on the lines of ``c`` (never below 0)."""
    return max(0, *(weights[i] for i in c.lines))


@dataclass(slots=True)
class _Look:
    """A group's greedy placement and what it takes to do better."""

    group: _Group
    most_off: dict[str, int]
    greedy: tuple[int, int, dict[str, tuple[int, ...]]]
    proven: bool  # the greedy placement reaches the ceiling: its value is the best
    every_priority_applied: bool  # and no placement of equal value can have a higher priority
    searchable: bool  # every subset of every campaign's lines can be searched
    conditioned: Candidate | None  # searched as this campaign under each placement of the others


def _first_look(group: _Group, search: _Search) -> _Look:
    most_off = {c.id: _most_off(c, group.by_index, group.quantum) for c in group.campaigns}
    greedy = _greedy(group, most_off)
    count = 1
    for c in group.campaigns:
        count *= 1 << len(c.lines)
    conditioned = _conditioning(group)
    return _Look(
        group,
        most_off,
        greedy,
        proven=greedy[0] >= _ceiling(group, most_off),
        every_priority_applied=all(c.id in greedy[2] or c.priority <= 0 for c in group.campaigns),
        searchable=conditioned is not None
        or (
            count <= search.settings.max_leaves * 64
            and all(len(c.lines) <= MAX_SUBSET_LINES for c in group.campaigns)
        ),
        conditioned=conditioned,
    )


def _fits_numpy(group: _Group, c: Candidate) -> bool:
    """Whether every figure of ``_vector_search`` stays exact in numpy: int64 products and sums,
    and optimistic figures in float64 (53 bits), with room to spare. Unusual point values can
    make the weights' common denominator, and so the integer weights, very large."""
    weight = max((abs(group.weights[i]) for i in c.lines), default=0)
    amount = max((group.by_index_units[i] for i in c.lines), default=0)
    value = _units(c.effect.value or Decimal(0), group.quantum)
    return max(weight, 1) * max(amount, value, 1) * len(c.lines) < 1 << 50 and value * amount < 1 << 62


def _conditioning(group: _Group) -> Candidate | None:
    """The ``discount_amount`` campaign on most lines, when every subset of its lines can be
    scored at once (``MAX_VECTOR_LINES``; amounts in whole minor units) and the other campaigns
    of the group have at most ``MAX_OTHER_PLACEMENTS`` placements together; else None."""
    campaigns = group.campaigns
    amounts = [
        c
        for c in campaigns
        if c.effect.type == "discount_amount"
        and len(c.lines) <= MAX_VECTOR_LINES
        and group.amounts_exact
        and c.effect.value is not None
        and c.effect.value % group.quantum == 0
        and _fits_numpy(group, c)
    ]
    if not amounts:
        return None
    big = max(amounts, key=lambda c: (len(c.lines), c.id))
    others = 1
    for c in campaigns:
        if c is not big:
            others *= 1 << len(c.lines)
    return big if others <= MAX_OTHER_PLACEMENTS else None


def _conditioned(
    group: _Group,
    big: Candidate,
    greedy: tuple[int, int, dict[str, tuple[int, ...]]],
    search: _Search,
) -> tuple[int, int, dict[str, tuple[int, ...]]]:
    """Every placement of the small campaigns of the group, each with the best subset of the big
    one's lines under it (``_vector_search``): exact, since together they are every placement."""
    lv = group.line_value
    touched = sorted({i for c in group.campaigns for i in c.lines})
    others = [c for c in group.campaigns if c is not big]
    choices = [
        [subset for r in range(len(c.lines), -1, -1) for subset in itertools.combinations(c.lines, r)]
        for c in others
    ]
    best = greedy
    for combo in itertools.product(*choices):
        extra = dict.fromkeys(touched, 0)
        taken: set[int] = set()
        priority = 0
        feasible = True
        for c, subset in zip(others, combo, strict=True):
            if c.stacking != "stackable":
                if taken & set(subset):
                    feasible = False
                    break
                taken.update(subset)
            off = group.money_off(c, subset)
            for i, d in off.items():
                extra[i] += d
            priority += c.priority if subset and any(off.values()) else 0
        if not feasible:
            continue
        if time.perf_counter() > search.deadline:
            search.exhausted = True
            return best
        base = sum(lv(i, extra[i], i in taken) for i in touched)
        gain, big_priority, subset = _vector_search(group, big, extra, taken)
        search.leaves += 1
        key = (base + gain, priority + big_priority)
        if key > best[:2]:
            placement = {c.id: sub for c, sub in zip(others, combo, strict=True)}
            if subset:
                placement[big.id] = subset
            best = (key[0], key[1], placement)
    return best


_SUBSETS: dict[int, np.ndarray] = {}


def _subsets(n: int) -> np.ndarray:
    """Every non-empty subset of ``n`` lines, one per row, as 0/1 columns (kept: made once per n)."""
    if n not in _SUBSETS:
        masks = np.arange(1, 1 << n, dtype=np.int64)
        _SUBSETS[n] = (masks[:, None] >> np.arange(n, dtype=np.int64)) & 1
    return _SUBSETS[n]


def _vector_search(
    group: _Group,
    c: Candidate,
    extra: Mapping[int, int],
    taken: set[int],
) -> tuple[int, int, tuple[int, ...]]:
    """The best subset of a ``discount_amount`` campaign's lines, with the rest of the group fixed
    (``extra`` money off and ``taken`` lines): its gain over the lines as they are, its priority
    (if applied) and the subset. Ties go to the higher priority, then to the fuller subset.

    With numpy, every subset first gets an optimistic gain (each line's proportional share plus
    one minor unit for the rounding). The most promising ones are then evaluated exactly, which
    sets a bar; every subset whose optimistic gain reaches the bar is evaluated exactly too, and
    the best of those is the best of all. Exact evaluation splits the amount as ``split_ints``
    does (floors, then the units left over to the largest remainders, ties to the earlier line)."""
    lv = group.line_value
    blocks = c.stacking != "stackable"
    lines = [i for i in c.lines if not (blocks and i in taken)]  # a line takes one line campaign
    n = len(lines)
    if n == 0:
        return 0, 0, ()
    assert c.effect.value is not None
    value = _units(c.effect.value, group.quantum)
    member = _subsets(n)
    amount = np.array([group.by_index_units[i] for i in lines], dtype=np.int64)
    weight = np.array([group.weights[i] for i in lines], dtype=np.int64)
    own = np.array([extra[i] for i in lines], dtype=np.int64)
    stacked = np.array([group.stacked[i] for i in lines], dtype=np.int64)
    kept = np.array([0 if i in taken else group.best_line_off[i] for i in lines], dtype=np.int64)
    positive = weight > 0
    base_sum = np.where(positive, own + stacked + kept, own)
    after_base = np.where(positive, own + stacked + (np.zeros(n, dtype=np.int64) if blocks else kept), own)
    now = np.minimum(amount, base_sum)
    whole = member @ amount
    total = np.minimum(value, whole)

    # optimistic, in floating point: the exact share plus a little over one unit covers the
    # rounding of the split and of the division
    rate = (total / np.maximum(whole, 1)).astype(np.float64)
    share = np.minimum(rate[:, None] * amount[None, :] + 1.001, amount[None, :])
    lift = np.minimum(amount[None, :], after_base[None, :] + share) - now[None, :]
    optimistic = (np.where(positive, weight, 0)[None, :] * lift * member).sum(axis=1)

    def gains(rows: np.ndarray, off: np.ndarray) -> np.ndarray:
        """What the lines' value gains, per subset, exactly, from ``off`` money off each line."""
        after = np.minimum(amount[None, :], after_base[None, :] + off)
        return (weight[None, :] * (after - now[None, :]) * member[rows]).sum(axis=1)

    def exact(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        part = total[rows][:, None] * (member[rows] * amount[None, :])
        whole_rows = np.maximum(whole[rows], 1)[:, None]
        floors, remainders = part // whole_rows, part % whole_rows
        leftover = total[rows] - floors.sum(axis=1)
        order = np.argsort(-remainders, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(np.arange(n), order.shape), axis=1)
        off = floors + (rank < leftover[:, None])
        return gains(rows, off), np.where(off.sum(axis=1) > 0, c.priority, 0), member[rows].sum(axis=1)

    first = np.argsort(-optimistic, kind="stable")[:64]
    bar = max(0, int(exact(first)[0].max()))
    rows = np.flatnonzero(optimistic >= bar)
    if rows.size == 0:
        return 0, 0, ()  # nothing gains: the empty subset
    gain, applied, size = exact(rows)
    pick = int(np.lexsort((size, applied, gain))[-1])
    if (int(gain[pick]), int(applied[pick])) < (0, 0):
        return 0, 0, ()  # the empty subset
    subset = tuple(i for i, bit in zip(lines, member[rows[pick]], strict=True) if bit)
    found = (int(gain[pick]), int(applied[pick]), subset)
    assert found[0] == sum(
        lv(i, extra[i] + d, blocks or i in taken) - lv(i, extra[i], i in taken)
        for i, d in group.money_off(c, subset).items()
    ), "the vectorised figures must agree with line_value"
    return found


def _best_group(look: _Look, search: _Search, hopeless: bool) -> tuple[int, int, dict[str, tuple[int, ...]]]:
    """The best placements of a group of coupled campaigns.

    First a greedy placement (``_greedy``) and a ceiling on what any placement can be worth
    (``_ceiling``). When the greedy placement reaches the ceiling, its value is proven best
    without any enumeration: the usual case, even for a campaign on the whole basket. It is the
    answer when every campaign of positive priority is in it too, or when the subsets are too
    many to search for a placement of equal value and higher priority (so with a campaign on more
    than ``MAX_SUBSET_LINES`` lines, the priority tie-break is the greedy's, while the value is
    still proven).

    Otherwise the group is searched: under each placement of its other campaigns when it has a
    ``discount_amount`` to score in numpy (``_conditioned``); over every subset when it is one
    campaign (``_best_single``); else by depth-first branch and bound over each campaign's subsets
    of lines, larger first (so ties keep the fullest), from the greedy placement, a branch cut
    when even its optimistic bound cannot beat the best found. That bound is sound: a line's value
    only grows with its discounts (when ``w > 0``), each undecided campaign adds at most the
    largest discount any of its subsets puts on that line, and a line takes at most one more
    ``line`` campaign. When time runs out, the best placement found is the answer, not proven."""
    group, most_off, greedy = look.group, look.most_off, look.greedy
    if look.proven and look.every_priority_applied:
        return greedy
    if not look.searchable or hopeless:
        # too many subsets to search for a tie of higher priority, or for a better value; or the
        # basket cannot be proven anyway
        search.exhausted = search.exhausted or not look.proven
        return greedy
    campaigns = group.campaigns
    weights = group.weights
    lv = group.line_value
    touched = sorted({i for c in campaigns for i in c.lines})

    if look.conditioned is not None:
        return _conditioned(group, look.conditioned, greedy, search)
    if len(campaigns) == 1:
        return _best_single(group, greedy, most_off[campaigns[0].id], search)

    options: list[list[tuple[tuple[int, ...], dict[int, int]]]] = []
    most: list[dict[int, int]] = []
    generated = 0
    for c in campaigns:
        subsets: list[tuple[tuple[int, ...], dict[int, int]]] = []
        peak: dict[int, int] = {}
        for r in range(len(c.lines), -1, -1):
            for subset in itertools.combinations(c.lines, r):
                generated += 1
                if generated % 256 == 0 and time.perf_counter() > search.deadline:
                    search.exhausted = True
                    return greedy
                money_off = group.money_off(c, subset)
                subsets.append((subset, money_off))
                for i, d in money_off.items():
                    peak[i] = max(peak.get(i, 0), d)
        options.append(_undominated(subsets, c.stacking != "stackable", weights))
        most.append(peak)
    # the campaigns that can give most are decided first: a good placement is found early and
    # the bound cuts more
    order = sorted(range(len(campaigns)), key=lambda k: (-sum(most[k].values()), campaigns[k].id))
    campaigns = [campaigns[k] for k in order]
    options = [options[k] for k in order]
    most = [most[k] for k in order]
    extra = dict.fromkeys(touched, 0)
    taken: set[int] = set()
    chosen: list[tuple[int, ...]] = []
    best: list[tuple[int, int, dict[str, tuple[int, ...]]]] = [greedy]

    # what the campaigns from k on could still add to each line, at most, and to the whole group
    stack_after = [dict.fromkeys(touched, 0) for _ in range(len(campaigns) + 1)]
    line_after = [dict.fromkeys(touched, 0) for _ in range(len(campaigns) + 1)]
    ceiling_after = [0] * (len(campaigns) + 1)
    priority_after = [0] * (len(campaigns) + 1)
    for k in range(len(campaigns) - 1, -1, -1):
        stack_after[k] = dict(stack_after[k + 1])
        line_after[k] = dict(line_after[k + 1])
        ceiling_after[k] = ceiling_after[k + 1] + most_off[campaigns[k].id] * _slope(campaigns[k], weights)
        priority_after[k] = priority_after[k + 1] + max(0, campaigns[k].priority)
        for i, d in most[k].items():
            if campaigns[k].stacking == "stackable":
                stack_after[k][i] += d
            else:
                line_after[k][i] = max(line_after[k][i], d)

    def bound(k: int) -> int:
        total = 0
        stack, one = stack_after[k], line_after[k]
        for i in touched:
            own = extra[i]
            if weights[i] <= 0:
                total += lv(i, own, i in taken)
            elif i in taken:
                total += lv(i, own + stack[i], True)
            else:
                total += max(lv(i, own + stack[i] + one[i], True), lv(i, own + stack[i], False))
        so_far = sum(lv(i, extra[i], i in taken) for i in touched)
        return min(total, so_far + ceiling_after[k])

    def dfs(k: int, priority: int) -> bool:
        search.leaves += 1
        if search.leaves % 256 == 0 and time.perf_counter() > search.deadline:
            search.exhausted = True
            return False
        if k == len(campaigns):
            value = sum(lv(i, extra[i], i in taken) for i in touched)
            if (value, priority) > best[0][:2]:
                best[:] = [(value, priority, {c.id: sub for c, sub in zip(campaigns, chosen, strict=True)})]
            return True
        ceiling = bound(k)
        if ceiling < best[0][0] or (ceiling == best[0][0] and priority + priority_after[k] <= best[0][1]):
            return True
        c = campaigns[k]
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
    return best[0]


def best_deal(lines: Sequence[Line], candidates: Sequence[Candidate], settings: Settings) -> Deal:
    """The combination of campaigns worth most to the customer; ties go to the higher priority sum."""
    search = _Search(lines, settings, deadline=time.perf_counter() + settings.time_limit)
    points_all = [c for c in candidates if not c.is_discount and c.stacking != "exclusive"]
    rules = point_rules(points_all, settings.base_rate)
    weights = _weights(lines, rules, settings)
    const = _constant(lines, rules, settings)
    discounts = [c for c in candidates if c.is_discount and c.stacking != "exclusive"]
    options: list[tuple[Fraction, int, dict[str, tuple[int, ...]], str | None]] = []
    # the exclusive campaigns first: they are quick, and when one of them cannot be proven the
    # main branch need not spend the time limit searching
    for e in (c for c in candidates if c.stacking == "exclusive"):
        own_rules = [] if e.is_discount else point_rules([e], settings.base_rate)
        own_weights = _weights(lines, own_rules, settings)
        own_const = _constant(lines, own_rules, settings)
        found = _branch(
            lines, [e] if e.is_discount else [], own_weights, search, 0 if e.is_discount else e.priority
        )
        value, _, placement = found
        if value > 0 or not e.is_discount:
            options.append((own_const + value, e.priority, placement, e.id))
    found = _branch(lines, discounts, weights, search, sum(c.priority for c in points_all))
    options.insert(0, (const + found[0], found[1], found[2], None))
    _value, _priority, placement, exclusive = max(options, key=lambda o: (o[0], o[1]))
    deal = evaluate(lines, candidates, placement, settings, exclusive)
    deal.optimal = not search.exhausted
    deal.leaves = search.leaves
    return deal


def _constant(lines: Sequence[Line], rules: Sequence[PointRule], settings: Settings) -> Fraction:
    """The value with no discount at all: every point, at the given rates."""
    line_rates = rates(lines, rules, settings.base_rate)
    points = Decimal(sum(rule.fixed for rule in rules))
    for line in lines:
        points = _EXACT.add(
            points, _EXACT.divide(_EXACT.multiply(line.amount, line_rates[line.index]), HUNDRED)
        )
    return Fraction(_EXACT.multiply(points, settings.point_value))
