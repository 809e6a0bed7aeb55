"""The best-deal optimizer on its own: 100 active campaigns of every kind, 20-line baskets.

Reports the time per basket (eligibility and optimization, in-process) and the share of baskets
solved to proven optimality within the time limit, for two catalogs: a realistic one (60
departments, 300 brands: a basket meets a handful of campaigns) and a dense one (12 departments,
40 brands: every basket meets about 60 campaigns, most of them on several of its lines).

With ``--real``: the campaigns of ``checkout.py --campaigns N`` (bench/campaign_mix.py, over the
real catalog) and its real baskets of exactly ``--lines`` lines, each basket once as its
household's member: the same pure code the server runs for a quote's campaigns, timed per basket,
with the reason for every basket not proven optimal.

usage: python bench/optimizer.py [--baskets N]
       python bench/optimizer.py --real [--quick] [--campaigns 100] [--lines 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from patron.campaigns.model import CampaignIn
from patron.campaigns.optimizer import MAX_SUBSET_LINES, SEPARABLE, Line, Settings, best_deal
from patron.campaigns.rules import BasketLine, CampaignSet, Compiled, Context, eligible

KINDS = [
    "discount_percent",
    "discount_amount",
    "fixed_price",
    "buy_x_get_y",
    "points_percent",
    "points_multiplier",
    "points_fixed",
]


def effect(rnd: random.Random, kind: str | None = None) -> dict[str, Any]:
    """A campaign effect of ``kind`` (a random one when None) with a plausible value."""
    kind = kind or rnd.choice(KINDS)
    values = {
        "discount_percent": ["5", "10", "15", "20"],
        "discount_amount": ["1", "2", "5", "10"],
        "fixed_price": ["1", "2", "3"],
        "points_percent": ["2", "5"],
        "points_multiplier": ["2"],
        "points_fixed": ["10", "50"],
    }
    if kind == "buy_x_get_y":
        return {"type": kind, "buy": rnd.choice([1, 2, 3]), "get": 1}
    return {"type": kind, "value": rnd.choice(values[kind])}


def run(departments: int, brands: int, baskets: int, seed: int = 7) -> dict[str, float]:
    rnd = random.Random(seed)
    depts = [f"D{i}" for i in range(departments)]
    makers = [f"B{i}" for i in range(brands)]
    campaigns = []
    for i in range(100):
        condition = rnd.choice(
            [
                f"department = '{rnd.choice(depts)}'",
                f"brand = '{rnd.choice(makers)}'",
                f"department = '{rnd.choice(depts)}' and price >= 2",
            ]
        )
        stacking = rnd.choice(
            ["line", "line", "stackable", "exclusive"] if i % 10 == 0 else ["line", "line", "stackable"]
        )
        definition = CampaignIn.model_validate(
            {
                "name": f"c{i}",
                "condition": condition,
                "effect": effect(rnd),
                "stacking": stacking,
                "priority": rnd.randint(0, 3),
            }
        )
        campaigns.append(Compiled.of(f"c{i}", definition))
    ctx = Context("S1", "Chicago", "US", datetime(2026, 12, 3, 12, tzinfo=UTC), True, "base", None)
    settings = Settings(Decimal(5), Decimal("0.01"), Decimal("0.01"))
    times, optimal, eligible_counts = [], 0, []
    for _ in range(baskets):
        lines = []
        for i in range(20):
            price = Decimal(rnd.randint(50, 2000)) / 100
            attrs = {"department": rnd.choice(depts), "brand": rnd.choice(makers), "price": price}
            lines.append(BasketLine(i + 1, price, 1, attrs))
        start = time.perf_counter()
        candidates = eligible(campaigns, ctx, lines)
        deal = best_deal([Line(ln.index, ln.amount, 1) for ln in lines], candidates, settings)
        times.append(time.perf_counter() - start)
        optimal += deal.optimal
        eligible_counts.append(len(candidates))
    times.sort()
    return {
        "p50_ms": times[len(times) // 2] * 1000,
        "p99_ms": times[int(len(times) * 0.99)] * 1000,
        "max_ms": times[-1] * 1000,
        "optimal_share": optimal / baskets,
        "eligible_mean": sum(eligible_counts) / baskets,
    }


def real(*, campaigns: int, lines: int, seed: int, quick: bool, narrow: bool = False) -> dict[str, Any]:
    """The checkout benchmark's campaigns and baskets, in-process (see the module's docstring)."""
    import baskets as basket_data
    import campaign_mix

    out = Path(__file__).resolve().parent / "out"
    members, count = (300, 2000) if quick else (1000, 6000)
    data = basket_data.load(out, seed=seed, members=members, baskets=count)
    fixed, _ = basket_data.fixed_size(data, lines, seed)
    # the campaigns are drawn from the baskets as the checkout benchmark quotes them (cut or padded
    # to ``lines``), as checkout.py does, so both benchmarks measure the same mix
    data = {**data, "baskets": fixed}
    zone = ZoneInfo("America/Chicago")
    now = datetime.now(zone)
    bodies = campaign_mix.definitions(data, campaigns, seed, now.date(), narrow_coupled=narrow)
    compiled = CampaignSet([Compiled.of(f"c{i}", CampaignIn.model_validate(b)) for i, b in enumerate(bodies)])
    catalog = {p["sku"]: p["attributes"] for p in data["products"]}
    settings = Settings(Decimal(5), Decimal("1.00"), Decimal("0.01"))  # checkout.py's program
    # as a serving process does: what is loaded is left out of later garbage collections, which
    # otherwise scan the basket data and stretch whichever basket is being timed (by up to 150 ms)
    gc.collect()
    gc.freeze()
    times, eligible_ms, eligible_counts, optimal = [], [], [], 0
    reasons: Counter[str] = Counter()
    for basket in fixed:
        ctx = Context(basket["store"], None, "US", now, True, "base", None)
        basket_lines = []
        for i, line in enumerate(basket["lines"], start=1):
            price = Decimal(line["price"])
            attrs = {**catalog.get(line["sku"], {}), "sku": line["sku"], "price": price}
            attrs["quantity"] = line["quantity"]
            basket_lines.append(BasketLine(i, price * line["quantity"], line["quantity"], attrs))
        start = time.perf_counter()
        candidates = eligible(compiled, ctx, basket_lines)
        middle = time.perf_counter()
        lines_in = [
            Line(ln.index, Decimal(basket["lines"][ln.index - 1]["price"]), ln.quantity)
            for ln in basket_lines
        ]
        deal = best_deal(lines_in, candidates, settings)
        times.append(time.perf_counter() - middle)
        eligible_ms.append(middle - start)
        eligible_counts.append(len(candidates))
        optimal += deal.optimal
        if not deal.optimal:
            coupled = [
                c for c in candidates if c.is_discount and c.effect.type not in SEPARABLE and len(c.lines) > 1
            ]
            if any(len(c.lines) > MAX_SUBSET_LINES for c in coupled):
                reasons[f"a coupled campaign on more than {MAX_SUBSET_LINES} lines"] += 1
            else:
                reasons["time limit or group too large"] += 1
    times.sort()
    eligible_ms.sort()
    n = len(fixed)
    return {
        "baskets": n,
        "eligible_mean": round(sum(eligible_counts) / n, 1),
        "eligibility_p50_ms": round(eligible_ms[n // 2] * 1000, 3),
        "optimizer_p50_ms": round(times[n // 2] * 1000, 3),
        "optimizer_p99_ms": round(times[int(n * 0.99)] * 1000, 3),
        "optimizer_max_ms": round(times[-1] * 1000, 1),
        "optimal_share": round(optimal / n, 5),
        "not_optimal_reasons": dict(reasons),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--baskets", type=int, default=2000)
    parser.add_argument("--real", action="store_true", help="checkout.py's campaigns and real baskets")
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="with --real: the quick basket set (2,000)")
    parser.add_argument(
        "--narrow-coupled", action="store_true", help="with --real: see bench/campaign_mix.py"
    )
    args = parser.parse_args()
    if args.real:
        print(
            real(
                campaigns=args.campaigns,
                lines=args.lines,
                seed=args.seed,
                quick=args.quick,
                narrow=args.narrow_coupled,
            )
        )
        return
    for name, departments, brands in (("realistic", 60, 300), ("dense", 12, 40)):
        r = run(departments, brands, args.baskets)
        print(
            f"{name:9} eligible/basket {r['eligible_mean']:5.1f}  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms"
            f"  max {r['max_ms']:6.1f} ms  proven optimal {r['optimal_share']:.4f}"
        )


if __name__ == "__main__":
    main()
