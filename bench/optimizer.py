"""The best-deal optimizer on its own: 100 active campaigns of every kind, 20-line baskets.

Reports the time per basket (eligibility and optimization, in-process) and the share of baskets
solved to proven optimality within the time limit, for two catalogs: a realistic one (60
departments, 300 brands: a basket meets a handful of campaigns) and a dense one (12 departments,
40 brands: every basket meets about 60 campaigns, most of them on several of its lines).

usage: python bench/optimizer.py [--baskets N]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from patron.campaigns.model import CampaignIn
from patron.campaigns.optimizer import Line, Settings, best_deal
from patron.campaigns.rules import BasketLine, Compiled, Context, eligible

KINDS = [
    "discount_percent",
    "discount_amount",
    "fixed_price",
    "buy_x_get_y",
    "points_percent",
    "points_multiplier",
    "points_fixed",
]


def effect(rnd: random.Random) -> dict[str, Any]:
    kind = rnd.choice(KINDS)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--baskets", type=int, default=2000)
    args = parser.parse_args()
    for name, departments, brands in (("realistic", 60, 300), ("dense", 12, 40)):
        r = run(departments, brands, args.baskets)
        print(
            f"{name:9} eligible/basket {r['eligible_mean']:5.1f}  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms"
            f"  max {r['max_ms']:6.1f} ms  proven optimal {r['optimal_share']:.4f}"
        )


if __name__ == "__main__":
    main()
