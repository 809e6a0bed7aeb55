"""How a member's page reads its search box and draws the lots' timeline. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import phonenumbers

LOT_CHART_LIMIT: Final = 60
MIN_PHONE_DIGITS: Final = 4  # fewer digits than this match too many numbers to be a search
_PHONE_CHARS = re.compile(r"^[+0-9\s().\-/]+$")


@dataclass(frozen=True, slots=True)
class National:
    """Part of a number as dialled in the program's country, its national prefix dropped: the
    members whose E.164 number has ``country_code`` and holds ``digits`` after it."""

    country_code: int
    digits: str


@dataclass(frozen=True, slots=True)
class Query:
    """What a search text may be: each is tried, exact matches first."""

    text: str
    phone: str | None
    email: str | None
    card: str | None
    national: National | None = None


def read_query(raw: str, region: str | None = None) -> Query:
    text = raw.strip()
    digits = sum(ch.isdigit() for ch in text)
    phone = text if _PHONE_CHARS.match(text) and digits >= 5 else None
    email = text if "@" in text else None
    card = text if text and not any(ch.isspace() for ch in text) and "@" not in text else None
    national = national_part(text, region) if _PHONE_CHARS.match(text) and "+" not in text else None
    return Query(text, phone, email, card, national)


def national_part(text: str, region: str | None) -> National | None:
    """The start of a national-format number ("030 1234 000" in Germany) without its national
    prefix, read with the country's own rule as the phone library reads a whole number
    (``national_prefix_for_parsing``, and its transform where a country has one). Its digits
    with the 0 never match an E.164 number ("+493012340000"), which has no national prefix.
    None when nothing is dropped, or too few digits are left."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region) if region else None
    if metadata is None or not metadata.national_prefix_for_parsing or metadata.country_code is None:
        return None
    digits = "".join(ch for ch in text if ch.isdigit())
    found = re.match(metadata.national_prefix_for_parsing, digits)
    if found is None or found.end() == 0:
        return None
    rule = metadata.national_prefix_transform_rule
    kept = found.expand(rule) if rule and found.groups() and found.groups()[-1] is not None else ""
    rest = kept + digits[found.end() :]
    return National(metadata.country_code, rest) if len(rest) >= MIN_PHONE_DIGITS else None


def lot_state(lot: dict[str, Any], now: datetime) -> str:
    if lot["expires_at"] <= now:
        return "expired"
    if lot["available_from"] > now:
        return "pending"
    if lot["remaining"] == 0:
        return "used"
    return "available"


COLORS: Final = {"available": "#1f6feb", "pending": "#d4a72c", "used": "#a8b3bf", "expired": "#e5a3a8"}


def lot_chart(lots: Sequence[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """A floating bar per lot from when it becomes available to when it expires, coloured by state
    (the latest ``LOT_CHART_LIMIT`` lots by expiry)."""
    shown = sorted(lots, key=lambda lot: (lot["expires_at"], lot["id"]))[-LOT_CHART_LIMIT:]
    labels = [f"#{lot['id']} {lot['kind']} {lot['remaining']}/{lot['points']}" for lot in shown]
    states = [lot_state(lot, now) for lot in shown]
    data = [
        [int(lot["available_from"].timestamp() * 1000), int(lot["expires_at"].timestamp() * 1000)]
        for lot in shown
    ]
    return {
        "type": "bar",
        "patronTimeAxis": "x",
        "data": {
            "labels": labels,
            "datasets": [
                {
                    "label": "lot",
                    "data": data,
                    "backgroundColor": [COLORS[state] for state in states],
                    "borderSkipped": False,
                    "barPercentage": 0.8,
                }
            ],
        },
        "options": {
            "indexAxis": "y",
            "plugins": {"legend": {"display": False}},
            "scales": {"x": {"min": min((d[0] for d in data), default=0)}},
        },
    }
