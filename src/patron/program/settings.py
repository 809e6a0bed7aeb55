"""The program's settings with their defaults and validation (contract 3). Pure: no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal

import phonenumbers
from babel.core import get_global
from babel.numbers import get_territory_currencies, list_currencies
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from patron import clock, money
from patron.conditions import checked
from patron.errors import InvalidInput
from patron.fields import PlainDecimal, WholeNumber

_CURRENCIES = frozenset(list_currencies())  # every code Babel knows, withdrawn ones included


@lru_cache(maxsize=2)
def tender_today(today: date) -> frozenset[str]:
    """Currencies that are legal tender somewhere on ``today`` (not RUR, BYR, XAU or XXX)."""
    return frozenset(
        code
        for territory in get_global("territory_currencies")
        for code in get_territory_currencies(territory, today, tender=True)
    )


Percent = Annotated[PlainDecimal, Field(ge=0, le=1000, max_digits=12, decimal_places=4)]


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", examples=["silver"])
    name: str = Field(min_length=1, max_length=200, examples=["Silver"])
    threshold: PlainDecimal = Field(ge=0, max_digits=16, decimal_places=4, examples=["500.00"])
    earn_percent: Percent = Field(examples=["7"])


def default_tier(earn_percent: Decimal) -> Tier:
    """The one tier of a program that names none (contract 3)."""
    return Tier(code="base", name="Base", threshold=Decimal("0"), earn_percent=earn_percent)


class BirthdayGift(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    points: WholeNumber = Field(gt=0, le=10_000_000, examples=[300])
    valid_days: WholeNumber = Field(gt=0, le=3650, examples=[14])
    days_before: WholeNumber = Field(ge=0, le=366, examples=[3])


class Program(BaseModel):
    """A tenant's program. ``PUT`` replaces it whole (absent fields take defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field("EUR", examples=["EUR"], description="ISO 4217 code")
    timezone: str = Field("UTC", examples=["Europe/Moscow"], description="default time zone of stores")
    country: str | None = Field(None, examples=["RU"], description="region of phones written without +")
    point_value: PlainDecimal = Field(
        Decimal("1.00"), gt=0, max_digits=16, decimal_places=4, examples=["1.00"]
    )
    earn_percent: Percent = Field(Decimal("5"), examples=["5"])
    max_spend_percent: PlainDecimal = Field(Decimal("50"), ge=0, le=100, decimal_places=4, examples=["50"])
    no_spend_condition: str | None = Field(None, examples=["category = 'tobacco'"])
    activation_delay_days: WholeNumber = Field(1, ge=0, le=3650)
    points_valid_days: WholeNumber = Field(365, ge=1, le=36500)
    return_policy: Literal["debt", "withhold", "clamp"] = "debt"
    tiers: list[Tier] | None = Field(None, description="default: one 'base' tier at the base earn_percent")
    birthday: BirthdayGift | None = None
    tier_window_days: WholeNumber = Field(365, ge=1, le=36500)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value not in _CURRENCIES or len(value) != 3:
            if value.upper() in _CURRENCIES and len(value) == 3:
                raise ValueError(f"a currency code is written in capitals: {value.upper()}, not {value!r}")
            raise ValueError(f"unknown ISO 4217 currency {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        clock.zone(value)
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown ISO 3166 country {value!r}")
        return value.upper()

    @field_validator("no_spend_condition")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        return checked(value)

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, value: list[Tier] | None, info: ValidationInfo) -> list[Tier] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("at least one tier is needed (omit the field for the default)")
        if "earn_percent" in info.data and value == [default_tier(info.data["earn_percent"])]:
            # What GET shows for the default, sent back (a read, edit and PUT): still the default,
            # so that the base tier keeps following earn_percent.
            return None
        codes = [tier.code for tier in value]
        if len(set(codes)) != len(codes):
            raise ValueError("tier codes must be unique")
        thresholds = [tier.threshold for tier in value]
        if len(set(thresholds)) != len(thresholds):
            raise ValueError("tier thresholds must be different")
        return sorted(value, key=lambda tier: tier.threshold)

    @cached_property
    def effective_tiers(self) -> tuple[Tier, ...]:
        if self.tiers is not None:
            return tuple(self.tiers)
        return (default_tier(self.earn_percent),)

    @cached_property
    def phone_region(self) -> str | None:
        """Where a phone written without ``+`` is read: ``country``, else the country of the
        program's time zone (a program in Europe/Moscow takes ``8 900 123-45-67`` as Russian, as
        its tills' customers write it); None for a zone of no one country, such as UTC."""
        if self.country is not None:
            return self.country
        # an older name (Europe/Kiev, US/Eastern, Japan) is read as the zone it stands for now
        zone = get_global("zone_aliases").get(self.timezone, self.timezone)
        region = get_global("zone_territories").get(zone)
        return region if region in phonenumbers.SUPPORTED_REGIONS else None

    @cached_property
    def quantum(self) -> Decimal:
        return money.quantum(self.currency)

    @cached_property
    def tier_rules(self) -> tuple[object, ...]:
        """What decides a member's tier: the tiers' codes and thresholds, and the window."""
        return (tuple((tier.code, tier.threshold) for tier in self.effective_tiers), self.tier_window_days)

    def tier_for(self, paid_in_window: Decimal) -> Tier | None:
        """The highest tier whose threshold is at most what the member paid in the window."""
        chosen: Tier | None = None
        for tier in self.effective_tiers:
            if tier.threshold <= paid_in_window:
                chosen = tier
        return chosen

    def to_json(self) -> dict[str, object]:
        data = self.model_dump(mode="json")
        if self.point_value == self.point_value.quantize(self.quantum):
            data["point_value"] = money.format_money(self.point_value, self.quantum)
        else:
            data["point_value"] = str(self.point_value.normalize())
        data["tiers"] = [tier.model_dump(mode="json") for tier in self.effective_tiers]
        return data


MAX_CONDITION = 4000  # as a campaign's condition


def check_for_saving(program: Program, stored: dict[str, Any]) -> None:
    """What a program being saved must also meet, beyond each field's own rules. Stored programs
    are not held to these when read, so that none stops its tenant from being served.

    - A point is worth a whole number of the currency's minor unit: spending points must come
      to an amount a till can charge.
    - A new currency is one in use somewhere today (``RUR`` was withdrawn in 1998; ``XAU`` is gold).
    - The time zone is a place's, not the host's ("localtime") or a placeholder ("Factory").
    - ``no_spend_condition`` is at most as long as a campaign's condition: every quote of the
      program evaluates it, and a 1.7 MB one cost each quote a second."""
    if program.point_value != program.point_value.quantize(program.quantum):
        raise InvalidInput(
            f"point_value: a whole number of {program.quantum} {program.currency}", field="point_value"
        )
    if program.currency != stored.get("currency") and program.currency not in tender_today(
        datetime.now(UTC).date()
    ):
        raise InvalidInput(f"currency: {program.currency!r} is not in use as money today", field="currency")
    if program.no_spend_condition is not None and len(program.no_spend_condition) > MAX_CONDITION:
        raise InvalidInput(
            f"no_spend_condition: at most {MAX_CONDITION} characters", field="no_spend_condition"
        )
    try:
        clock.place_zone(program.timezone)
    except ValueError as exc:
        raise InvalidInput(f"timezone: {exc}", field="timezone") from exc
