"""The best subset of lines for one ``discount_amount`` campaign, the rest of its group fixed:
an exact branch and bound over the subsets' totals. Pure; integers only.

The amount ``V`` is split over the lines it is placed on in proportion to their amounts (largest
remainder, ties to the earlier line), never more than their total; a line gains
``fixed + weight * min(room, share)`` (``AmountLines``). ``groups`` builds those figures from a
group under one placement of its other campaigns, and calls ``best_subset`` when the lines are too
many to score every subset with numpy.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from patron.campaigns.deal import Search, search_clock
from patron.money import split_ints

WINDOW_SHARE = 16  # windows of subset totals are searched once narrower than 1/16 of their low end


@dataclass(slots=True)
class AmountLines:
    """A ``discount_amount`` campaign's open lines, with the rest of the group fixed: a line gains
    ``fixed + weight * min(room, share)`` from a share of the amount (``fixed`` <= 0 is what it
    loses by giving up its ``line`` discount, when the campaign is a ``line`` one)."""

    lines: list[int]
    amount: list[int]
    weight: list[int]
    fixed: list[int]
    room: list[int]


def best_subset(
    data: AmountLines, value: int, applied: int, search: Search, beat: tuple[int, int]
) -> tuple[int, int, tuple[int, ...]] | None:
    """The best subset of the lines of a ``discount_amount`` worth ``value`` (minor units), with
    ``applied`` its priority: (gain, priority if applied, subset), as ``groups._vector_search``
    answers it, but for more lines than every subset can be scored: by branch and bound, in two
    parts.

    Subsets whose amount ``A`` is at most the campaign's value ``V`` each get their whole amount
    off: a line's gain does not depend on the others, so this part is a knapsack (capacity ``V``).

    Subsets with ``A > V`` share exactly ``V``; each line gets at least the floor of its share at
    the largest ``A`` considered. With ``W`` the best weight, ``W * V`` less what every line costs
    (``W`` times its share less what that share is worth on it: a lower weight, or no room left)
    is a ceiling for a subset. The range of ``A`` is cut into windows, most promising first and
    halved while wide, and each narrow window is searched as a covering problem: the lines that
    reach ``A`` at least the window's low end at least cost. Every subset reached is evaluated
    exactly (``split_ints``). Ties keep the first found. When time runs out the best found is
    returned and ``search.exhausted`` set.

    Only a subset that does better than ``beat`` (gain, priority) is of interest: the answer is
    None when none does (the empty subset, gain 0, counts as one)."""
    n = len(data.lines)
    best: list[tuple[int, int, tuple[int, ...] | None]] = [(0, 0, ()) if beat < (0, 0) else (*beat, None)]
    if n == 0 or value <= 0:
        return _found(best[0])
    visits = [0]

    def out_of_time() -> bool:
        visits[0] += 1
        if visits[0] % 128 == 0 and search_clock() > search.deadline:
            search.exhausted = True
        return search.exhausted

    def consider(gain: int, chosen: list[int]) -> None:
        if (gain, applied) > best[0][:2]:
            best[0] = (gain, applied, tuple(data.lines[k] for k in sorted(chosen)))

    def exact(chosen: list[int]) -> int:
        ordered = sorted(chosen)  # split_ints gives ties to the earlier line
        shares = split_ints(
            min(value, sum(data.amount[k] for k in ordered)), [data.amount[k] for k in ordered]
        )
        return sum(
            data.fixed[k] + data.weight[k] * min(data.room[k], share)
            for k, share in zip(ordered, shares, strict=True)
        )

    # --- A <= V: every line gets its whole amount; a knapsack -----------------------------------
    whole = [data.fixed[k] + data.weight[k] * min(data.room[k], data.amount[k]) for k in range(n)]
    # neighbouring lines alike in every figure are interchangeable (``split_ints`` breaks ties by
    # position, so lines apart are not): a subset takes the first ones of a run of them
    alike: list[tuple[int, int, int, int, int]] = []
    for k in range(n):
        figures = (data.amount[k], data.weight[k], data.fixed[k], data.room[k])
        run = len(alike) if not alike or alike[-1][1:] != figures else alike[-1][0]
        alike.append((run, *figures))
    items = sorted(  # a line that gains nothing still counts, for a campaign's priority
        (k for k in range(n) if whole[k] >= 0 and 0 < data.amount[k] <= value),
        key=lambda k: (-whole[k] / data.amount[k], alike[k], k),
    )

    def fill(start: int, capacity: int) -> int:
        """The most that items from ``start`` on can add within ``capacity``, fractions allowed."""
        total = 0
        for k in items[start:]:
            if data.amount[k] <= capacity:
                total += whole[k]
                capacity -= data.amount[k]
            else:
                return total + -(-whole[k] * capacity // data.amount[k])
        return total

    def knapsack(start: int, capacity: int, gain: int, chosen: list[int]) -> None:
        """Every subset that adds items from ``start`` on to ``chosen``, while one could win."""
        for pos in range(start, len(items)):
            if out_of_time() or (gain + fill(pos, capacity), applied) <= best[0][:2]:
                return  # the items are by value per unit amount: later ones add no more
            k = items[pos]
            if pos > start and alike[k] == alike[items[pos - 1]]:
                continue  # the same subset as with the line before, which was tried
            if data.amount[k] <= capacity:
                chosen.append(k)
                consider(gain + whole[k], chosen)
                knapsack(pos + 1, capacity - data.amount[k], gain + whole[k], chosen)
                chosen.pop()

    knapsack(0, value, 0, [])

    # --- A > V: windows of A ----------------------------------------------------------------------
    top = max(0, *data.weight)
    everything = sum(data.amount)
    useful = [k for k in range(n) if data.amount[k] > 0]

    def costs(high: int) -> list[int]:
        """What each line costs against ``top * value``, when the subset's amount is at most ``high``."""
        found = []
        for k in range(n):
            floor = value * data.amount[k] // high
            kept = min(data.room[k], floor)
            found.append(top * floor - data.weight[k] * kept - data.fixed[k])
        return found

    def ceiling(low: int, high: int) -> tuple[int, list[int], list[int]]:
        cost = costs(high)
        order = sorted(useful, key=lambda k: (cost[k] / data.amount[k], alike[k], k))
        need, least = low, 0
        for k in order:
            if data.amount[k] >= need:
                least += cost[k] * need // data.amount[k]
                return top * value - least, cost, order
            least += cost[k]
            need -= data.amount[k]
        return -1 << 62, cost, order  # no subset reaches ``low``

    def cover(order: list[int], cost: list[int], low: int, high: int) -> None:
        rest = [0] * (len(order) + 1)  # the amount of the lines from each position on
        for pos in range(len(order) - 1, -1, -1):
            rest[pos] = rest[pos + 1] + data.amount[order[pos]]

        def least(start: int, need: int) -> int:
            if need <= 0:
                return 0
            total = 0
            for k in order[start:]:
                if data.amount[k] >= need:
                    return total + cost[k] * need // data.amount[k]
                total += cost[k]
                need -= data.amount[k]
            return total

        def visit(start: int, amount: int, spent: int, chosen: list[int]) -> None:
            """Every subset that adds lines from ``start`` on to ``chosen``, while one could win."""
            for pos in range(start, len(order)):
                if out_of_time() or amount + rest[pos] < low:
                    return
                if (top * value - spent - least(pos, max(0, low - amount)), applied) <= best[0][:2]:
                    return  # the lines are by cost per unit amount: later ones cost no less
                k = order[pos]
                if amount + data.amount[k] > high or (pos > start and alike[k] == alike[order[pos - 1]]):
                    continue
                chosen.append(k)
                if amount + data.amount[k] >= low:
                    consider(exact(chosen), chosen)
                visit(pos + 1, amount + data.amount[k], spent + cost[k], chosen)
                chosen.pop()

        visit(0, 0, 0, [])

    # windows of A, most promising first: (-ceiling, low, high, costs, lines by cost per amount)
    windows: list[tuple[int, int, int, list[int], list[int]]] = []

    def add_window(low: int, high: int) -> None:
        bound, cost, order = ceiling(low, high)
        if (bound, applied) > best[0][:2]:
            heapq.heappush(windows, (-bound, low, high, cost, order))

    if everything > value:
        add_window(value + 1, everything)
    while windows and not search.exhausted:
        bound, low, high, cost, order = heapq.heappop(windows)
        if (-bound, applied) <= best[0][:2]:
            continue
        if high - low > low // WINDOW_SHARE:
            middle = (low + high) // 2
            add_window(low, middle)
            add_window(middle + 1, high)
        else:
            cover(order, cost, low, high)
    search.leaves += visits[0]
    return _found(best[0])


def _found(best: tuple[int, int, tuple[int, ...] | None]) -> tuple[int, int, tuple[int, ...]] | None:
    gain, priority, subset = best
    return None if subset is None else (gain, priority, subset)
