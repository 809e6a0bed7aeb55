"""What a client sends to configure communications, broadcasts and webhooks (contract 9 and 10)."""

from __future__ import annotations

import re
from datetime import date
from email.headerregistry import HeaderRegistry
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    field_validator,
)

from patron.backoffice.masking import holds_mask
from patron.backoffice.outbox import EVENT_TYPES
from patron.backoffice.templates import TRIGGERS
from patron.fields import Moment, NotBlank, WholeNumber, day_text, parse_moment

Channel = Literal["sms", "email"]


def _http_url(value: str) -> str:
    from urllib.parse import urlsplit

    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("a URL has no spaces, line breaks or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL is needed")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"a URL's port is a number from 1 to 65535: {exc}") from exc
    if port == 0:
        raise ValueError("a URL's port is a number from 1 to 65535")
    if holds_mask(value):
        raise ValueError(
            "the URL holds *** where a secret is hidden when shown: give the secret itself"
            " (sent as it is, the secret would become ***)"
        )
    return value


def _no_line_breaks(value: str | None) -> str | None:
    """A header (an SMTP host, an email subject) may not carry a line break: it would end the
    header, and every send would fail or smuggle in another."""
    if value is not None and any(ch in value for ch in "\r\n\0"):
        raise ValueError("no line breaks")
    return value


def _one_or_more(value: object, what: str, allowed: tuple[str, ...] = ()) -> object:
    """A filter's text or list of texts, kept as given. One validator for both forms, so that an
    error names the field (a union's errors named its members: ``filter.tier.str``)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"a {what} or a list of them")
    if not items:
        raise ValueError("an empty list would select no one; leave the field out to select everyone")
    if any(not item.strip() for item in items):
        raise ValueError(f"a blank {what} would select no one; leave the field out to select everyone")
    if allowed and (unknown := [item for item in items if item not in allowed]):
        raise ValueError(f"{unknown[0]!r} is not a {what}: {' or '.join(map(repr, allowed))}")
    return value


def _tiers(value: object) -> object:
    return _one_or_more(value, "tier code")


def _cities(value: object) -> object:
    return _one_or_more(value, "city")


def _channels(value: object) -> object:
    return _one_or_more(value, "channel", ("sms", "email"))


TierCodes = Annotated[str | list[str], PlainValidator(_tiers, json_schema_input_type=str | list[str])]
Cities = Annotated[str | list[str], PlainValidator(_cities, json_schema_input_type=str | list[str])]
Channels = Annotated[
    Channel | list[Channel], PlainValidator(_channels, json_schema_input_type=Channel | list[Channel])
]


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,200}")

# Headers Patron's HTTP client sets for each message, or that hold for one connection only (hop by
# hop, RFC 9110 7.6.1): given in the channel, each broke every send (a wrong Content-Length was a
# 500 from the provider, Transfer-Encoding a 400) or changed what the contract says is sent (JSON).
_RESERVED_HEADERS = {
    "content-length": "is worked out for each message's body",
    "content-type": "is application/json: Patron sends JSON",
    "content-encoding": "would say the JSON body is encoded when it is not",
    "host": "comes from the URL",
    "transfer-encoding": "is the HTTP client's to choose",
    "connection": "holds for one connection only and is the HTTP client's to set",
    "keep-alive": "holds for one connection only and is the HTTP client's to set",
    "proxy-connection": "holds for one connection only and is the HTTP client's to set",
    "te": "holds for one connection only and is the HTTP client's to set",
    "trailer": "holds for one connection only and is the HTTP client's to set",
    "upgrade": "holds for one connection only and is the HTTP client's to set",
}


def _a_rate(value: object) -> object:
    """A rate is a JSON number: ``true`` or ``"50"`` is a mistake, not 1 or 50 a second."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("a number of messages a second, such as 50 or 0.5")
    return value


Rate = Annotated[float, BeforeValidator(_a_rate)]


class SmsChannelIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://sms.example.com/send",
                    "rate_per_second": 50,
                    "headers": {"Authorization": "Bearer ..."},
                }
            ]
        },
    )

    url: str = Field(max_length=2000, description="Patron POSTs {id, to, text} here")
    rate_per_second: Rate = Field(ge=0.01, le=100_000, description="never more, across all workers")
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every request")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        # a header that the HTTP client would refuse, that would smuggle in another header, or
        # that is the client's own to set, would fail every message at sending time instead of here
        for name, text in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            if (why := _RESERVED_HEADERS.get(name.lower())) is not None:
                raise ValueError(f"{name} may not be set: it {why}")
            if any(ch in text for ch in "\r\n\0"):
                raise ValueError(f"the value of {name} has a line break or NUL")
        return value


_ADDRESS = re.compile(r'[^@\s<>,;:"\\]+@[^@\s<>,;:"\\]+')


def sender_address(value: str) -> str | None:
    """The address of an email sender written as one mailbox ("Club <club@example.com>"), as
    Python's mail parser reads it, or None when it is not exactly one clean mailbox: two (they
    break RFC 5322 in From), text the parser reads otherwise (``Club [Berlin] <...>`` was sent
    from ``<Club>``), or a character that breaks a header line."""
    if len(value.splitlines()) != 1 or "\0" in value:
        return None
    try:
        header = HeaderRegistry()("From", value)
    except (ValueError, IndexError, TypeError):
        return None
    addresses = tuple(getattr(header, "addresses", ()))  # a From header is an address header
    if header.defects or len(addresses) != 1:
        return None
    address = str(addresses[0].addr_spec)
    return address if _ADDRESS.fullmatch(address) else None


class EmailChannelIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"host": "smtp.example.com", "port": 587, "from": "club@example.com", "starttls": True}
            ]
        },
    )

    host: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._:\[\]-]+$")
    port: WholeNumber = Field(ge=1, le=65535)
    from_: str = Field(
        alias="from",
        min_length=3,
        max_length=320,
        description='an address, or a name and an address: "Club <club@example.com>"',
    )
    username: str | None = Field(None, max_length=320)
    password: str | None = Field(None, max_length=1000)
    starttls: StrictBool = False
    rate_per_second: Rate | None = Field(None, ge=0.01, le=100_000, description="optional limit")

    @field_validator("from_")
    @classmethod
    def _sender(cls, value: str) -> str:
        if sender_address(value) is None:
            raise ValueError('an email address, or a name and one: "Club <club@example.com>"')
        return value


class TemplateIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel": "sms",
                    "locale": "ru_RU",
                    "body": "{{ member.name }}, +{{ points_earned }} баллов. Баланс: {{ balance }}",
                }
            ]
        },
    )

    channel: Channel
    locale: str = Field("en", min_length=2, max_length=20, description="a locale such as en, ru_RU, de-DE")
    subject: str | None = Field(None, max_length=1000, description="email only")
    body: NotBlank = Field(min_length=1, max_length=20_000)

    _subject = field_validator("subject")(_no_line_breaks)


class BroadcastFilter(BaseModel):
    """Members to reach. Every given condition must hold; consent to the broadcast's channel is
    always required. Dates are local midnight in the program's time zone."""

    model_config = ConfigDict(extra="forbid")

    tier: TierCodes | None = Field(None, description="tier code(s)")
    city: Cities | None = Field(None, description="city or cities (case and Unicode form ignored)")
    last_purchase_before: str | None = Field(
        None,
        description="date or RFC 3339 time: the latest receipt is before it (members with none are left out)",
    )
    last_purchase_after: str | None = Field(
        None, description="date or RFC 3339 time: the latest receipt is at or after it"
    )
    consent: Channels | None = Field(None, description="consent to these channels as well")

    @field_validator("last_purchase_before", "last_purchase_after")
    @classmethod
    def _moment(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) == 10:
            day_text(value)
            date.fromisoformat(value)
            return value
        try:
            return parse_moment(value).isoformat()
        except ValueError:
            raise ValueError("give a date (YYYY-MM-DD) or a timestamp with an offset (RFC 3339)") from None


class BroadcastIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel": "sms",
                    "body": "{{ member.name }}, -20% on skis this weekend!",
                    "filter": {
                        "tier": ["silver", "gold"],
                        "city": "Moscow",
                        "last_purchase_after": "2026-01-01",
                    },
                }
            ]
        },
    )

    channel: Channel
    body: NotBlank = Field(min_length=1, max_length=20_000, description="a template: member variables only")
    subject: str | None = Field(None, max_length=1000, description="email only")
    locale: str = Field("en", min_length=2, max_length=20, description="for money and date formatting")

    _subject = field_validator("subject")(_no_line_breaks)
    filter: BroadcastFilter = Field(default_factory=BroadcastFilter)
    send_at: Moment | None = Field(
        None, description="when to start sending (RFC 3339 with an offset); absent or past: at once"
    )


Event = Literal[
    "member.created",
    "member.tier_changed",
    "receipt.confirmed",
    "receipt.returned",
    "receipt.cancelled",
    "points.adjusted",
    "points.birthday",
]
assert set(Event.__args__) == set(EVENT_TYPES)  # type: ignore[attr-defined]

# What the message log's ``trigger`` filter takes: a template's trigger, or a broadcast's messages.
MessageTrigger = Literal["receipt", "points_expiring", "birthday", "tier_changed", "welcome", "broadcast"]
assert set(MessageTrigger.__args__) == {*TRIGGERS, "broadcast"}  # type: ignore[attr-defined]


class WebhookIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://crm.example.com/patron",
                    "events": ["receipt.confirmed", "member.tier_changed"],
                    "secret": "a long random string",
                }
            ]
        },
    )

    url: str = Field(max_length=2000)
    events: list[Event] = Field(min_length=1, max_length=len(EVENT_TYPES))
    secret: str = Field(min_length=1, max_length=500, description="signs each body (HMAC-SHA256)")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        # a signature with a secret of spaces proves nothing: anyone can guess it
        if not value.strip():
            raise ValueError("a secret is not blank: give a long random string")
        return value
