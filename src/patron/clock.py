"""Time: always timezone-aware. Tests pass their own clock where "now" matters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def zone(name: str) -> ZoneInfo:
    """The tz database zone called ``name``; ValueError if there is none."""
    if not name or name != name.strip() or name not in _known_zones():
        raise ValueError(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover - guarded above
        raise ValueError(f"unknown time zone {name!r}") from exc


# Names in the tz database that are no place: the host's own zone, a placeholder, a template.
NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})


def place_zone(name: str) -> ZoneInfo:
    """A zone a program or store may be set to: ``zone``, less the names of no place (a program
    in "localtime" would keep whatever zone its server has). Checked when saved, not when a
    stored one is read, so that no stored setting stops a tenant from being served."""
    if name in NOT_PLACES:
        raise ValueError(f"{name!r} is the name of no place: give a zone such as Europe/Berlin")
    return zone(name)


_ZONES: frozenset[str] | None = None


def _known_zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """00:00 of ``day`` in ``tz`` as an aware instant (the first instant of that local day)."""
    return datetime.combine(day, time(0), tzinfo=tz)


def midnight_after_days(moment: datetime, days: int, tz: ZoneInfo) -> datetime:
    """00:00 local time on the local date of ``moment`` plus ``days`` days."""
    local_day = moment.astimezone(tz).date()
    return local_midnight(local_day + timedelta(days=days), tz)
