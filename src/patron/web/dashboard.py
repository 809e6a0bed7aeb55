"""The dashboard's figures and charts, built from the per-day rows of ``report_store``. Pure.

The window is the last ``days`` local days up to today. When the program's latest receipt is more
than a week old (a demo replaying an old year, a paused program), the window ends at that receipt's
day instead, and the page says so: a live program sells every day and is never moved. Windows
longer than 92 days are shown by week."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from patron import clock

RANGES: Final = (30, 90, 365)
DEFAULT_DAYS: Final = 90
ACTIVE_DAYS: Final = 30
WEEKLY_ABOVE: Final = 92
STALE_AFTER: Final = timedelta(days=7)

PALETTE: Final = ("#1f6feb", "#d4a72c", "#cf222e", "#1a7f37", "#8250df", "#bf3989", "#0a7ea4", "#6e7781")


@dataclass(frozen=True, slots=True)
class Window:
    days: int
    first: date
    last: date
    zone: ZoneInfo
    anchored: bool

    @property
    def since(self) -> datetime:
        return clock.local_midnight(self.first, self.zone)

    @property
    def until(self) -> datetime:
        return clock.local_midnight(self.last + timedelta(days=1), self.zone)

    @property
    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    @property
    def weekly(self) -> bool:
        return self.days > WEEKLY_ABOVE


def window(days: int, now: datetime, timezone: str, latest_receipt: datetime | None) -> Window:
    zone = clock.zone(timezone)
    if days not in RANGES:
        days = DEFAULT_DAYS
    today = now.astimezone(zone).date()
    last, anchored = today, False
    if latest_receipt is not None and latest_receipt < now - STALE_AFTER:
        last, anchored = latest_receipt.astimezone(zone).date(), True
    return Window(days, last - timedelta(days=days - 1), last, zone, anchored)


def per_day(rows: Iterable[Mapping[str, Any]], key: str) -> dict[date, Any]:
    return {row["day"]: row[key] for row in rows}


def flow(values: Mapping[date, Any], dates: Sequence[date]) -> list[Any]:
    """A per-day amount over the window's days, 0 where nothing happened."""
    return [values.get(day, 0) for day in dates]


def running(start: int, changes: Mapping[date, int], dates: Sequence[date]) -> list[int]:
    """A level that starts at ``start`` before the first day and moves by each day's change."""
    level, result = start, []
    for day in dates:
        level += int(changes.get(day, 0))
        result.append(level)
    return result


def member_counts(rows: Iterable[Mapping[str, Any]], first: date, last: date) -> dict[str, int]:
    """From members per join day: all of them, those who joined before ``first``, those who joined
    in the window, and the debt they owe."""
    counts = {"all": 0, "before": 0, "joined": 0, "debt": 0}
    for row in rows:
        counts["all"] += int(row["joined"])
        counts["debt"] += int(row["debt"])
        if row["day"] < first:
            counts["before"] += int(row["joined"])
        elif row["day"] <= last:
            counts["joined"] += int(row["joined"])
    return counts


def rolling_active(changes: Sequence[Mapping[str, Any]], dates: Sequence[date]) -> list[int]:
    """Members active in the trailing window on each day, from ``active_member_changes`` rows."""
    before = sum(int(row["change"]) for row in changes if row["day"] < dates[0]) if dates else 0
    return running(before, {row["day"]: int(row["change"]) for row in changes}, dates)


def outstanding(
    base: int, net: Mapping[date, int], expired: Mapping[date, int], dates: Sequence[date]
) -> list[int]:
    """Points held at each day's end: the level before the window, plus every entry, less expiries."""
    change = {day: int(net.get(day, 0)) - int(expired.get(day, 0)) for day in set(net) | set(expired)}
    return running(base, change, dates)


@dataclass(frozen=True, slots=True)
class Buckets:
    """The window's days grouped for the charts: each day, or each week (starting on Monday)."""

    labels: list[str]
    index: list[int]  # for each day of the window, its bucket

    @classmethod
    def of(cls, dates: Sequence[date], weekly: bool) -> Buckets:
        labels: list[str] = []
        index: list[int] = []
        for day in dates:
            label = (day - timedelta(days=day.weekday())).isoformat() if weekly else day.isoformat()
            if not labels or labels[-1] != label:
                labels.append(label)
            index.append(len(labels) - 1)
        return cls(labels, index)

    def total(self, values: Sequence[Any]) -> list[Any]:
        sums: list[Any] = [0] * len(self.labels)
        for bucket, value in zip(self.index, values, strict=True):
            sums[bucket] += value
        return sums

    def last(self, values: Sequence[Any]) -> list[Any]:
        result: list[Any] = [0] * len(self.labels)
        for bucket, value in zip(self.index, values, strict=True):
            result[bucket] = value
        return result


def _num(value: Any) -> float | int:
    """A figure for the chart's JSON (charts draw floats; the tables show exact values)."""
    if isinstance(value, Decimal):
        return float(value)
    return int(value) if isinstance(value, int) else float(value)


def series(
    label: str, values: Sequence[Any], color: str, *, kind: str = "bar", axis: str = "y"
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": kind,
        "label": label,
        "data": [_num(v) for v in values],
        "backgroundColor": color,
        "borderColor": color,
        "yAxisID": axis,
    }
    if kind == "line":
        data |= {"pointRadius": 0, "borderWidth": 2, "tension": 0.2, "fill": False}
    return data


def combo(
    labels: list[str], datasets: list[dict[str, Any]], *, right_axis: str | None = None
) -> dict[str, Any]:
    """A bar-and-line chart over the window's buckets; lines on ``y2`` use the right-hand axis."""
    scales: dict[str, Any] = {
        "x": {"ticks": {"maxRotation": 0, "autoSkip": True, "maxTicksLimit": 10}},
        "y": {"beginAtZero": True},
    }
    if right_axis:
        scales["y2"] = {
            "beginAtZero": True,
            "position": "right",
            "grid": {"drawOnChartArea": False},
            "title": {"display": True, "text": right_axis},
        }
    return {
        "type": "bar",
        "data": {"labels": labels, "datasets": datasets},
        "options": {
            "interaction": {"mode": "index", "intersect": False},
            "plugins": {"legend": {"position": "bottom"}},
            "scales": scales,
        },
    }


def doughnut(labels: list[str], values: Sequence[Any]) -> dict[str, Any]:
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(labels))]
    return {
        "type": "doughnut",
        "data": {
            "labels": labels,
            "datasets": [{"data": [_num(v) for v in values], "backgroundColor": colors}],
        },
        "options": {"plugins": {"legend": {"position": "right"}}},
    }


def horizontal_bars(labels: list[str], datasets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "bar",
        "data": {"labels": labels, "datasets": datasets},
        "options": {
            "indexAxis": "y",
            "plugins": {"legend": {"position": "bottom"}},
            "scales": {"x": {"beginAtZero": True}},
        },
    }
