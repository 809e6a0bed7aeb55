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
bounds a quote.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow
from fractions import Fraction
from math import lcm

from patron.campaigns.deal import (
    HUNDRED,
    SEPARABLE,
    Candidate,
    Deal,
    Line,
    PointRule,
    Search,
    Settings,
    cap_line,
    evaluate,
    point_rules,
    rates,
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
    search = Search(lines, settings, deadline=time.perf_counter() + settings.time_limit)
    points_all = [c for c in candidates if not c.is_discount and c.stacking != "exclusive"]
    rules = point_rules(points_all, settings.base_rate)
    weights = _weights(lines, rules, settings)
    const = _constant(lines, rules, settings)
    discounts = [c for c in candidates if c.is_discount and c.stacking != "exclusive"]
    found = _branch(lines, discounts, weights, search, sum(c.priority for c in points_all))
    # the search's priority sum leaves out the campaigns decided line by line: the deal's counts all
    main = evaluate(lines, candidates, found[2], settings)
    main = _tie_break(lines, candidates, found[2], settings, main, search.deadline)
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


# Baskets up to this many (line, campaign) pairs get the tie-break below; on larger ones the
# priority among placements of equal value is the search's. Its moves are bounded by its time
# budget too; this only spares the largest baskets their listing (400 had left out a 41-line
# basket with ten campaigns).
TIE_BREAK_PAIRS = 5_000
# What the tie-break may spend at most, in evaluations and in seconds (within the search's time
# limit): with 67 campaigns of random priorities on each 20-line basket, unbounded, it tripled
# the optimizer's median time (bench/optimizer.py, dense catalog).
TIE_BREAK_EVALUATIONS = 48
TIE_BREAK_SECONDS = 0.004


def _tie_break(
    lines: Sequence[Line],
    candidates: Sequence[Candidate],
    placement: dict[str, tuple[int, ...]],
    settings: Settings,
    deal: Deal,
    deadline: float,
) -> Deal:
    """Contract 8, step 5: of the combinations of the best value, the one of the highest priority
    sum. The search proves the value; its priority sum is exact only for the campaigns it weighs
    together, so placements of the same value are tried by moves, kept when the value is the
    same and the priority sum higher:

    - a campaign taken off the receipt, its lines given the best `line` campaign left for each
      (a 1.00-off on two lines of priority 1 had won over 10% of priority 5 on one of them);
    - a `line` campaign swapped for another wherever both may be, or on one line (two campaigns
      of priority -1 where one, already on another line, would do);
    - a campaign taken off one line (a stackable one there gives what it gave, and counts);
    - a campaign added on a line where it qualifies.

    Until no move helps (each raises the sum, so this ends), or its budget is spent (the value
    is proven all the same)."""
    discounts = [c for c in candidates if c.is_discount and c.stacking != "exclusive"]
    if sum(len(c.lines) for c in discounts) > TIE_BREAK_PAIRS:
        return deal
    by_id = {c.id: c for c in discounts}
    deadline = min(deadline, time.perf_counter() + TIE_BREAK_SECONDS)
    evaluations = 0

    def tried(moved: dict[str, tuple[int, ...]]) -> Deal | None:
        try:
            other = evaluate(lines, candidates, moved, settings)
        except ValueError:
            return None
        return other if other.value == deal.value and other.priority > deal.priority else None

    improved = True
    while improved:
        improved = False
        # only these can change the sum: one of positive priority not applied, one of negative applied
        wanted = {c.id for c in discounts if c.priority > 0 and c.id not in deal.applied}
        unwanted = {cid for cid in deal.applied if cid in by_id and by_id[cid].priority < 0}
        if not wanted and not unwanted:
            break  # every priority 0 (the default), say: no move can raise the sum
        weightless = _weightless(lines, deal, settings)
        neutral = _Neutral(lines, deal, settings.quantum, weightless)
        local = _LineOnly(lines, deal, placement, by_id, settings.quantum, weightless)
        for move, touched in _moves(placement, discounts, by_id, neutral):
            if time.perf_counter() > deadline:
                return deal
            if not _could_raise(placement, move, touched, wanted, unwanted):
                continue
            judged = local.gain(move, touched)
            if judged is not None and judged <= 0:
                continue  # told without an evaluation: it changes the value, or raises nothing
            if judged is None:  # only an evaluation can tell
                if evaluations >= TIE_BREAK_EVALUATIONS:
                    return deal
                evaluations += 1
            better = tried(move)
            if better is not None:
                placement, deal, improved = move, better, True
                break
    return deal


def _could_raise(
    before: Mapping[str, tuple[int, ...]],
    after: Mapping[str, tuple[int, ...]],
    touched: set[int],
    wanted: set[str],
    unwanted: set[str],
) -> bool:
    """Whether a move on ``touched`` lines can raise the priority sum, before it is evaluated:
    only a campaign on those lines can change whether it applies, so the sum rises only if a
    ``wanted`` one is placed there after, or an ``unwanted`` one was or is there."""
    if any(touched.intersection(after.get(cid, ())) for cid in wanted):
        return True
    return any(touched.intersection((*before.get(cid, ()), *after.get(cid, ()))) for cid in unwanted)


def _moves(
    placement: Mapping[str, tuple[int, ...]],
    discounts: Sequence[Candidate],
    by_id: Mapping[str, Candidate],
    neutral: _Neutral,
) -> Iterator[tuple[dict[str, tuple[int, ...]], set[int]]]:
    """The placements one move away (see ``_tie_break``), each with the lines it changes; those
    that ``neutral`` shows would change the value are left out."""
    holder = {i: cid for cid, idx in placement.items() if by_id[cid].stacking == "line" for i in idx}
    line_campaigns = [c for c in discounts if c.stacking == "line"]
    for cid, indexes in placement.items():
        if not indexes:
            continue
        moved = {**placement, cid: ()}
        for i in indexes:
            if holder.get(i) == cid:
                fills = [
                    c for c in line_campaigns if c.id != cid and i in c.lines and i not in moved.get(c.id, ())
                ]
                if fills:
                    best = max(fills, key=lambda c: c.priority)
                    moved[best.id] = tuple(sorted({*moved.get(best.id, ()), i}))
        yield moved, set(indexes)
    for cid, indexes in placement.items():  # a `line` campaign replaced by another wherever both may be
        out = by_id[cid]
        if out.stacking != "line" or not indexes:
            continue
        for c in line_campaigns:
            shared = [i for i in indexes if i in c.lines and holder.get(i) == cid]
            if c.id != cid and len(shared) > 1 and all(neutral.swap(out, c, i) for i in shared):
                replaced = {**placement, cid: tuple(x for x in indexes if x not in shared)}
                replaced[c.id] = tuple(sorted({*placement.get(c.id, ()), *shared}))
                yield replaced, set(shared)
    for i, cid in holder.items():
        for c in line_campaigns:
            if c.id != cid and i in c.lines and neutral.swap(by_id[cid], c, i):
                swapped = {**placement, cid: tuple(x for x in placement[cid] if x != i)}
                swapped[c.id] = tuple(sorted({*placement.get(c.id, ()), i}))
                yield swapped, {i}
    for cid, indexes in placement.items():
        if indexes:  # on its only line, this takes it off the receipt and leaves the line to the rest
            for i in indexes:
                if neutral.change(by_id[cid], i):
                    yield {**placement, cid: tuple(x for x in indexes if x != i)}, {i}
    for c in discounts:
        for i in c.lines:
            fits = c.stacking == "stackable" or i not in holder
            if fits and i not in placement.get(c.id, ()) and neutral.change(c, i):
                yield {**placement, c.id: tuple(sorted({*placement.get(c.id, ()), i}))}, {i}


def _weightless(lines: Sequence[Line], deal: Deal, settings: Settings) -> set[int]:
    """Lines where money off is worth exactly the points it costs (``point_value`` x the line's
    rate is 100%): a discount there changes no value, so any campaign may be put on or taken off."""
    line_rates = rates(lines, deal.point_rules, settings.base_rate)
    return {i for i, rate in line_rates.items() if settings.point_value * rate == HUNDRED}


class _Neutral:
    """Which one-line moves may keep a deal's value, told without evaluating them: a campaign
    whose discount on a line does not depend on others (``SEPARABLE``) changes the value when
    it is added, taken off or swapped for another of a different discount, unless the line's
    discounts already take its whole amount (then the others fill what it leaves)."""

    def __init__(self, lines: Sequence[Line], deal: Deal, quantum: Decimal, weightless: set[int]) -> None:
        self.by_index = {line.index: line for line in lines}
        self.quantum = quantum
        full = {
            i for i, line in self.by_index.items() if line.amount > 0 and deal.line_discount(i) >= line.amount
        }
        self.full = full | weightless  # a move there keeps the value whatever it gives

    def _off(self, c: Candidate, i: int) -> Decimal | None:
        return (
            separable_discount(c.effect, self.by_index[i], self.quantum)
            if c.effect.type in SEPARABLE
            else None
        )

    def change(self, c: Candidate, i: int) -> bool:
        return i in self.full or self._off(c, i) is None

    def swap(self, out: Candidate, into: Candidate, i: int) -> bool:
        if i in self.full:
            return True
        off_out, off_into = self._off(out, i), self._off(into, i)
        return off_out is None or off_into is None or off_out == off_into


class _LineOnly:
    """A move on one line whose campaigns there are decided by that line alone (``SEPARABLE``,
    or placed on it only), judged without evaluating the whole deal: the value stays only if
    the line's discounts, capped at its amount, add up to the same; the priority sum changes by
    the campaigns that start or stop applying (giving something on some line)."""

    def __init__(
        self,
        lines: Sequence[Line],
        deal: Deal,
        placement: Mapping[str, tuple[int, ...]],
        by_id: Mapping[str, Candidate],
        quantum: Decimal,
        weightless: set[int],
    ) -> None:
        self.by_index = {line.index: line for line in lines}
        self.deal, self.placement, self.by_id, self.quantum = deal, placement, by_id, quantum
        self.weightless = weightless
        self.gives: dict[str, set[int]] = {}
        for index, parts in deal.discounts.items():
            for cid, _ in parts:
                self.gives.setdefault(cid, set()).add(index)

    def _off(self, c: Candidate, i: int, after: Mapping[str, tuple[int, ...]]) -> Decimal | None:
        line = self.by_index[i]
        if c.effect.type in SEPARABLE:
            return separable_discount(c.effect, line, self.quantum)
        if tuple(after.get(c.id, ())) == (i,):  # on this line alone
            return set_discounts(c.effect, [line], self.quantum)[i]
        return None

    def gain(self, after: Mapping[str, tuple[int, ...]], touched: set[int]) -> int | None:
        """The rise of the priority sum if the value stays (0 or less if it does not, or nothing
        rises); None when only an evaluation can tell."""
        if len(touched) != 1:
            return None
        (i,) = touched
        parts: list[tuple[Candidate, Decimal]] = []
        for cid, indexes in after.items():
            if i in indexes:
                off = self._off(self.by_id[cid], i, after)
                if off is None:
                    return None
                parts.append((self.by_id[cid], off))
        for cid in {*self.placement, *after}:
            before, now = set(self.placement.get(cid, ())), set(after.get(cid, ()))
            if before != now and self.by_id[cid].effect.type not in SEPARABLE and before | now != {i}:
                return None  # its discount on its other lines changes too
        if sum(1 for c, _ in parts if c.stacking != "stackable") > 1:
            return 0  # two line campaigns on a line: not allowed
        parts.sort(key=lambda p: (p[0].stacking == "stackable", -p[0].priority, p[0].id))
        capped = cap_line(self.by_index[i].amount, [(c.id, d) for c, d in parts])
        if i not in self.weightless and sum(d for _, d in capped) != self.deal.line_discount(i):
            return 0  # the line's money off, and so the value, changes
        giving = {cid for cid, d in capped if d > 0}
        rise = 0
        for cid in {*self.gives, *giving}:
            if cid not in self.by_id:
                continue
            gave = bool(self.gives.get(cid))
            gives = bool(self.gives.get(cid, set()) - {i}) or cid in giving
            rise += self.by_id[cid].priority * (int(gives) - int(gave))
        return rise


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
