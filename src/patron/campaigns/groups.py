"""Groups of coupled campaigns: placements of campaigns whose discount depends on the set of
lines they sit on (``discount_amount``, ``buy_x_get_y`` on several lines). Pure.

For each group: a campaign that can give its most on lines no other campaign wants is decided
alone (``peel``); otherwise ``first_look`` makes a greedy placement and checks it against a
ceiling (a max flow), and ``best_group`` either takes it as proven or searches exactly (an
amount's best subset under each placement of the others: numpy scoring of every subset, or a
branch and bound over the subsets' totals for more lines; every subset of a lone campaign; or
branch and bound over placements). See ``optimizer`` for how groups fit into the whole deal.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

import numpy as np

from patron.campaigns import amounts
from patron.campaigns.deal import HUNDRED, Candidate, Line, Search, search_clock, set_discounts
from patron.money import split_ints

MAX_SUBSET_LINES = 12  # beyond this a coupled campaign's subsets are not enumerated
MAX_VECTOR_LINES = 8  # a discount_amount's subsets scored at once with numpy, up to this many lines
MAX_OTHER_PLACEMENTS = 256  # the other campaigns' placements tried under it, at most
EVERY_RUN_UP_TO = 16  # a greedy placement tries every run of lines up to this long, then fewer
DOMINANCE_LIMIT = 64  # beyond this many subsets only exact repeats are dropped (the filter is quadratic)


def units(money: Decimal, quantum: Decimal) -> int:
    """``money`` in whole minor units (the optimizer's integers)."""
    return int(money / quantum)


def _units_up(money: Decimal, quantum: Decimal) -> int:
    """``money`` in minor units, rounded up (for ceilings)."""
    return int((money / quantum).to_integral_value(rounding=ROUND_CEILING))


def largest_money_off(c: Candidate, by_index: Mapping[int, Line], quantum: Decimal) -> int:
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
        for n in run_lengths(len(ordered)):
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


def run_lengths(n: int) -> list[int]:
    """The lengths of the runs (prefixes) of ``n`` ordered lines that a greedy placement tries,
    shorter than all of them: every one up to ``EVERY_RUN_UP_TO``, then each about a fifth longer
    than the last. Each run costs a pass over its lines, so trying them all made a 1,000-line basket
    cost seconds (the optimizer's deadline does not reach here); the greedy placement only has to
    be good, since the exact search and the ceiling decide what is proven."""
    lengths = list(range(1, min(n, EVERY_RUN_UP_TO + 1)))
    length = EVERY_RUN_UP_TO
    while (length := max(length + 1, length * 6 // 5)) < n:
        lengths.append(length)
    return lengths


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


def _ceiling(group: Group, most_off: Mapping[str, int]) -> int:
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
class Group:
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
                total = min(units(value, self.quantum), sum(weights))
                found = dict(zip(subset, split_ints(total, weights), strict=True))
            else:
                found = {
                    i: units(d, self.quantum)
                    for i, d in set_discounts(
                        c.effect, [self.by_index[i] for i in subset], self.quantum
                    ).items()
                }
            self.known[key] = found
        return found


def _greedy(group: Group, most_off: Mapping[str, int]) -> tuple[int, int, dict[str, tuple[int, ...]]]:
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


def peel(group: Group) -> tuple[Candidate, tuple[int, ...], int] | None:
    """A campaign of the group that can be decided on its own, with its placement and the value
    of the lines it takes; None if there is none.

    A campaign ``c`` can be decided on its own when it can take off the most it ever can
    (``largest_money_off``) at the best weight among its lines, on lines that no other campaign of the
    group qualifies on. That is optimal: adding ``c`` to any placement of the others adds at most
    that much, and here it adds exactly that without touching a line the others could use; the
    others are then decided without it (they may fall apart into smaller groups)."""
    if len(group.campaigns) < 2:
        return None
    contention = Counter(i for c in group.campaigns for i in c.lines)
    lv = group.line_value
    for c in sorted(group.campaigns, key=lambda c: (len(c.lines), c.id)):
        own_lines = [i for i in c.lines if contention[i] == 1]
        target = largest_money_off(c, group.by_index, group.quantum) * _slope(c, group.weights)
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
    group: Group,
    greedy: tuple[int, int, dict[str, tuple[int, ...]]],
    most_off: int,
    search: Search,
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
            if tried % 256 == 0 and search_clock() > search.deadline:
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
class Look:
    """A group's greedy placement and what it takes to do better."""

    group: Group
    most_off: dict[str, int]
    greedy: tuple[int, int, dict[str, tuple[int, ...]]]
    proven: bool  # the greedy placement reaches the ceiling: its value is the best
    every_priority_applied: bool  # and no placement of equal value can have a higher priority
    searchable: bool  # every subset of every campaign's lines can be searched
    conditioned: Candidate | None  # searched as this campaign under each placement of the others


def first_look(group: Group, search: Search) -> Look:
    most_off = {c.id: largest_money_off(c, group.by_index, group.quantum) for c in group.campaigns}
    greedy = _greedy(group, most_off)
    count = 1
    for c in group.campaigns:
        count *= 1 << len(c.lines)
    conditioned = _conditioning(group)
    return Look(
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


def _fits_numpy(group: Group, c: Candidate) -> bool:
    """Whether every figure of ``_vector_search`` stays exact in numpy: int64 products and sums,
    and optimistic figures in float64 (53 bits), with room to spare. Unusual point values can
    make the weights' common denominator, and so the integer weights, very large."""
    weight = max((abs(group.weights[i]) for i in c.lines), default=0)
    amount = max((group.by_index_units[i] for i in c.lines), default=0)
    value = units(c.effect.value or Decimal(0), group.quantum)
    return max(weight, 1) * max(amount, value, 1) * len(c.lines) < 1 << 50 and value * amount < 1 << 62


def _conditioning(group: Group) -> Candidate | None:
    """The ``discount_amount`` campaign on most lines (amounts in whole minor units), when the
    other campaigns of the group have at most ``MAX_OTHER_PLACEMENTS`` placements together; else
    None."""
    campaigns = group.campaigns
    amounts = [
        c
        for c in campaigns
        if c.effect.type == "discount_amount"
        and group.amounts_exact
        and c.effect.value is not None
        and c.effect.value % group.quantum == 0
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
    group: Group,
    big: Candidate,
    most_off: int,
    greedy: tuple[int, int, dict[str, tuple[int, ...]]],
    search: Search,
) -> tuple[int, int, dict[str, tuple[int, ...]]]:
    """Every placement of the small campaigns of the group, each with the best subset of the big
    one's lines under it: exact, since together they are every placement. Every subset is scored
    in numpy up to ``MAX_VECTOR_LINES`` lines (``_vector_search``); beyond, or where numpy's
    integers could overflow, the subsets are searched by branch and bound (``amounts``).

    The placements are tried from the most promising down, and one is skipped when even an
    optimistic figure for the big campaign under it (each of its open lines gaining at most what
    its whole amount off would give it, and the campaign at most ``most_off`` at the best weight)
    cannot beat the best found."""
    lv = group.line_value
    touched = sorted({i for c in group.campaigns for i in c.lines})
    others = [c for c in group.campaigns if c is not big]
    big_blocks = big.stacking != "stackable"
    big_cap = most_off * _slope(big, group.weights)
    choices = [
        [subset for r in range(len(c.lines), -1, -1) for subset in itertools.combinations(c.lines, r)]
        for c in others
    ]
    options = []
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
        base = sum(lv(i, extra[i], i in taken) for i in touched)
        most = sum(
            max(
                0,
                lv(i, extra[i] + group.by_index_units[i], big_blocks or i in taken)
                - lv(i, extra[i], i in taken),
            )
            for i in big.lines
            if not (big_blocks and i in taken)
        )
        options.append((base + min(most, big_cap), priority, base, combo, extra, taken))
    options.sort(key=lambda o: (-o[0], -o[1]))
    # every subset scored in numpy on few lines; a branch and bound on more
    scored = len(big.lines) <= MAX_VECTOR_LINES and _fits_numpy(group, big)
    assert big.effect.value is not None
    value = units(big.effect.value, group.quantum)
    best = greedy
    for optimistic, priority, base, combo, extra, taken in options:
        if optimistic < best[0]:
            break  # sorted: no placement left can beat the best found
        if optimistic == best[0] and priority + max(0, big.priority) <= best[1]:
            continue  # can only tie it, and not at a higher priority
        if search_clock() > search.deadline:
            search.exhausted = True
            return best
        beat = (best[0] - base, best[1] - priority)  # what the big campaign must add to win
        if scored:
            found = _vector_search(group, big, extra, taken, beat)
            search.leaves += 1
        else:
            found = amounts.best_subset(
                _amount_lines(group, big, extra, taken), value, big.priority, search, beat
            )
        if found is None:
            continue  # nothing under this placement beats the best found
        gain, big_priority, subset = found
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
    group: Group,
    c: Candidate,
    extra: Mapping[int, int],
    taken: set[int],
    beat: tuple[int, int],
) -> tuple[int, int, tuple[int, ...]] | None:
    """The best subset of a ``discount_amount`` campaign's lines, with the rest of the group fixed
    (``extra`` money off and ``taken`` lines): its gain over the lines as they are, its priority
    (if applied) and the subset. Ties go to the higher priority, then to the fuller subset. None
    when no subset (the empty one, gain 0, included) does better than ``beat`` (gain, priority).

    With numpy, every subset first gets an optimistic gain (each line's share rounded down, plus
    the units left over, each worth the subset's best weight). The most promising ones are then evaluated exactly, which
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
    value = units(c.effect.value, group.quantum)
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

    def gains(m: np.ndarray, off: np.ndarray) -> np.ndarray:
        """What the lines' value gains, per subset (rows of ``m``), from ``off`` money off each line."""
        after = np.minimum(amount[None, :], after_base[None, :] + off)
        return (weight[None, :] * (after - now[None, :]) * m).sum(axis=1)

    def exact(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = member[rows]
        part = total[rows][:, None] * (m * amount[None, :])
        divisor = np.maximum(whole[rows], 1)[:, None]
        floors, remainders = part // divisor, part % divisor
        leftover = total[rows] - floors.sum(axis=1)
        order = np.argsort(-remainders, axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(np.arange(n), order.shape), axis=1)
        off = floors + (rank < leftover[:, None])
        return gains(m, off), np.where(off.sum(axis=1) > 0, c.priority, 0), m.sum(axis=1)

    # optimistic: every line's floor of its share, plus the units the floors leave over (at most
    # one more per line) each worth the best positive weight in the subset. In floating point,
    # three times faster than integer division; a floor one too low (the 1e-6 makes sure it is
    # never one too high) only moves a unit from its line to the leftover, which is worth more.
    rate = total / np.maximum(whole, 1)
    floors = np.floor(rate[:, None] * amount[None, :] - 1e-6) * member
    leftover = total - floors.sum(axis=1)
    optimistic = gains(member, floors) + leftover * (member * np.maximum(weight, 0)[None, :]).max(axis=1)

    empty = (0, 0, ()) if beat < (0, 0) else None
    if (float(optimistic.max()), max(c.priority, 0)) <= beat:
        return empty  # no subset can do better
    first = np.argpartition(-optimistic, 63)[:64] if optimistic.size > 64 else np.arange(optimistic.size)
    bar = max(0, int(exact(first)[0].max()))
    rows = np.flatnonzero(optimistic >= bar)
    if rows.size == 0:
        return empty  # nothing gains
    gain, applied, size = exact(rows)
    pick = int(np.lexsort((size, applied, gain))[-1])
    if (int(gain[pick]), int(applied[pick])) < (0, 0):
        return empty
    subset = tuple(i for i, bit in zip(lines, member[rows[pick]], strict=True) if bit)
    found = (int(gain[pick]), int(applied[pick]), subset)
    if found[:2] <= beat:
        return None
    assert found[0] == sum(
        lv(i, extra[i] + d, blocks or i in taken) - lv(i, extra[i], i in taken)
        for i, d in group.money_off(c, subset).items()
    ), "the vectorised figures must agree with line_value"
    return found


def _amount_lines(
    group: Group, c: Candidate, extra: Mapping[int, int], taken: set[int]
) -> amounts.AmountLines:
    """The figures of ``_vector_search``, per line, in Python integers."""
    blocks = c.stacking != "stackable"
    found = amounts.AmountLines([], [], [], [], [])
    for i in c.lines:
        if blocks and i in taken:
            continue  # a line takes one line campaign
        amount, weight, own = group.by_index_units[i], group.weights[i], extra[i]
        if weight > 0:
            kept = 0 if i in taken else group.best_line_off[i]
            before = min(amount, own + group.stacked[i] + kept)
            after = min(amount, own + group.stacked[i] + (0 if blocks else kept))
        else:
            before = after = min(amount, own)
        found.lines.append(i)
        found.amount.append(amount)
        found.weight.append(weight)
        found.fixed.append(weight * (after - before))
        found.room.append(amount - after)
    return found


def best_group(look: Look, search: Search, hopeless: bool) -> tuple[int, int, dict[str, tuple[int, ...]]]:
    """The best placements of a group of coupled campaigns.

    First a greedy placement (``_greedy``) and a ceiling on what any placement can be worth
    (``_ceiling``). When the greedy placement reaches the ceiling, its value is proven best
    without any enumeration: the usual case, even for a campaign on the whole basket. It is the
    answer when every campaign of positive priority is in it too, or when the subsets are too
    many to search for a placement of equal value and higher priority (so with a campaign on more
    than ``MAX_SUBSET_LINES`` lines, the priority tie-break is the greedy's, while the value is
    still proven).

    Otherwise the group is searched: under each placement of its other campaigns when it has a
    ``discount_amount`` whose best subset is found under each (``_conditioned``); over every
    subset when it is one campaign (``_best_single``); else by depth-first branch and bound over
    each campaign's subsets of lines, larger first (so ties keep the fullest), from the greedy
    placement, a branch cut when even its optimistic bound cannot beat the best found. That bound
    is sound: a line's value only grows with its discounts (when ``w > 0``), each undecided
    campaign adds at most the largest discount any of its subsets puts on that line, and a line
    takes at most one more ``line`` campaign. When time runs out, the best placement found is the
    answer, not proven."""
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
        return _conditioned(group, look.conditioned, most_off[look.conditioned.id], greedy, search)
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
                if generated % 256 == 0 and search_clock() > search.deadline:
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
        if search.leaves % 256 == 0 and search_clock() > search.deadline:
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
