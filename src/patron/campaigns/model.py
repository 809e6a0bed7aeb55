"""A campaign as marketers define it (contract 8), validated. Pure."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import phonenumbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)

from patron.conditions import checked
from patron.errors import InvalidInput
from patron.fields import (
    MAX_AMOUNT,
    MAX_COUNT,
    MAX_POINTS,
    MAX_PRICE,
    Day,
    PlainDecimal,
    WholeNumber,
    is_blank,
    taking_null,
)

EffectType = Literal[
    "discount_percent",
    "discount_amount",
    "fixed_price",
    "buy_x_get_y",
    "points_percent",
    "points_multiplier",
    "points_fixed",
]
DISCOUNT_TYPES = frozenset({"discount_percent", "discount_amount", "fixed_price", "buy_x_get_y"})
POINT_TYPES = frozenset({"points_percent", "points_multiplier", "points_fixed"})
COUNTRIES = frozenset(phonenumbers.SUPPORTED_REGIONS)  # ISO 3166 codes, as the program's own country
ALL_OFF = Decimal(100)  # buy_x_get_y's percent when none is given: the get units free
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")


class Effect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: EffectType
    value: PlainDecimal | None = Field(
        None,
        description="by type: `discount_percent` a percent above 0, at most 100; `points_percent` a percent "
        "above 0, at most 1000; `discount_amount` an amount above 0; `fixed_price` a unit price of 0 or "
        "more; `points_multiplier` above 1 (on an active campaign), at most 100; `points_fixed` a whole number of "
        "points above 0",
    )
    buy: WholeNumber | None = Field(None, ge=1, le=1000)
    get: WholeNumber | None = Field(None, ge=1, le=1000)
    percent: PlainDecimal | None = Field(
        None, gt=0, le=100, description="buy_x_get_y only: off the cheapest `get` units; 100 when left out"
    )

    @model_validator(mode="before")
    @classmethod
    def _all_off_by_default(cls, data: Any) -> Any:
        """buy_x_get_y's ``percent`` left out (or null) means the ``get`` units free: 100, stored
        and shown as such (it was shown as null)."""
        if isinstance(data, dict) and data.get("type") == "buy_x_get_y" and data.get("percent") is None:
            return {**data, "percent": ALL_OFF}
        return data

    @field_validator("value")
    @classmethod
    def _value_by_type(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        """The value's bounds by type, checked on the field so that an error names ``effect.value``
        and the bound of this type (a points_percent over 1000 was told "at most 100 for discounts")."""
        kind = info.data.get("type")
        if value is None:
            return value
        if kind == "discount_percent" and not 0 < value <= 100:
            raise ValueError("a percent above 0, at most 100 for discount_percent")
        if kind == "points_percent" and not 0 < value <= 1000:
            raise ValueError("a percent above 0, at most 1000 for points_percent")
        if kind == "discount_amount" and value <= 0:
            raise ValueError("an amount above 0")
        if kind == "fixed_price" and value < 0:
            raise ValueError("a unit price of 0 or more")
        if kind == "points_multiplier" and not 0 < value <= 100:
            # the bound of an active campaign first: one told "above 0" sent 0.5, to hear "above 1"
            raise ValueError("a multiplier above 1 (above 0 on an inactive campaign), at most 100")
        if kind == "points_fixed" and (value <= 0 or value != value.to_integral_value()):
            raise ValueError("a whole number of points above 0")
        return value

    @model_validator(mode="after")
    def _by_type(self) -> Effect:
        kind = self.type
        if kind == "buy_x_get_y":
            if self.buy is None or self.get is None:
                raise ValueError("buy_x_get_y needs buy and get")
            return self
        if self.buy is not None or self.get is not None or self.percent is not None:
            raise ValueError("buy, get and percent belong to buy_x_get_y only")
        if self.value is None:
            raise ValueError(f"{kind} needs a value")
        return self

    @property
    def bxgy_percent(self) -> Decimal:
        return self.percent if self.percent is not None else ALL_OFF


class Hours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: str = Field(alias="from", examples=["10:00"])
    end: str = Field(alias="to", examples=["14:00"])

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("a time as HH:MM")
        return value

    @model_validator(mode="after")
    def _a_span(self) -> Hours:
        """A window that opens when it closes holds no moment; for all day, leave ``hours`` out."""
        if self.start == "24:00":
            raise ValueError('from: 24:00 only ends a window; a window from midnight starts at "00:00"')
        if self.start == self.end:
            raise ValueError("to: the same time as from would never apply; for all day, leave hours out")
        return self


def _without_nulls(data: Any, fields: frozenset[str]) -> Any:
    """``null`` for one of ``fields`` means what leaving it out means: its default."""
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if not (v is None and k in fields)}
    return data


class BirthdayWindow(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra=taking_null("days_before", "days_after")
    )

    days_before: WholeNumber = Field(0, ge=0, le=180)
    days_after: WholeNumber = Field(0, ge=0, le=180)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        return _without_nulls(data, frozenset({"days_before", "days_after"}))


class PointsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    valid_days: WholeNumber | None = Field(None, ge=1, le=36500)
    activation_delay_days: WholeNumber | None = Field(None, ge=0, le=3650)
    spend_condition: str | None = Field(None, max_length=2000)

    @field_validator("spend_condition")
    @classmethod
    def _spend(cls, value: str | None) -> str | None:
        return checked(value)


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    per_member: WholeNumber | None = Field(None, ge=1, le=MAX_COUNT)
    uses: WholeNumber | None = Field(None, ge=1, le=MAX_COUNT)
    budget_points: WholeNumber | None = Field(None, ge=1, le=MAX_POINTS)
    budget_money: PlainDecimal | None = Field(None, gt=0, le=MAX_AMOUNT)

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.per_member, self.uses, self.budget_points, self.budget_money))


# Fields with a default other than null: a null sent for one of them means what leaving it out
# means, as it does for the fields whose default is null (a client sending unset fields as null).
_NULL_MEANS_DEFAULT = frozenset(
    {"active", "weekdays", "stores", "cities", "countries", "tiers", "min_amount", "min_quantity"}
    | {"stacking", "priority", "limits"}
)


class CampaignIn(BaseModel):
    """Only ``name`` and ``effect`` are required; an absent field means no restriction."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra=taking_null(
            *sorted(_NULL_MEANS_DEFAULT),
            examples=[
                {
                    "name": "Columbia week",
                    "starts_at": "2026-12-01",
                    "ends_at": "2026-12-07",
                    "cities": ["Moscow"],
                    "condition": "brand = 'Columbia' and category = 'jackets'",
                    "effect": {"type": "points_multiplier", "value": "2"},
                }
            ],
        ),
    )

    name: str = Field(min_length=1, max_length=200)
    active: StrictBool = True  # a JSON boolean, as elsewhere: "no", "0" and 1 were taken
    starts_at: Day | None = None
    ends_at: Day | None = None
    weekdays: list[WholeNumber] = Field(
        default_factory=list, description="1 = Monday ... 7 = Sunday; empty: all"
    )
    hours: Hours | None = None
    stores: list[str] = Field(default_factory=list)
    cities: list[str] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)
    tiers: list[str] = Field(default_factory=list)
    birthday: BirthdayWindow | None = None
    condition: str | None = Field(None, max_length=4000)
    min_amount: PlainDecimal = Field(Decimal(0), ge=0, le=MAX_AMOUNT)
    min_quantity: WholeNumber = Field(0, ge=0, le=MAX_COUNT)
    effect: Effect
    points: PointsSettings | None = None
    stacking: Literal["line", "stackable", "exclusive"] = "line"
    priority: WholeNumber = Field(0, ge=-1_000_000, le=1_000_000)
    limits: Limits = Field(default_factory=Limits)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        return _without_nulls(data, _NULL_MEANS_DEFAULT)

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(day < 1 or day > 7 for day in value):
            raise ValueError("weekdays are 1 (Monday) to 7 (Sunday)")
        return sorted(set(value))

    @field_validator("condition")
    @classmethod
    def _check_condition(cls, value: str | None) -> str | None:
        return checked(value)

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        return [country.upper() for country in value]

    # Rules across fields are checked on the later field (fields are validated in order), so that
    # an error names the field at fault, in the API's answer and by the admin form's input alike.
    @field_validator("ends_at")
    @classmethod
    def _ends(cls, value: date | None, info: ValidationInfo) -> date | None:
        starts = info.data.get("starts_at")
        if value is not None and starts is not None and value < starts:
            raise ValueError("before starts_at")
        return value

    @field_validator("limits")
    @classmethod
    def _budgets(cls, value: Limits, info: ValidationInfo) -> Limits:
        effect = info.data.get("effect")
        if effect is not None and value.budget_points is not None and effect.type in DISCOUNT_TYPES:
            raise ValueError("budget_points: this campaign gives no points")
        if effect is not None and value.budget_money is not None and effect.type in POINT_TYPES:
            raise ValueError("budget_money: this campaign gives no money off")
        return value


def check_for_program(definition: CampaignIn, quantum: Decimal, tiers: frozenset[str]) -> None:
    """What a new or changed campaign must also be under its program: money in the currency's
    minor unit, figures a basket can bear, tiers the program has. Checked when a campaign is
    saved (not when stored ones load), so that none can break the checkouts it applies to."""
    effect = definition.effect
    value = effect.value
    if value is not None and effect.type in ("discount_amount", "fixed_price"):
        if value > MAX_PRICE:
            raise InvalidInput(f"effect.value: at most {MAX_PRICE}", field="effect.value")
        if value != value.quantize(quantum):
            raise InvalidInput(f"effect.value: a whole number of {quantum}", field="effect.value")
    if value is not None and effect.type == "points_fixed" and value > MAX_POINTS:
        raise InvalidInput(f"effect.value: at most {MAX_POINTS} points", field="effect.value")
    if value is not None and effect.type == "points_multiplier" and value <= 1:
        # a multiplier gives (m - 1) x the base points: at 1 nothing, below 1 a cut no receipt showed
        raise InvalidInput("effect.value: a multiplier above 1, at most 100", field="effect.value")
    if definition.min_amount != definition.min_amount.quantize(quantum):
        raise InvalidInput(f"min_amount: a whole number of {quantum}", field="min_amount")
    budget = definition.limits.budget_money
    if budget is not None and budget != budget.quantize(quantum):
        raise InvalidInput(f"limits.budget_money: a whole number of {quantum}", field="limits.budget_money")
    unknown = sorted(set(definition.tiers) - tiers)
    if unknown:
        raise InvalidInput(f"tiers: the program has no tier {unknown[0]!r}", field="tiers")
    nowhere = sorted(set(definition.countries) - COUNTRIES)
    if nowhere:
        raise InvalidInput(f"countries: {nowhere[0]!r} is not an ISO 3166 country code", field="countries")
    # as a broadcast's city filter: a campaign that could never apply, though listed as active
    if any(is_blank(city) for city in definition.cities):
        raise InvalidInput(
            "cities: a blank city would match no store; leave cities empty for every city", field="cities"
        )
    if any(is_blank(code) for code in definition.stores):  # no store's code is blank
        raise InvalidInput(
            "stores: a blank store code would match no store; leave stores empty for every store",
            field="stores",
        )


def check_for_saving(definition: CampaignIn) -> None:
    """What any campaign being saved, active or not, must also be: a name that is not blank (spaces
    alone were taken), no value that means nothing for its effect. Not checked when stored ones
    load, so one saved before still applies."""
    if is_blank(definition.name):
        raise InvalidInput("name: is blank: spaces alone say nothing", field="name")
    if definition.effect.type == "buy_x_get_y" and definition.effect.value is not None:
        # as percent is refused on the other types; here, not in Effect, so that a campaign stored
        # with one still loads
        raise InvalidInput(
            "effect.value: buy_x_get_y takes buy, get and percent, not a value", field="effect.value"
        )
