"""Baskets, receipts and returns as tills send them. Shape only; the service checks the rest
(store exists, prices fit the currency, ``at`` not in the future)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from patron.fields import (
    MAX_AMOUNT,
    MAX_POINTS,
    MAX_PRICE,
    Attributes,
    Moment,
    MoneyText,
    Number,
    Sku,
    WholeNumber,
)

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)  # a receipt's ``at``: tier windows reach back 100 years


class MemberRef(BaseModel):
    """Exactly one of ``id``, ``phone`` or ``card``."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    phone: str | None = Field(None, max_length=40)
    card: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _one(self) -> MemberRef:
        if sum(value is not None for value in (self.id, self.phone, self.card)) != 1:
            raise ValueError("give exactly one of id, phone or card")
        return self


class BasketLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    quantity: WholeNumber = Field(ge=1, le=1_000_000)
    price: MoneyText = Field(ge=0, le=MAX_PRICE, description="unit price before discounts")
    attributes: Attributes = Field(default_factory=dict)


class Basket(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "store": "S001",
                    "at": "2026-12-05T12:00:00+03:00",
                    "member": {"phone": "+79001234567"},
                    "lines": [
                        {"sku": "A1", "quantity": 2, "price": "49.90", "attributes": {"brand": "Columbia"}}
                    ],
                    "spend_points": 0,
                    "coupons": [],
                }
            ]
        },
    )

    store: str = Field(min_length=1, max_length=64)
    at: Moment | None = Field(None, description="default: now; at most 5 minutes in the future")
    member: MemberRef | None = None
    lines: list[BasketLine] = Field(min_length=1, max_length=1000)
    spend_points: int | Literal["max"] = Field(0, description='a whole number, or "max"')
    coupons: list[str] = Field(default_factory=list, description="reserved: must be empty for now")

    @field_validator("spend_points", mode="before")
    @classmethod
    def _spend(cls, value: object) -> object:
        if value == "max":
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_POINTS:
            raise ValueError(f'a whole number of points from 0 to {MAX_POINTS}, or "max"')
        return value

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a timestamp with an offset (RFC 3339)")
        if value is not None and value < EARLIEST:
            raise ValueError(f"not before {EARLIEST.date()}")
        return value

    @field_validator("lines")
    @classmethod
    def _total(cls, value: list[BasketLine]) -> list[BasketLine]:
        if sum(line.price * line.quantity for line in value) > MAX_AMOUNT:
            raise ValueError(f"the basket comes to more than {MAX_AMOUNT}")
        return value

    @field_validator("coupons")
    @classmethod
    def _coupons(cls, value: list[str]) -> list[str]:
        if value:
            raise ValueError("coupons are not supported yet: send an empty list")
        return value


class ReceiptIn(Basket):
    number: Number = Field(
        description="the store's own receipt number: no spaces at either end, no control characters"
    )


class ReturnLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: WholeNumber = Field(ge=1, le=1000, description="the line's 1-based position in the receipt")
    quantity: WholeNumber = Field(ge=1, le=1_000_000)


class ReturnIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"number": "RET-1", "lines": [{"line": 1, "quantity": 1}]}]},
    )

    number: Number = Field(
        description="idempotency key within the receipt: no spaces at either end, no control characters"
    )
    lines: list[ReturnLine] = Field(min_length=1, max_length=1000)

    @field_validator("lines")
    @classmethod
    def _distinct(cls, value: list[ReturnLine]) -> list[ReturnLine]:
        if len({item.line for item in value}) != len(value):
            raise ValueError("a line appears twice")
        return value
