"""Stores and products as clients send them. Pure validation."""

from __future__ import annotations

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, field_validator

from patron import clock
from patron.fields import Attributes, NotBlank, Sku

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class StoreIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "Tverskaya", "country": "RU", "city": "Moscow", "timezone": "Europe/Moscow"}
            ]
        },
    )

    name: NotBlank = Field(min_length=1, max_length=200)
    country: str | None = Field(None, description="ISO 3166 alpha-2")
    city: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, description="tz database name; the program's when absent")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            clock.place_zone(value)
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown ISO 3166 country {value!r}")
        return value.upper() if value else value


class ProductIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "Bugaboo jacket", "attributes": {"brand": "Columbia", "category": "jackets"}}
            ]
        },
    )

    name: NotBlank = Field("", max_length=500, description="none when empty; not blank (spaces alone)")
    attributes: Attributes = Field(default_factory=dict)


class ProductBulkItem(ProductIn):
    sku: Sku
