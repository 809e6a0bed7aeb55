"""What a client sends about a member; phones are normalised by the service with the program's
country, so they arrive here as free text."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from patron import clock
from patron.fields import day_text, taking_null


def latest_birthday(now: datetime, timezone: str) -> date:
    """The last date a birthday may be: today's date in the program's time zone (a member born
    "tomorrow" there got a birthday gift at once, for a day still to come)."""
    return now.astimezone(clock.zone(timezone)).date()


def card_problem(card: str) -> str | None:
    """Why a card number (already stripped) cannot be one, if it cannot: the API's rule and the
    importer's, so that every card stored can be named in a basket."""
    if not card or len(card) > 64:
        return "a card is 1 to 64 characters"
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in card):
        return "a card has no spaces, control or invisible characters"
    return None


_EMAIL: TypeAdapter[EmailStr] = TypeAdapter(EmailStr)


def normalized_email(text: str) -> str:
    """An email in the one form it is stored in (domain in Unicode, NFC, the address of "Name
    <address>"); ValueError if it is not an address. The API's rule and the importer's."""
    try:
        return str(_EMAIL.validate_python(text.strip()))
    except ValidationError as exc:
        raise ValueError(f"{text!r} is not an email address") from exc


def _born(value: date) -> date:
    """A birthday that has happened somewhere (today's date in the zone furthest ahead, UTC+14):
    the bound a body is checked with before its program is known; the service then holds it to
    today in the program's zone (``latest_birthday``)."""
    if value > (datetime.now(UTC) + timedelta(hours=14)).date() or value.year < 1900:
        raise ValueError("a date from 1900 to today")
    return value


Birthday = Annotated[date, BeforeValidator(day_text), AfterValidator(_born)]


class Consents(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sms: StrictBool = False
    email: StrictBool = False


class MemberIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=taking_null(
            "cards",
            "consents",
            examples=[
                {
                    "phone": "+7 900 123-45-67",
                    "email": "anna@example.com",
                    "name": "Anna",
                    "birthday": "1990-05-17",
                    "city": "Moscow",
                    "cards": ["2000001"],
                    "consents": {"sms": True, "email": False},
                }
            ],
        ),
    )

    phone: str = Field(
        min_length=1, max_length=40, description="any common format; stored as E.164 (at most 15 digits)"
    )
    email: EmailStr | None = None
    name: str | None = Field(None, max_length=200)
    birthday: Birthday | None = None
    city: str | None = Field(None, max_length=200)
    cards: list[str] = Field(default_factory=list, max_length=20)
    consents: Consents = Field(default_factory=Consents)

    @field_validator("cards", "consents", mode="before")
    @classmethod
    def _null_is_absent(cls, value: object, info: ValidationInfo) -> object:
        """``null``, as many serialisers write an empty optional field, means none given."""
        if value is None:
            return [] if info.field_name == "cards" else {}
        if (
            info.field_name == "cards"
            and isinstance(value, list)
            and not all(isinstance(c, str) for c in value)
        ):
            raise ValueError("a card is text, 1 to 64 characters")  # the words of every card's error
        return value


class MemberPatch(BaseModel):
    """Only the fields given change; ``null`` clears an optional field."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(None, min_length=1, max_length=40)
    email: EmailStr | None = None
    name: str | None = Field(None, max_length=200)
    birthday: Birthday | None = None
    city: str | None = Field(None, max_length=200)
    cards: list[str] | None = Field(
        None,
        max_length=20,
        description="cards to attach: the member's other cards stay (no card is detached by a PATCH);"
        " a card the member holds already is no change",
    )
    consents: Consents | None = Field(
        None, description="the channels given change; the other keeps its consent"
    )


class CardIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    card: str = Field(description="1 to 64 characters; spaces around it are dropped")

    @field_validator("card")
    @classmethod
    def _card(cls, value: str) -> str:
        # the rule and words of every other card (a pattern's message said "should match '^\\S+$'")
        problem = card_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value
