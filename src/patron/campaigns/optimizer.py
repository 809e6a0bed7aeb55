"""The best deal for the customer (contract 8, "How the best deal is found"). Pure.

The value of a placement is defined in ``deal``; groups of coupled campaigns are solved in
``groups``.

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
  decided alone (``peel``). Each group then gets a greedy placement and a ceiling on what any
  placement can be worth (a max flow of each campaign's largest possible money off into the
  room left on its lines, by weight); when the greedy placement reaches the ceiling it is proven
  best at once, which is the usual case even for a campaign on the whole basket. Otherwise the
  group is searched exactly: a ``discount_amount`` under every placement of the group's other
  (few) campaigns, its best subset found by scoring them all at once with numpy (up to
  ``MAX_VECTOR_LINES`` lines) or, on more lines, by a branch and bound over the subsets' totals
  (see ``amounts``); a lone campaign on up to ``MAX_SUBSET_LINES`` lines over
  every subset with a cheap bound; other groups by depth-first branch and bound over the
  subsets of each campaign's lines, from the greedy value.
Everything is computed in integers (minor units, weights over a common denominator), so values
compare exactly. When a group can be neither proven by its ceiling nor searched, or the time
limit passes, the best placement found so far (at least the greedy one) is returned with
``optimal=False``. The time limit is checked while subsets are generated and searched, so it
bounds a quote. Ties between placements of the best value are settled in ``ties``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow
from fractions import Fraction
from math import lcm

from patron.campaigns import ties
from patron.campaigns.deal import (
    HUNDRED,
    SEPARABLE,
    Candidate,
    Deal,
    Line,
    PointRule,
    Search,
    Settings,
    evaluate,
    point_rules,
    rates,
    search_clock,
    separable_discount,
    set_discounts,
)
from patron.campaigns.groups import (
    MAX_SUBSET_LINES,
    Group,
    Look,
    best_group,
    first_look,
    largest_money_off,
    peel,
    units,
)

__all__ = [
    "MAX_SUBSET_LINES",
    "SEPARABLE",
    "Candidate",
    "Deal",
    "Line",
    "PointRule",
    "Settings",
    "best_deal",
    "evaluate",
]


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
    search: Search,
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
    w_int = {i: w.numerator * (scale // w.denominator) for i, w in weights.items()}
    amount = {line.index: units(line.amount, quantum) for line in lines}
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
            line = by_index[i]
            if c.effect.type in SEPARABLE:
                d = units(separable_discount(c.effect, line, quantum), quantum)
            else:  # a coupled campaign on this one line
                d = units(set_discounts(c.effect, [line], quantum)[i], quantum)
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
    looks: list[Look] = []
    pending = _components(coupled)
    while pending:
        group = Group(
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
        peeled = peel(group)
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
        looks.append(first_look(group, search))
    # a basket with a group that can be neither proven nor searched is not proven whatever the
    # others do: they keep their greedy placements rather than spend the time limit on a search
    hopeless = search.exhausted or any(not look.proven and not look.searchable for look in looks)
    for look in looks:
        found = best_group(look, search, hopeless)
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


def best_deal(lines: Sequence[Line], candidates: Sequence[Candidate], settings: Settings) -> Deal:
    """The combination of campaigns worth most to the customer; ties go to the higher priority sum."""
    search = Search(lines, settings, deadline=search_clock() + settings.time_limit)
    points_all = [c for c in candidates if not c.is_discount and c.stacking != "exclusive"]
    rules = point_rules(points_all, settings.base_rate)
    weights = _weights(lines, rules, settings)
    const = _constant(lines, rules, settings)
    discounts = [c for c in candidates if c.is_discount and c.stacking != "exclusive"]
    found = _branch(lines, discounts, weights, search, sum(c.priority for c in points_all))
    # the search's priority sum leaves out the campaigns decided line by line: the deal's counts all
    main = evaluate(lines, candidates, found[2], settings)
    main = ties.tie_break(lines, candidates, found[2], settings, main, search.deadline)
    options: list[tuple[Fraction, int, dict[str, tuple[int, ...]], str | None]] = [
        (const + found[0], main.priority, found[2], None)
    ]
    # Each exclusive campaign alone, after the main branch, and only when it could win: an
    # exclusive point campaign is worth exactly its points; an exclusive discount at most the most
    # it can take off, at the best weight among its lines, above the points of a plain receipt.
    by_index = {line.index: line for line in lines}
    no_rules: tuple[dict[int, Fraction], Fraction] | None = None  # the same for every discount
    for e in (c for c in candidates if c.stacking == "exclusive"):
        best = max((o[0], o[1]) for o in options)
        if not e.is_discount:
            value = _constant(lines, point_rules([e], settings.base_rate), settings)
            if (value, e.priority) > best:
                options.append((value, e.priority, {}, e.id))
            continue
        if no_rules is None:
            no_rules = (_weights(lines, [], settings), _constant(lines, [], settings))
        own_weights, own_const = no_rules
        slope = max([Fraction(0), *(own_weights[i] for i in e.lines)])
        if (own_const + _most_money_off(e, by_index, settings.quantum) * slope, e.priority) <= best:
            continue  # cannot beat what is already found, nor tie it at a higher priority
        value, _, placement = _branch(lines, [e], own_weights, search, 0)
        if value > 0:
            options.append((own_const + value, e.priority, placement, e.id))
    _value, _priority, placement, exclusive = max(options, key=lambda o: (o[0], o[1]))
    deal = main if exclusive is None else evaluate(lines, candidates, placement, settings, exclusive)
    deal.optimal = not search.exhausted
    deal.leaves = search.leaves
    return deal


def _most_money_off(c: Candidate, by_index: Mapping[int, Line], quantum: Decimal) -> Fraction:
    """The most money discount campaign ``c`` can take off, on any subset of its lines."""
    if c.effect.type in SEPARABLE:
        off = (min(separable_discount(c.effect, by_index[i], quantum), by_index[i].amount) for i in c.lines)
        return Fraction(sum(off, Decimal(0)))
    return Fraction(largest_money_off(c, by_index, quantum)) * Fraction(quantum)


def _constant(lines: Sequence[Line], rules: Sequence[PointRule], settings: Settings) -> Fraction:
    """The value with no discount at all: every point, at the given rates."""
    line_rates = rates(lines, rules, settings.base_rate)
    paid_at: dict[Decimal, Decimal] = {}  # lines share few rates: sum the amounts per rate first
    for line in lines:
        rate = line_rates[line.index]
        paid_at[rate] = _EXACT.add(paid_at.get(rate, Decimal(0)), line.amount)
    points = Decimal(sum(rule.fixed for rule in rules))
    for rate, paid in paid_at.items():
        points = _EXACT.add(points, _EXACT.divide(_EXACT.multiply(paid, rate), HUNDRED))
    return Fraction(_EXACT.multiply(points, settings.point_value))
