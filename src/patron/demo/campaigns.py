"""The demo program and its campaigns, written as a client would send them (contract 3 and 8).

The program pays one point per dollar (a point is worth a cent, so 1 % back), 1.5 and 2 points in
the silver and gold tiers, and keeps alcohol and tobacco out of what points may pay for. The
campaigns use the data's real departments, categories and brands (``National``, ``Private``); some
run in the windows of the retailer's own mailer campaigns, moved into the demo year.

Effects that place a discount on a chosen subset of lines (``discount_amount``, ``buy_x_get_y``)
are given narrow conditions (coffee: at most 6 lines in any basket of the year; frozen pizza: at
most 13), so that the optimizer's search over subsets of lines stays small."""

from __future__ import annotations

from datetime import date
from typing import Any

# Alcohol and tobacco in the data: beer, wine and liquor sit in GROCERY as well as in SPIRITS, and
# cigarettes, cigars and other tobacco in DRUG GM (a probe found points paying for wine and cigars).
TOBACCO = "'CIGARETTES', 'CIGARS', 'TOBACCO OTHER'"
ALCOHOL_AND_TOBACCO = (
    "department = 'SPIRITS' or category in"
    f" ('BEERS/ALES', 'DOMESTIC WINE', 'IMPORTED WINE', 'MISC WINE', 'LIQUOR', {TOBACCO})"
)
HEALTH_AND_BEAUTY = f"department in ('DRUG GM', 'COSMETICS', 'NUTRITION') and category not in ({TOBACCO})"

PROGRAM: dict[str, Any] = {
    "currency": "USD",
    "timezone": "America/Chicago",
    "country": "US",
    "point_value": "0.01",
    "earn_percent": "100",
    "max_spend_percent": "50",
    "no_spend_condition": ALCOHOL_AND_TOBACCO,
    "activation_delay_days": 1,
    # three years, so that the replayed year (2025) still has balances to spend and show today
    "points_valid_days": 1095,
    "return_policy": "debt",
    "tiers": [
        {"code": "base", "name": "Base", "threshold": "0", "earn_percent": "100"},
        {"code": "silver", "name": "Silver", "threshold": "1500.00", "earn_percent": "150"},
        {"code": "gold", "name": "Gold", "threshold": "4000.00", "earn_percent": "200"},
    ],
    "birthday": {"points": 500, "valid_days": 14, "days_before": 3},
    "tier_window_days": 365,
}


def _window(windows: dict[int, tuple[date, date]], campaign_id: int) -> dict[str, str]:
    start, end = windows[campaign_id]
    return {"starts_at": start.isoformat(), "ends_at": end.isoformat()}


def definitions(windows: dict[int, tuple[date, date]]) -> list[dict[str, Any]]:
    """A dozen campaigns in the shape of ``POST /v1/campaigns``. ``windows`` maps the data's
    campaign ids to their first and last day in the demo year (``data.campaign_windows``)."""
    return [
        {
            "name": "Weekend produce: 10% off fruit and vegetables",
            "weekdays": [6, 7],
            "condition": "department = 'PRODUCE'",
            "effect": {"type": "discount_percent", "value": "10"},
            "stacking": "line",
        },
        {
            "name": "Store brand: double points",
            "condition": "brand = 'Private'",
            "effect": {"type": "points_multiplier", "value": "2"},
        },
        {
            "name": "Pizza night: buy 2 frozen pizzas, get 1 free",
            **_window(windows, 8),
            "condition": "category = 'FROZEN PIZZA'",
            "effect": {"type": "buy_x_get_y", "buy": 2, "get": 1, "percent": "100"},
            "stacking": "line",
        },
        {
            "name": "Coffee: $2 off two bags",
            # the data's COFFEE category also holds creamer, syrups and tea
            "condition": "category = 'COFFEE' and type not in"
            " ('NON DAIRY CREAMER: DRY', 'MOLASSES & SYRUPS', 'INSTANT TEA & TEA MIX', 'AUTHENTIC DRY BEVERAGES W/O SW')",
            "min_quantity": 2,
            "effect": {"type": "discount_amount", "value": "2.00"},
            "stacking": "line",
            "limits": {"per_member": 12, "uses": None, "budget_points": None, "budget_money": "5000.00"},
        },
        {
            "name": "Gold members: 5% off groceries",
            "tiers": ["gold"],
            "condition": "department = 'GROCERY'",
            "effect": {"type": "discount_percent", "value": "5"},
            "stacking": "stackable",
        },
        {
            "name": "Pharmacy: 300 points to spend on health and beauty, for $25",
            "condition": HEALTH_AND_BEAUTY,
            "min_amount": "25.00",
            "effect": {"type": "points_fixed", "value": "300"},
            "points": {"valid_days": 60, "spend_condition": HEALTH_AND_BEAUTY},
        },
        {
            "name": "Breakfast: any cold cereal for $2.99",
            **_window(windows, 13),
            "condition": "category = 'COLD CEREAL' and brand = 'National' and price > 2.99",
            "effect": {"type": "fixed_price", "value": "2.99"},
            "stacking": "line",
        },
        {
            "name": "Birthday treat: 20% off the bakery",
            "birthday": {"days_before": 3, "days_after": 3},
            "condition": "department = 'PASTRY'",
            "effect": {"type": "discount_percent", "value": "20"},
            "stacking": "stackable",
        },
        {
            "name": "Deli happy hour: 15% off, weekdays 4 to 7 pm",
            "weekdays": [1, 2, 3, 4, 5],
            "hours": {"from": "16:00", "to": "19:00"},
            "condition": "department = 'DELI'",
            "effect": {"type": "discount_percent", "value": "15"},
            "stacking": "line",
        },
        {
            "name": "Big basket: 500 bonus points on $150",
            "min_amount": "150.00",
            "effect": {"type": "points_fixed", "value": "500"},
            "points": {"valid_days": 90, "activation_delay_days": 0},
            "stacking": "stackable",
        },
        {
            "name": "Summer in the south: ice cream 25% off",
            "starts_at": "2025-06-01",
            "ends_at": "2025-08-31",
            "cities": ["Houston", "Phoenix", "Miami", "Dallas"],
            "condition": "category = 'ICE CREAM/MILK/SHERBTS'",
            "effect": {"type": "discount_percent", "value": "25"},
            "stacking": "line",
        },
        {
            "name": "Baby days: triple points on diapers",
            **_window(windows, 18),
            "condition": "category = 'DIAPERS & DISPOSABLES'",
            "effect": {"type": "points_multiplier", "value": "3"},
            "limits": {"per_member": None, "uses": None, "budget_points": 200000, "budget_money": None},
        },
        {
            "name": "Black Friday weekend: 20% off everything",
            "starts_at": "2025-11-28",
            "ends_at": "2025-11-30",
            "condition": f"department != 'FUEL' and not ({ALCOHOL_AND_TOBACCO})",
            "effect": {"type": "discount_percent", "value": "20"},
            "stacking": "exclusive",
            "priority": 10,
            "limits": {"per_member": 1, "uses": None, "budget_points": None, "budget_money": None},
        },
    ]
