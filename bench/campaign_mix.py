"""A realistic set of active campaigns over the benchmark's real catalog (issue 4).

The campaigns target what the baskets really hold: real categories, product types, manufacturers
(the Complete Journey's stand-in for brands: its ``brand`` is only National or Private) and
departments, picked in proportion to how often their products are bought, as a retailer promotes
what sells. Every effect type appears (in turn), a tenth are ``exclusive``, the rest ``line`` or
``stackable``; some have limits or budgets, thresholds, a store scope, a date window around today,
a tier audience, or their own points settings. All are active now: no hours, and every date
window contains today. Deterministic from the seed. Effect values come from bench/optimizer.py.

``narrow_coupled`` is a diagnostic variant: the campaigns whose discount depends on the set of
lines (``discount_amount``, ``buy_x_get_y``) get a narrow condition (a category, product type or
manufacturer) instead of a whole department or the whole basket; everything else is the same.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from typing import Any

from optimizer import KINDS, effect

MIN_LINES_FOR_DEPARTMENT = 100  # departments bought less often than this are not promoted


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _weighted_distinct(rnd: random.Random, counts: Counter[str], k: int) -> list[str]:
    """``k`` distinct values, each drawn in proportion to its count (without replacement)."""
    pool = dict(counts)
    chosen: list[str] = []
    while pool and len(chosen) < k:
        names = sorted(pool)
        pick = rnd.choices(names, weights=[pool[n] for n in names])[0]
        chosen.append(pick)
        del pool[pick]
    return chosen


def frequencies(data: dict[str, Any]) -> dict[str, Counter[str]]:
    """How many basket lines each attribute value covers, over the whole basket set."""
    attributes = {p["sku"]: p["attributes"] for p in data["products"]}
    counts: dict[str, Counter[str]] = {
        k: Counter() for k in ("department", "category", "type", "manufacturer", "store")
    }
    for basket in data["baskets"]:
        counts["store"][basket["store"]] += 1
        for line in basket["lines"]:
            attrs = attributes.get(line["sku"], {})
            for key in ("department", "category", "type", "manufacturer"):
                if attrs.get(key):
                    counts[key][attrs[key]] += 1
    return counts


COUPLED = ("discount_amount", "buy_x_get_y")


def definitions(
    data: dict[str, Any], count: int, seed: int, today: date, *, narrow_coupled: bool = False
) -> list[dict[str, Any]]:
    """``count`` campaign bodies for ``POST /v1/campaigns`` (contract 8)."""
    rnd = random.Random(f"campaigns/{seed}/{count}")
    narrow = random.Random(f"narrow/{seed}/{count}")  # its own draws: the rest of the mix stays as is
    freq = frequencies(data)
    categories = iter(_weighted_distinct(rnd, freq["category"], 3 * count))
    types = iter(_weighted_distinct(rnd, freq["type"], count))
    makers = iter(_weighted_distinct(rnd, freq["manufacturer"], count))
    departments = sorted(d for d, n in freq["department"].items() if n >= MIN_LINES_FOR_DEPARTMENT)
    stores = _weighted_distinct(rnd, freq["store"], 40)
    kinds = [KINDS[i % len(KINDS)] for i in range(count)]
    rnd.shuffle(kinds)
    made = []
    for i, kind in enumerate(kinds):
        shape = rnd.choices(
            ["category", "type", "manufacturer", "categories", "department", "private", "basket"],
            weights=[35, 15, 15, 10, 15, 6, 4],
        )[0]
        if narrow_coupled and kind in COUPLED and shape in ("department", "private", "basket"):
            shape = narrow.choice(["category", "type", "manufacturer"])
        body: dict[str, Any] = {"name": f"c{i:03d} {kind}", "effect": effect(rnd, kind)}
        if kind == "buy_x_get_y" and rnd.random() < 0.3:
            body["effect"]["percent"] = "50"
        if shape == "category":
            body["condition"] = f"category = {_quoted(next(categories))}"
        elif shape == "type":
            body["condition"] = f"type = {_quoted(next(types))}"
        elif shape == "manufacturer":
            body["condition"] = f"manufacturer = {_quoted(next(makers))}"
        elif shape == "categories":
            chosen = [next(categories) for _ in range(rnd.randint(2, 4))]
            body["condition"] = f"category in ({', '.join(_quoted(c) for c in chosen)})"
        elif shape == "department":
            department = _quoted(rnd.choice(departments))
            body["condition"] = rnd.choice(
                [f"department = {department}", f"department = {department} and price >= 2"]
            )
        elif shape == "private":
            body["condition"] = f"brand = 'Private' and department = {_quoted(rnd.choice(departments))}"
        else:  # the whole basket, above an amount: "$5 off / 50 points when you spend $50"
            body["min_amount"] = rnd.choice(["35.00", "50.00", "75.00"])
        if shape != "basket" and rnd.random() < 0.12:
            body["min_amount"] = rnd.choice(["5.00", "10.00"])
        if kind == "buy_x_get_y" or (shape != "basket" and rnd.random() < 0.05):
            body["min_quantity"] = rnd.choice([0, 2])
        body["stacking"] = "exclusive" if i % 10 == 0 else rnd.choice(["line", "line", "stackable"])
        body["priority"] = rnd.randint(0, 3)
        roll = rnd.random()
        if roll < 0.05:
            body["limits"] = {"per_member": rnd.randint(1, 3)}
        elif roll < 0.10:
            body["limits"] = {"uses": rnd.choice([300, 1000, 3000])}
        elif roll < 0.15:
            body["limits"] = (
                {"budget_points": rnd.choice([5000, 20000])}
                if kind.startswith("points")
                else {"budget_money": rnd.choice(["200.00", "1000.00"])}
            )
        elif roll < 0.18:
            body["limits"] = {"per_member": 2, "uses": 2000}
        roll = rnd.random()
        if roll < 0.05:
            body["stores"] = sorted(rnd.sample(stores, 10), key=lambda s: int(s[1:]))
        elif roll < 0.08:
            body["countries"] = ["US"]
        if rnd.random() < 0.2:
            body["starts_at"] = (today - timedelta(days=rnd.randint(1, 10))).isoformat()
            body["ends_at"] = (today + timedelta(days=rnd.randint(7, 30))).isoformat()
            body["weekdays"] = [1, 2, 3, 4, 5, 6, 7]
        if rnd.random() < 0.05:
            body["tiers"] = ["silver", "gold"]
        if kind.startswith("points") and rnd.random() < 0.3:
            body["points"] = rnd.choice(
                [
                    {"valid_days": 30},
                    {"valid_days": 90, "activation_delay_days": 0},
                    {"spend_condition": "department in ('PRODUCE', 'MEAT', 'DELI')"},
                ]
            )
        made.append(body)
    return made


def describe(bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """The mix, for the report."""
    return {
        "campaigns": len(bodies),
        "effects": dict(sorted(Counter(b["effect"]["type"] for b in bodies).items())),
        "stacking": dict(sorted(Counter(b["stacking"] for b in bodies).items())),
        "with_limits": sum("limits" in b for b in bodies),
        "with_min_amount": sum("min_amount" in b for b in bodies),
        "whole_basket": sum("condition" not in b for b in bodies),
        "store_scoped": sum("stores" in b for b in bodies),
        "date_window": sum("starts_at" in b for b in bodies),
        "tier_only": sum("tiers" in b for b in bodies),
        "own_points_settings": sum("points" in b for b in bodies),
        "conditions_on": dict(
            sorted(
                Counter(
                    (b.get("condition") or "whole basket").split(" ", 1)[0].replace("'", "") for b in bodies
                ).items()
            )
        ),
    }
