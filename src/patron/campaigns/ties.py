"""Ties between combinations of the best value (contract 8, step 5: the higher sum of
``priority``). Pure.

The search (``optimizer``) proves the value; its own priority sum is exact only for the campaigns
it weighs together, and it decides the campaigns of one line at a time line by line. So the main
branch's placement is improved here by moves that keep its value and raise the sum of the
priorities of the campaigns the deal applies."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal

from patron.campaigns.deal import (
    HUNDRED,
    SEPARABLE,
    Candidate,
    Deal,
    Line,
    Settings,
    cap_line,
    evaluate,
    rates,
    search_clock,
    separable_discount,
    set_discounts,
)

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


def tie_break(
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
    deadline = min(deadline, search_clock() + TIE_BREAK_SECONDS)
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
            if search_clock() > deadline:
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
    """The placements one move away (see ``tie_break``), each with the lines it changes; those
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
