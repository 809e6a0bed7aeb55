"""Which lots pay for which basket lines when a customer spends points.

The contract fixes three things, and this module implements exactly those:

* the spending order (spending_order): lots tied to particular goods first, then the rest by
  soonest expiry, so points that would otherwise be lost go first;
* how much each lot spends: a requested amount is always met when any assignment of lots to
  lines allows it, and "max" spends the most any assignment allows (both are max-flow
  questions: lots -> lines, lot capacity = remaining points, line capacity = cap);
* how a lot's points spread over the lines it may pay for: in proportion to each line's amount
  after discounts, within the lines' remaining caps, rounded by largest remainder.

Per-lot totals: with F_i the most lots 1..i (in spending order) can spend together and T the
target, lot i spends min(T, F_i) - min(T, F_{i-1}). Achievable per-lot totals form a polymatroid,
so this greedy vector is the lexicographically largest (earliest lots as full as possible) among
all assignments that spend exactly T.

Per-lot spread: the proportional spread is "water-filling" (every line gets the same points per
unit of amount, lines that hit their cap stay at it and the rest is shared by the others),
rounded by largest remainder with ties to the earlier line. That spread can take room on a line
that a later lot needs (a later lot tied to fewer lines). Only then the lot falls back to the
spread that is as proportional as the later lots allow: the common level is raised for all
lines, and a group of lines stops rising as soon as it holds all the room the later lots can
spare on it (progressive filling over the feasible set, exact fractions; it minimises
sum(points**2 / amount), which is the plain water-filling when nothing is in the way). It is
rounded by largest remainder too, skipping any unit that would starve a later lot. Both cases
are one rule: the fallback returns the normal spread whenever the normal spread keeps every
later lot whole.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from math import floor, lcm
from typing import Literal

from patron.money import integer_weights, split_ints

__all__ = [
    "Allocation",
    "InsufficientPoints",
    "SpendLine",
    "SpendLot",
    "allocate",
    "allocations_by_line",
    "max_spendable",
    "spending_order",
]


@dataclass(frozen=True, slots=True)
class SpendLine:
    """A basket line points may pay for.

    ``amount`` is the line amount after discounts (the weight of the spread) and ``cap`` the most
    points it may take. A line with amount 0 must have cap 0, as the contract's cap rule gives.
    """

    index: int
    amount: Decimal
    cap: int


@dataclass(frozen=True, slots=True)
class SpendLot:
    """Unspent points of one lot; ``eligible_lines`` are the basket indexes it may pay for."""

    id: str
    remaining: int
    expires_at: datetime
    restricted: bool
    eligible_lines: frozenset[int]


@dataclass(frozen=True, slots=True)
class Allocation:
    """``points`` of lot ``lot_id`` pay for basket line ``line``."""

    lot_id: str
    line: int
    points: int


class InsufficientPoints(Exception):
    """A numeric request exceeds what any assignment of the lots to the lines can spend."""

    def __init__(self, requested: int, available: int) -> None:
        super().__init__(f"{requested} points requested, at most {available} can be spent on these lines")
        self.requested = requested
        self.available = available


# --- max flow -----------------------------------------------------------------------------------

_SOURCE = 0
_SINK = 1


class _Flow:
    """Dinic's max flow on flat edge arrays (edge e's reverse is e ^ 1); small and allocation-light."""

    __slots__ = ("adj", "cap", "to")

    def __init__(self, nodes: int) -> None:
        self.adj: list[list[int]] = [[] for _ in range(nodes)]
        self.to: list[int] = []
        self.cap: list[int] = []

    def add_edge(self, u: int, v: int, capacity: int) -> None:
        e = len(self.to)
        self.to += (v, u)
        self.cap += (capacity, 0)
        self.adj[u].append(e)
        self.adj[v].append(e + 1)

    def _levels(self) -> list[int]:
        level = [-1] * len(self.adj)
        level[_SOURCE] = 0
        queue = deque((_SOURCE,))
        to, cap, adj = self.to, self.cap, self.adj
        while queue:
            u = queue.popleft()
            for e in adj[u]:
                v = to[e]
                if cap[e] > 0 and level[v] < 0:
                    level[v] = level[u] + 1
                    queue.append(v)
        return level

    def _push(self, u: int, limit: int, level: list[int], ptr: list[int]) -> int:
        if u == _SINK:
            return limit
        to, cap, edges = self.to, self.cap, self.adj[u]
        sent = 0
        while ptr[u] < len(edges):
            e = edges[ptr[u]]
            v = to[e]
            if cap[e] > 0 and level[v] == level[u] + 1:
                want = min(limit - sent, cap[e])
                got = self._push(v, want, level, ptr)
                if got:
                    cap[e] -= got
                    cap[e ^ 1] += got
                    sent += got
                    if sent == limit:
                        return sent
                if got < want:
                    ptr[u] += 1
            else:
                ptr[u] += 1
        return sent

    def max_flow(self, bound: int) -> int:
        """Augment from the current flow to a maximum one; returns the flow added (at most bound)."""
        total = 0
        while total < bound:
            level = self._levels()
            if level[_SINK] < 0:
                break
            pushed = self._push(_SOURCE, bound - total, level, [0] * len(self.adj))
            if not pushed:
                break
            total += pushed
        return total

    def reachable(self) -> list[bool]:
        """Nodes reachable from the source in the residual graph: the source side of a min cut."""
        return [lv >= 0 for lv in self._levels()]


def _network(caps: Mapping[int, int], lots: int) -> tuple[_Flow, dict[int, int]]:
    """Source, sink, one node per line (edge to the sink = cap), room for ``lots`` lot nodes."""
    flow = _Flow(2 + len(caps) + lots)
    node = {}
    for i, (line, cap) in enumerate(caps.items()):
        node[line] = 2 + i
        flow.add_edge(2 + i, _SINK, cap)
    return flow, node


def _add_lot(
    flow: _Flow, node: Mapping[int, int], lot_node: int, points: int, lines: Iterable[int], big: int
) -> None:
    flow.add_edge(_SOURCE, lot_node, points)
    for line in lines:
        flow.add_edge(lot_node, node[line], big)


# --- validation and shared helpers --------------------------------------------------------------

_Need = tuple[int, frozenset[int]]  # (points, lines it may go to)


def _line_caps(lines: Iterable[SpendLine]) -> tuple[dict[int, int], dict[int, int]]:
    """Caps and integer weights of the lines that can take points, keyed and ordered by index."""
    seen: set[int] = set()
    usable: list[SpendLine] = []
    for line in lines:
        if line.index in seen:
            raise ValueError(f"line index {line.index} appears twice")
        seen.add(line.index)
        if not line.amount.is_finite() or line.amount < 0:
            raise ValueError(f"line {line.index}: amount must be a finite non-negative Decimal")
        if line.cap < 0:
            raise ValueError(f"line {line.index}: cap must not be negative")
        if line.cap and not line.amount:
            raise ValueError(f"line {line.index}: a line with amount 0 cannot take points")
        if line.cap:
            usable.append(line)
    usable.sort(key=lambda line: line.index)
    weights = integer_weights([line.amount for line in usable])
    return {line.index: line.cap for line in usable}, {
        line.index: w for line, w in zip(usable, weights, strict=True)
    }


def _check_lots(lots: Iterable[SpendLot]) -> None:
    seen: set[str] = set()
    for lot in lots:
        if lot.id in seen:
            raise ValueError(f"lot {lot.id!r} appears twice")
        seen.add(lot.id)
        if lot.remaining < 0:
            raise ValueError(f"lot {lot.id!r}: remaining must not be negative")


def _flow_value(caps: Mapping[int, int], needs: Sequence[_Need]) -> int:
    """Most points the needs can place on lines with these caps (needs' line sets already filtered)."""
    needs = _merged((points, lines) for points, lines in needs if points and lines)
    if not needs:
        return 0
    first = needs[0][1]
    if all(lines == first for _, lines in needs):
        return min(sum(points for points, _ in needs), sum(caps[line] for line in first))
    flow, node = _network(caps, len(needs))
    big = sum(caps.values()) + 1
    for i, (points, lines) in enumerate(needs):
        _add_lot(flow, node, 2 + len(caps) + i, points, lines, big)
    return flow.max_flow(sum(points for points, _ in needs))


def _merged(needs: Iterable[_Need]) -> list[_Need]:
    """Needs that may go to the same lines, as one: the same for any flow (such lots are
    interchangeable in the network), and a member's many lots are mostly of a few kinds (all
    unrestricted lots may pay for the same lines), so the networks stay small however many lots."""
    by_lines: dict[frozenset[int], int] = {}
    for points, lines in needs:
        if points:
            key = frozenset(lines)  # a no-op for a frozenset
            by_lines[key] = by_lines.get(key, 0) + points
    return [(points, lines) for lines, points in by_lines.items()]


def _fits(needs: Sequence[_Need], room: Mapping[int, int]) -> bool:
    """Can every need be placed in full on the room left on the lines?"""
    open_lines = {line for line, r in room.items() if r > 0}
    filtered = []
    for points, lines in needs:
        if points:
            usable = lines & open_lines
            if not usable:
                return False
            filtered.append((points, frozenset(usable)))
    return _flow_value({line: room[line] for line in sorted(open_lines)}, filtered) == sum(
        points for points, _ in filtered
    )


# --- public: order and feasibility --------------------------------------------------------------


def spending_order(lots: Iterable[SpendLot]) -> list[SpendLot]:
    """Restricted lots first, then the others; soonest expiry first in each group; ties by id, in
    the order of the numbers lot ids are ("996" before "1001"), as debits take them."""
    return sorted(lots, key=lambda lot: (not lot.restricted, lot.expires_at, len(lot.id), lot.id))


def max_spendable(lines: Sequence[SpendLine], lots: Sequence[SpendLot]) -> int:
    """Most points any assignment of lots to eligible lines can spend (a max flow)."""
    caps, _ = _line_caps(lines)
    _check_lots(lots)
    return _flow_value(caps, [(lot.remaining, lot.eligible_lines & caps.keys()) for lot in lots])


def _lot_totals(caps: Mapping[int, int], needs: Sequence[_Need], target: int | None) -> list[int]:
    """Per-lot totals min(T, F_i) - min(T, F_{i-1}) over prefixes in spending order.

    ``target`` None means "max" (T = F_n). Raises InsufficientPoints when F_n < target.
    """
    totals = [0] * len(needs)
    first = next((lines for points, lines in needs if points and lines), None)
    uniform = all(lines == first for points, lines in needs if points and lines)
    if uniform:
        room = sum(caps[line] for line in first) if first else 0
    else:
        # one node per set of lines, not per lot (``_merged``): adding a lot raises its node's
        # supply, and the flow is augmented from where it stands
        kinds = {lines for points, lines in needs if points and lines}
        flow, node = _network(caps, len(kinds))
        big = sum(caps.values()) + 1
        supply: dict[frozenset[int], int] = {}
    placed = 0  # F_i, truncated at the target
    for i, (points, lines) in enumerate(needs):
        if target is not None and placed >= target:
            break
        if not points or not lines:
            continue
        want = points if target is None else min(points, target - placed)
        if uniform:
            gained = min(want, room - placed)
        else:
            if lines not in supply:
                supply[lines] = len(flow.to)  # the edge from the source that _add_lot adds first
                _add_lot(flow, node, 2 + len(caps) + len(supply) - 1, 0, lines, big)
            flow.cap[supply[lines]] += want
            gained = flow.max_flow(want)
        totals[i] = gained
        placed += gained
    if target is not None and placed < target:
        raise InsufficientPoints(target, placed)
    return totals


# --- spreading one lot --------------------------------------------------------------------------


def _proportional(
    total: int, lines: Sequence[int], room: Mapping[int, int], weight: Mapping[int, int]
) -> dict[int, int]:
    """Water-filling by weight within ``room``, rounded by largest remainder (ties: earlier line)."""
    full: set[int] = set()
    rest = total
    weight_sum = sum(weight[line] for line in lines)
    for line in sorted(lines, key=lambda line: Fraction(room[line], weight[line])):
        if room[line] * weight_sum > rest * weight[line]:
            break  # this line's share stays below its room, and so do those of all later ones
        full.add(line)
        rest -= room[line]
        weight_sum -= weight[line]
    free = [line for line in lines if line not in full]
    spread = {line: room[line] for line in full}
    spread.update(zip(free, split_ints(rest, [weight[line] for line in free]), strict=True))
    return spread


def _level(
    lines: Sequence[int], target: Fraction, room: Mapping[int, int], weight: Mapping[int, int]
) -> Fraction:
    """Smallest level L with sum(min(room, L * weight)) == target over ``lines``."""
    rest = target
    weight_sum = sum(weight[line] for line in lines)
    ordered = sorted(lines, key=lambda line: Fraction(room[line], weight[line]))
    for line in ordered:
        if room[line] * weight_sum > rest * weight[line]:
            return rest / weight_sum
        rest -= room[line]
        weight_sum -= weight[line]
    return Fraction(room[ordered[-1]], weight[ordered[-1]]) if ordered else Fraction(0)


def _starved(
    needs: Sequence[_Need], room: Mapping[int, int], taken: Mapping[int, Fraction]
) -> tuple[set[int], int] | None:
    """None if the later needs fit in ``room - taken``; else a min cut: lines U and the points of
    the needs that can only go to U, which exceed the room left on U."""
    caps = {line: room[line] - taken.get(line, Fraction(0)) for line in room}
    scale = lcm(*(c.denominator for c in caps.values()))
    int_caps = {line: int(c * scale) for line, c in caps.items()}
    flow, node = _network(int_caps, len(needs))
    demand = sum(points for points, _ in needs) * scale
    for i, (points, lines) in enumerate(needs):
        _add_lot(flow, node, 2 + len(caps) + i, points * scale, lines, demand + 1)
    if flow.max_flow(demand) == demand:
        return None
    reach = flow.reachable()
    lines_cut = {line for line, n in node.items() if reach[n]}
    stuck = sum(points for i, (points, _) in enumerate(needs) if reach[2 + len(caps) + i])
    return lines_cut, stuck


def _fair_spread(
    total: int,
    lines: Sequence[int],
    room: Mapping[int, int],
    weight: Mapping[int, int],
    later: Sequence[_Need],
) -> dict[int, int]:
    """The spread as proportional as the later lots allow (progressive filling, see module doc)."""
    frozen: dict[int, Fraction] = {}
    free = list(lines)
    while True:
        level = _level(free, Fraction(total) - sum(frozen.values(), Fraction(0)), room, weight)
        tight: list[int] | None = None
        while True:  # Newton steps down to the highest level the later lots allow
            share = dict(frozen)
            share.update((line, min(Fraction(room[line]), level * weight[line])) for line in free)
            cut = _starved(later, room, share)
            if cut is None:
                break
            cut_lines, stuck = cut
            tight = [line for line in free if line in cut_lines]
            if not tight:
                raise AssertionError("lots already placed starve a later lot")
            allowed = Fraction(sum(room[line] for line in cut_lines) - stuck)
            allowed -= sum((v for line, v in frozen.items() if line in cut_lines), Fraction(0))
            level = _level(tight, allowed, room, weight)
        if tight is None:
            break
        frozen.update((line, share[line]) for line in tight)
        free = [line for line in free if line not in tight]

    # Largest remainder, ties to the earlier line, skipping units that would starve a later lot.
    # The units that may be added on top of the floors form a matroid, so this greedy always
    # completes; try the unchecked choice first, as it is nearly always the answer.
    spread = {line: floor(share[line]) for line in lines}
    short = total - sum(spread.values())
    by_remainder = sorted(lines, key=lambda line: (spread[line] - share[line], line))
    candidates = [line for line in by_remainder if share[line] != spread[line]]
    plain = dict(spread)
    for line in candidates[:short]:
        plain[line] += 1
    if _fits(later, {m: room[m] - plain.get(m, 0) for m in room}):
        return plain
    contested = set().union(*(lines_ for _, lines_ in later))
    for line in candidates:
        if not short:
            break
        spread[line] += 1
        if line not in contested or _fits(later, {m: room[m] - spread.get(m, 0) for m in room}):
            short -= 1
        else:
            spread[line] -= 1
    if short:
        raise AssertionError("no rounding keeps the later lots whole")
    return spread


# --- public: allocation -------------------------------------------------------------------------


def allocate(
    lines: Sequence[SpendLine], lots: Sequence[SpendLot], requested: int | Literal["max"]
) -> list[Allocation]:
    """Spend ``requested`` points (or the most possible for "max") from ``lots`` over ``lines``.

    Lots are used in spending order, each as fully as the target allows without making it
    unreachable for the later lots; each lot's points are spread over its lines as described in
    the module docstring. Allocations come in spending order, then line order, zeros omitted.
    """
    caps, weight = _line_caps(lines)
    _check_lots(lots)
    if requested == "max":
        target = None
    elif isinstance(requested, int) and not isinstance(requested, bool) and requested >= 0:
        target = requested
    else:
        raise ValueError(f"requested must be a non-negative int or 'max', got {requested!r}")
    ordered = spending_order(lots)
    needs = [(lot.remaining, frozenset(lot.eligible_lines & caps.keys())) for lot in ordered]
    totals = _lot_totals(caps, needs, target)

    room = dict(caps)
    result: list[Allocation] = []
    # what the lots after the current one spend, by the lines they may take (``_merged``)
    still_to_come = {
        lines: points for points, lines in _merged(zip(totals, [n[1] for n in needs], strict=True))
    }
    for i, lot in enumerate(ordered):
        total = totals[i]
        if not total:
            continue
        still_to_come[needs[i][1]] -= total
        targets = [line for line in room if line in needs[i][1] and room[line] > 0]
        later = [(points, lines) for lines, points in still_to_come.items() if points]
        spread = _proportional(total, targets, room, weight)
        if later and not _fits(later, {line: room[line] - spread.get(line, 0) for line in room}):
            spread = _fair_spread(total, targets, room, weight, later)
        for line in targets:
            points = spread[line]
            if points:
                room[line] -= points
                result.append(Allocation(lot.id, line, points))
    return result


def allocations_by_line(allocs: Iterable[Allocation]) -> dict[int, int]:
    """Points per basket line over all allocations, in line order."""
    per_line: dict[int, int] = {}
    for alloc in allocs:
        per_line[alloc.line] = per_line.get(alloc.line, 0) + alloc.points
    return dict(sorted(per_line.items()))
