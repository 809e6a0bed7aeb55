"""Which campaigns apply to a basket (contract 8, step 1), compiled once per definition. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import overload
from unicodedata import normalize

from patron.campaigns.model import CampaignIn
from patron.campaigns.optimizer import Candidate
from patron.conditions import ALWAYS, Predicate, compile_condition, guard_of


@dataclass(frozen=True, slots=True)
class Compiled:
    """A campaign ready to evaluate: its condition compiled, its windows parsed."""

    id: str
    definition: CampaignIn
    predicate: Predicate
    start: time | None
    end: time | None
    cities: frozenset[str]

    @classmethod
    def of(cls, campaign_id: str, definition: CampaignIn) -> Compiled:
        hours = definition.hours
        return cls(
            id=campaign_id,
            definition=definition,
            predicate=compile_condition(definition.condition) if definition.condition else ALWAYS,
            start=_time(hours.start) if hours else None,
            end=_time(hours.end) if hours else None,
            cities=frozenset(city_key(city) for city in definition.cities),
        )

    @property
    def name(self) -> str:
        return self.definition.name


def city_key(name: str) -> str:
    """A city as compared: case, runs of spaces and Unicode form aside, as people type a name
    ("berlin "; "Mu\u0308nchen" as macOS and PIM exports write "München"). Unicode's canonical
    caseless match: NFD, case folded, NFD again."""
    return normalize("NFD", normalize("NFD", " ".join(name.split())).casefold())


def _time(text: str) -> time:
    return time.max if text == "24:00" else time.fromisoformat(text)


@dataclass(frozen=True, slots=True)
class Context:
    """Where and when a basket is, and who buys it."""

    store: str
    city: str | None
    country: str | None
    local: datetime  # the store's local time
    member: bool
    tier: str | None
    birthday: date | None


def birthday_near(birthday: date, day: date, before: int, after: int) -> bool:
    """Whether a birthday falls within ``before`` days ahead of ``day`` or ``after`` days behind it."""
    for year in (day.year - 1, day.year, day.year + 1):
        try:
            occurrence = birthday.replace(year=year)
        except ValueError:  # 29 February in a year without it
            occurrence = date(year, 2, 28)
        if -after <= (occurrence - day).days <= before:
            return True
    return False


def opening_day(start: time | None, end: time | None, local: datetime) -> date | None:
    """The local day whose window holds ``local`` (None: outside the hours). A window that crosses
    midnight (22:00 to 02:00) belongs to the evening it opens on: Friday's 01:00 is Thursday
    night's, so "Fridays, 22:00 to 02:00" runs into Saturday morning. ``end`` is exclusive, but
    24:00 (``time.max``) takes the day's last moment."""
    day, now = local.date(), local.time()
    if start is None or end is None:
        return day
    if start < end:
        return day if start <= now and (now < end or end == time.max) else None
    if now >= start:
        return day
    return day - timedelta(days=1) if now < end else None


def in_window(c: Compiled, ctx: Context) -> bool:
    d = c.definition
    if not d.active:
        return False
    day = opening_day(c.start, c.end, ctx.local)
    if day is None:
        return False
    if (d.starts_at and day < d.starts_at) or (d.ends_at and day > d.ends_at):
        return False
    if d.weekdays and day.isoweekday() not in d.weekdays:
        return False
    if d.stores and ctx.store not in d.stores:
        return False
    if c.cities and (ctx.city is None or city_key(ctx.city) not in c.cities):
        return False
    return not (d.countries and (ctx.country or "").upper() not in d.countries)


def in_audience(c: Compiled, ctx: Context) -> bool:
    d = c.definition
    if (d.tiers or d.birthday or d.effect.type.startswith("points")) and not ctx.member:
        return False  # anonymous baskets earn nothing and belong to no tier
    if d.tiers and ctx.tier not in d.tiers:
        return False
    if d.birthday is not None:
        if ctx.birthday is None:
            return False
        return birthday_near(ctx.birthday, ctx.local.date(), d.birthday.days_before, d.birthday.days_after)
    return True


@dataclass(frozen=True, slots=True)
class BasketLine:
    index: int
    amount: Decimal
    quantity: int
    attributes: Mapping[str, object]


class CampaignSet(Sequence[Compiled]):
    """A program's compiled campaigns, indexed by the attribute values their conditions require
    (``conditions.guard``): a basket's lines are looked up by value, and a campaign's predicate
    runs only on the lines its guard lets through (on every line when it has no guard)."""

    def __init__(self, campaigns: Sequence[Compiled] = ()) -> None:
        self._campaigns = tuple(campaigns)
        # what every basket asks of the whole set, worked out once
        self.by_id = {c.id: c for c in self._campaigns}
        self.limited = [c.id for c in self._campaigns if c.definition.limits.any]
        self.names = {c.id: c.name for c in self._campaigns}
        self.lot_settings = {
            c.id: c.definition.points for c in self._campaigns if c.definition.points is not None
        }
        self._guarded: dict[int, str] = {}  # position -> the attribute of its guard
        tables: dict[str, dict[str, list[int]]] = {}
        for position, c in enumerate(self._campaigns):
            found = guard_of(c.definition.condition) if c.definition.condition else None
            if found is None:
                continue
            self._guarded[position] = found.attr
            table = tables.setdefault(found.attr, {})
            for value in found.values:
                table.setdefault(value, []).append(position)
        self._tables = {attr: {v: tuple(p) for v, p in t.items()} for attr, t in tables.items()}
        self._on_attr = {
            attr: tuple(p for p, a in self._guarded.items() if a == attr) for attr in self._tables
        }

    @overload
    def __getitem__(self, index: int) -> Compiled: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Compiled]: ...
    def __getitem__(self, index: int | slice) -> Compiled | Sequence[Compiled]:
        return self._campaigns[index]

    def __len__(self) -> int:
        return len(self._campaigns)

    def __iter__(self) -> Iterator[Compiled]:
        return iter(self._campaigns)

    def lines_to_test(self, lines: Sequence[BasketLine]) -> list[Sequence[BasketLine]]:
        """For each campaign, in order, the lines its predicate must decide on."""
        hits: dict[int, list[BasketLine]] = {}
        for line in lines:
            attributes = line.attributes
            for attr, table in self._tables.items():
                value = attributes.get(attr)
                if value is None:
                    continue
                # a str is looked up; anything else (a str subclass, say) is left to the predicates
                positions = table.get(value, ()) if value.__class__ is str else self._on_attr[attr]
                for position in positions:
                    hits.setdefault(position, []).append(line)
        return [
            hits.get(position, []) if position in self._guarded else lines
            for position in range(len(self._campaigns))
        ]


def eligible(
    campaigns: Sequence[Compiled],
    ctx: Context,
    lines: Sequence[BasketLine],
    blocked: frozenset[str] = frozenset(),
) -> list[Candidate]:
    """Campaigns that may apply, each with its qualifying lines (thresholds met before discounts).

    Pass a ``CampaignSet`` where the same campaigns serve many baskets; a plain sequence is
    indexed for this call."""
    indexed = campaigns if isinstance(campaigns, CampaignSet) else CampaignSet(campaigns)
    found = []
    for c, to_test in zip(indexed, indexed.lines_to_test(lines), strict=True):
        if not to_test or c.id in blocked or not in_window(c, ctx) or not in_audience(c, ctx):
            continue
        qualifying = [line for line in to_test if c.predicate(line.attributes)]
        if not qualifying:
            continue
        d = c.definition
        if sum((line.amount for line in qualifying), Decimal(0)) < d.min_amount:
            continue
        if sum(line.quantity for line in qualifying) < d.min_quantity:
            continue
        found.append(
            Candidate(c.id, d.priority, d.stacking, d.effect, tuple(line.index for line in qualifying))
        )
    return found
