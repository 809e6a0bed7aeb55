"""Reading the admin app's forms into the documents the API takes (contract 3 and 8), and
pydantic's errors back into messages by form field. Pure: the use cases validate for real."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from patron.errors import validation_message

TextOf = Callable[[str], str]
TextsOf = Callable[[str], list[str]]


ITEM_SHOWN = 40  # characters of a refused list item quoted in its message


def errors_by_field(exc: ValidationError) -> dict[str, str]:
    """``{"tiers.0.code": "...", "events": "..."}``: the first message for each field at fault. An
    item of a list (``events.0``) is put at the list's field, where the form shows errors (it was
    shown nowhere), its message naming the item refused."""
    result: dict[str, str] = {}
    for error in exc.errors():
        loc = list(error["loc"])
        item_of_list = bool(loc) and isinstance(loc[-1], int)
        while loc and isinstance(loc[-1], int):
            loc.pop()
        field = ".".join(str(part) for part in loc) or "form"
        given = error.get("input")
        if given is None and error["type"] != "value_error":
            message = "give a value"  # a field left empty: not "Input should be a valid string"
        else:
            message = validation_message(error)
        if item_of_list and isinstance(given, str | int):
            shown = str(given) if len(str(given)) <= ITEM_SHOWN else str(given)[:ITEM_SHOWN] + "…"
            message = f'"{shown}": {message}'
        result.setdefault(field, message)
    return result


NUL_MESSAGE = "text may not hold the NUL character"


def nul_errors(document: Any, field: str = "") -> dict[str, str]:
    """The fields of a form's document whose text holds a NUL character, which PostgreSQL's text
    cannot store: the form comes back with them marked, rather than a page that loses the form.
    Keys are the document's paths (``effect.value``, ``tiers.0.name``), an item of a list of texts
    at its list's field."""
    if isinstance(document, str):
        return {field or "form": NUL_MESSAGE} if "\x00" in document else {}
    found: dict[str, str] = {}
    if isinstance(document, dict):
        for key, value in document.items():
            found |= nul_errors(value, f"{field}.{key}" if field else str(key))
    elif isinstance(document, list | tuple):
        for index, item in enumerate(document):  # rows of fields (tiers) are shown by row
            found |= nul_errors(item, f"{field}.{index}" if isinstance(item, dict) else field)
    return found


def _blank_to_none(value: str) -> str | None:
    return value if value != "" else None


def split_list(text: str) -> list[str]:
    """``"Moscow, Kazan"`` → ``["Moscow", "Kazan"]``: commas or new lines separate items."""
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def split_lines(text: str) -> list[str]:
    """``"New York\nChicago, IL"`` → ``["New York", "Chicago, IL"]``: one item a line, for names
    that may hold a comma (cities), which ``split_list`` would cut in two."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def local_moment(text: str, timezone: str) -> str:
    """A ``datetime-local`` field (``2026-12-24T10:00``), read in ``timezone``, as RFC 3339 text
    with that zone's offset; text that is not such a value is passed on for the API to refuse."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        return text
    return moment.replace(tzinfo=ZoneInfo(timezone)).isoformat()


# --- program (contract 3) ----------------------------------------------------------------------

PROGRAM_FIELDS = (
    "currency",
    "timezone",
    "country",
    "point_value",
    "earn_percent",
    "max_spend_percent",
    "no_spend_condition",
    "activation_delay_days",
    "points_valid_days",
    "return_policy",
    "tier_window_days",
)

PROGRAM_DAYS = ("activation_delay_days", "points_valid_days", "tier_window_days")


def program_blanks(text: TextOf) -> dict[str, str]:
    """The form's required fields left empty, each with its error: an empty field would otherwise
    take its default (contract 3's PUT), and a cleared time zone silently become UTC."""
    optional = ("country", "no_spend_condition")
    return {
        name: "give a value" for name in PROGRAM_FIELDS if name not in optional and not text(name).strip()
    }


def program_document(text: TextOf, texts: TextsOf) -> dict[str, Any]:
    """The whole program as ``PUT /v1/program`` takes it; blank optional fields are null."""
    document: dict[str, Any] = {name: _blank_to_none(text(name)) for name in PROGRAM_FIELDS}
    if document["country"]:
        document["country"] = str(document["country"]).upper()
    for name in PROGRAM_DAYS:  # JSON integers in the API: a form's text is read as one here
        document[name] = int_or_text(text(name))
    tiers = []
    rows = zip(
        texts("tier_code"),
        texts("tier_name"),
        texts("tier_threshold"),
        texts("tier_earn_percent"),
        strict=False,
    )
    for code, name, threshold, earn in rows:
        if code or name or threshold or earn:
            tiers.append(
                {"code": code, "name": name, "threshold": threshold or None, "earn_percent": earn or None}
            )
    document["tiers"] = tiers or None
    gift = {key: text(f"birthday_{key}") for key in ("points", "valid_days", "days_before")}
    document["birthday"] = {k: int_or_text(v) for k, v in gift.items()} if any(gift.values()) else None
    return {k: v for k, v in document.items() if v is not None or k in ("country", "no_spend_condition")}


# --- campaigns (contract 8) --------------------------------------------------------------------

EFFECT_TYPES = (
    ("discount_percent", "Discount, percent"),
    ("discount_amount", "Discount, amount off the qualifying lines together"),
    ("fixed_price", "Fixed unit price"),
    ("buy_x_get_y", "Buy X get Y"),
    ("points_percent", "Extra points, percent of what was paid"),
    ("points_multiplier", "Base points multiplied"),
    ("points_fixed", "Fixed points for the receipt"),
)
STACKING = (
    ("line", "line: no other line discount on the same line"),
    ("stackable", "stackable: combines with anything"),
    ("exclusive", "exclusive: nothing else on the receipt"),
)
WEEKDAYS = ((1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun"))


# at most 18 digits (within bigint): a longer number goes on as text, for the model to refuse
_WHOLE = re.compile(r"\s*[+-]?[0-9]{1,18}\s*")
_DECIMAL = re.compile(r"\s*[+-]?[0-9]{1,18}(\.[0-9]{1,18})?\s*")


def int_or_text(value: str) -> int | str | None:
    """A whole number when it reads as one in ASCII digits; else the text, for the model to reject
    by name (Python's int() reads "3_65" as 365 and "３６５" too, as the API does not)."""
    if value == "":
        return None
    return int(value) if _WHOLE.fullmatch(value) else value


def number_or_text(value: str) -> int | float | str | None:
    """A rate from a form: a number when it reads as one; else the text, for the model to reject."""
    whole = int_or_text(value)
    if not isinstance(whole, str):
        return whole
    return float(value) if _DECIMAL.fullmatch(value) else value


def campaign_document(text: TextOf, texts: TextsOf) -> dict[str, Any]:
    """A campaign as ``POST /v1/campaigns`` takes it, from the campaign form."""
    effect_type = text("effect_type")
    effect: dict[str, Any] = {"type": effect_type}
    if effect_type == "buy_x_get_y":
        effect |= {
            "buy": int_or_text(text("effect_buy")),
            "get": int_or_text(text("effect_get")),
            "percent": _blank_to_none(text("effect_percent")) or "100",
        }
    elif effect_type == "points_fixed":
        effect["value"] = int_or_text(text("effect_value"))
    else:
        effect["value"] = _blank_to_none(text("effect_value"))
    hours = None
    if text("hours_from") or text("hours_to"):
        hours = {"from": text("hours_from"), "to": text("hours_to")}
    birthday = None
    if text("birthday_days_before") or text("birthday_days_after"):
        birthday = {
            "days_before": int_or_text(text("birthday_days_before") or "0"),
            "days_after": int_or_text(text("birthday_days_after") or "0"),
        }
    points = {
        "valid_days": int_or_text(text("points_valid_days")),
        "activation_delay_days": int_or_text(text("points_activation_delay_days")),
        "spend_condition": _blank_to_none(text("points_spend_condition")),
    }
    limits = {
        "per_member": int_or_text(text("limit_per_member")),
        "uses": int_or_text(text("limit_uses")),
        "budget_points": int_or_text(text("limit_budget_points")),
        "budget_money": _blank_to_none(text("limit_budget_money")),
    }
    # whole numbers in order, once each; anything else is left for the model to refuse by name
    given = [int_or_text(day) for day in texts("weekdays") if day]
    weekdays = sorted({day for day in given if isinstance(day, int)}) + [
        d for d in given if not isinstance(d, int)
    ]
    document: dict[str, Any] = {
        "name": text("name"),
        "active": text("active") in ("on", "true", "1"),
        "starts_at": _blank_to_none(text("starts_at")),
        "ends_at": _blank_to_none(text("ends_at")),
        "weekdays": weekdays if weekdays and len(weekdays) < 7 else [],
        "hours": hours,
        "stores": split_list(text("stores")) or [s for s in texts("store_codes") if s],
        "cities": split_lines(text("cities")),
        "countries": [c.upper() for c in split_list(text("countries"))],
        "tiers": [t for t in texts("tiers") if t],
        "birthday": birthday,
        "condition": _blank_to_none(text("condition")),
        "min_amount": _blank_to_none(text("min_amount")) or "0",
        "min_quantity": int_or_text(text("min_quantity") or "0"),
        "effect": effect,
        "stacking": text("stacking") or "line",
        "priority": int_or_text(text("priority") or "0"),
    }
    if any(value is not None for value in points.values()):
        document["points"] = {k: v for k, v in points.items() if v is not None}
    if any(value is not None for value in limits.values()):
        document["limits"] = limits
    return document


def campaign_form_values(campaign: dict[str, Any]) -> dict[str, Any]:
    """The form's fields for an existing campaign (the reverse of ``campaign_document``)."""
    effect = campaign.get("effect") or {}
    hours = campaign.get("hours") or {}
    birthday = campaign.get("birthday") or {}
    points = campaign.get("points") or {}
    limits = campaign.get("limits") or {}

    def s(value: Any) -> str:
        return "" if value is None else str(value)

    return {
        "name": s(campaign.get("name")),
        "active": bool(campaign.get("active", True)),
        "starts_at": s(campaign.get("starts_at")),
        "ends_at": s(campaign.get("ends_at")),
        "weekdays": list(campaign.get("weekdays") or []),
        "hours_from": s(hours.get("from")),
        "hours_to": s(hours.get("to")),
        "stores": ", ".join(campaign.get("stores") or []),
        "cities": "\n".join(campaign.get("cities") or []),  # one a line: a city may hold a comma
        "countries": ", ".join(campaign.get("countries") or []),
        "tiers": list(campaign.get("tiers") or []),
        "birthday_days_before": s(birthday.get("days_before")),
        "birthday_days_after": s(birthday.get("days_after")),
        "condition": s(campaign.get("condition")),
        "min_amount": s(campaign.get("min_amount")),
        "min_quantity": s(campaign.get("min_quantity")),
        "effect_type": s(effect.get("type") or "discount_percent"),
        "effect_value": s(effect.get("value")),
        "effect_buy": s(effect.get("buy")),
        "effect_get": s(effect.get("get")),
        "effect_percent": s(effect.get("percent")),
        "points_valid_days": s(points.get("valid_days")),
        "points_activation_delay_days": s(points.get("activation_delay_days")),
        "points_spend_condition": s(points.get("spend_condition")),
        "stacking": s(campaign.get("stacking") or "line"),
        "priority": s(campaign.get("priority") if campaign.get("priority") is not None else 0),
        "limit_per_member": s(limits.get("per_member")),
        "limit_uses": s(limits.get("uses")),
        "limit_budget_points": s(limits.get("budget_points")),
        "limit_budget_money": s(limits.get("budget_money")),
    }


def empty_campaign_form() -> dict[str, Any]:
    return campaign_form_values({"active": True, "stacking": "line", "priority": 0})


def program_form_values(program: dict[str, Any], extra_tier_rows: int = 2) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: "" if program.get(name) is None else str(program[name]) for name in PROGRAM_FIELDS
    }
    tiers: Sequence[dict[str, Any]] = program.get("tiers") or []
    values["tiers"] = [
        {k: "" if t.get(k) is None else str(t[k]) for k in ("code", "name", "threshold", "earn_percent")}
        for t in tiers
    ] + [{"code": "", "name": "", "threshold": "", "earn_percent": ""} for _ in range(extra_tier_rows)]
    gift = program.get("birthday") or {}
    for key in ("points", "valid_days", "days_before"):
        values[f"birthday_{key}"] = "" if gift.get(key) is None else str(gift[key])
    return values
