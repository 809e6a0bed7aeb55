"""Pure ledger rules that need no lines: when a lot counts, and taking points soonest-expiry first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from patron.clock import midnight_after_days

# A ledger entry's key is unique per member. Birthday gifts take "birthday:<year>"; an adjustment
# key that began so took a member's gift for that year, or answered 500 once the gift was made.
BIRTHDAY_KEY_PREFIX = "birthday:"


def birthday_key(year: int) -> str:
    return f"{BIRTHDAY_KEY_PREFIX}{year}"


@dataclass(frozen=True, slots=True)
class Window:
    available_from: datetime
    expires_at: datetime


def earned_window(moment: datetime, tz: ZoneInfo, activation_delay_days: int, valid_days: int) -> Window:
    """Earned points: available at local midnight after the delay (at once with no delay), and
    expiring at local midnight ``valid_days`` after they became available."""
    if activation_delay_days == 0:
        start = moment
        end = midnight_after_days(moment, valid_days, tz)
    else:
        start = midnight_after_days(moment, activation_delay_days, tz)
        end = midnight_after_days(start, valid_days, tz)
    return Window(start, end)


def immediate_window(moment: datetime, tz: ZoneInfo, valid_days: int) -> Window:
    """A manual credit: available at once, expiring at local midnight ``valid_days`` later."""
    return Window(moment, midnight_after_days(moment, valid_days, tz))


@dataclass(frozen=True, slots=True)
class Holding:
    """A lot's points that can be taken now."""

    lot_id: int
    remaining: int
    expires_at: datetime


def take_soonest_first(holdings: Iterable[Holding], points: int) -> list[tuple[int, int]]:
    """Takes ``points`` from the lots that expire soonest; returns (lot id, points) pairs.

    Takes less when there is less; the caller decides whether that is an error."""
    taken: list[tuple[int, int]] = []
    left = points
    for holding in sorted(holdings, key=lambda h: (h.expires_at, h.lot_id)):
        if left <= 0:
            break
        part = min(holding.remaining, left)
        if part > 0:
            taken.append((holding.lot_id, part))
            left -= part
    return taken


def total(pairs: Sequence[tuple[int, int]]) -> int:
    return sum(points for _, points in pairs)


def split_debt(paid: int, debts: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """``paid`` points of a member's debt over the receipts that recorded it (``debts``, oldest
    first, each with what it still owes): as much to each in turn; what is left names none."""
    parts = []
    for receipt, owed in debts:
        if paid <= 0:
            break
        part = min(paid, owed)
        if part > 0:
            parts.append((receipt, part))
            paid -= part
    return parts
