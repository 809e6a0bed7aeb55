"""The optimizer against a brute force over every placement the stacking rules allow."""

from __future__ import annotations

import itertools
from decimal import Decimal

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from patron.campaigns.model import Effect
from patron.campaigns.optimizer import Candidate, Deal, Line, Settings, best_deal, evaluate

QUANTUM = Decimal("0.01")


def brute_force(lines: list[Line], candidates: list[Candidate], s: Settings) -> Deal:
    best: Deal | None = None

    def consider(placement: dict[str, tuple[int, ...]], exclusive: str | None) -> None:
        nonlocal best
        try:
            deal = evaluate(lines, candidates, placement, s, exclusive)
        except ValueError:
            return
        if exclusive is not None and deal.exclusive and exclusive not in deal.applied:
            return  # an exclusive campaign that gives nothing is not applied
        if best is None or (deal.value, deal.priority) > (best.value, best.priority):
            best = deal

    def subsets(c: Candidate) -> list[tuple[int, ...]]:
        return [sub for r in range(len(c.lines) + 1) for sub in itertools.combinations(c.lines, r)]

    discounts = [c for c in candidates if c.is_discount and c.stacking != "exclusive"]
    for combo in itertools.product(*[subsets(c) for c in discounts]):
        consider({c.id: sub for c, sub in zip(discounts, combo, strict=True)}, None)
    for e in (c for c in candidates if c.stacking == "exclusive"):
        if e.is_discount:
            for sub in subsets(e):
                consider({e.id: sub}, e.id)
        else:
            consider({}, e.id)
    assert best is not None
    return best


prices = st.sampled_from(["0.99", "5.00", "9.99", "10.00", "25.50", "100.00", "3.33"]).map(Decimal)
effects = st.one_of(
    st.builds(
        lambda v: Effect(type="discount_percent", value=Decimal(v)), st.sampled_from([5, 10, 15, 20, 50, 100])
    ),
    st.builds(
        lambda v: Effect(type="discount_amount", value=Decimal(v)),
        st.sampled_from(["1.00", "5.00", "7.77", "30.00"]),
    ),
    st.builds(
        lambda v: Effect(type="fixed_price", value=Decimal(v)), st.sampled_from(["0.00", "4.99", "9.00"])
    ),
    st.builds(
        lambda b, g, p: Effect(type="buy_x_get_y", buy=b, get=g, percent=Decimal(p)),
        st.integers(1, 3),
        st.integers(1, 2),
        st.sampled_from([50, 100]),
    ),
    st.builds(lambda v: Effect(type="points_percent", value=Decimal(v)), st.sampled_from([1, 5, 20])),
    st.builds(
        lambda v: Effect(type="points_multiplier", value=Decimal(v)), st.sampled_from(["2", "3", "0.5"])
    ),
    st.builds(lambda v: Effect(type="points_fixed", value=Decimal(v)), st.sampled_from([10, 100])),
)


@st.composite
def problems(draw: st.DrawFn) -> tuple[list[Line], list[Candidate], Settings]:
    n = draw(st.integers(1, 4))
    lines = [Line(i + 1, draw(prices), draw(st.integers(1, 3))) for i in range(n)]
    candidates = []
    for k in range(draw(st.integers(1, 4))):
        qualifying = draw(
            st.lists(st.sampled_from([line.index for line in lines]), min_size=1, max_size=3, unique=True)
        )
        candidates.append(
            Candidate(
                id=f"c{k}",
                priority=draw(st.integers(0, 3)),
                stacking=draw(st.sampled_from(["line", "line", "stackable", "exclusive"])),
                effect=draw(effects),
                lines=tuple(sorted(qualifying)),
            )
        )
    s = Settings(
        base_rate=draw(st.sampled_from([Decimal(0), Decimal(5), Decimal("7.5")])),
        point_value=draw(st.sampled_from([Decimal("1.00"), Decimal("0.10"), Decimal("5.00")])),
        quantum=QUANTUM,
    )
    return lines, candidates, s


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_the_optimizer_finds_the_brute_force_value(
    problem: tuple[list[Line], list[Candidate], Settings],
) -> None:
    lines, candidates, s = problem
    deal = best_deal(lines, candidates, s)
    oracle = brute_force(lines, candidates, s)
    assert deal.optimal
    assert deal.value == oracle.value
    for index, parts in deal.discounts.items():
        line = next(line for line in lines if line.index == index)
        assert sum(d for _, d in parts) <= line.amount
