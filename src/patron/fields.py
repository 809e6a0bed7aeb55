"""Field types shared by the request models: numbers exactly as contract 2 writes them.

Pydantic's lax mode would take ``true`` as the point 1 and ``"5"`` as the number 5, and Python's
integers have no bound; a till that sends such values has a bug that should come back as a 422,
not as a receipt. The bounds keep every figure within what PostgreSQL's columns hold (``bigint``,
``numeric(16, 4)``), so that no request can fail later, deep in a transaction. Pure: no I/O."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from decimal import Context, Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    PlainValidator,
    Strict,
)
from pydantic.config import JsonDict, JsonValue
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

MAX_POINTS = 10**12  # far beyond any program, far within bigint
MAX_AMOUNT = Decimal(10) ** 11  # a receipt's money at most: numeric(16, 4) holds below 10**12
MAX_PRICE = Decimal(10) ** 9  # a unit price at most
MAX_COUNT = 10**9  # quantities, uses and other counts

# A JSON integer: never true/false, never text. Each field gives its own bounds (a field's
# ``Field(ge=...)`` does not narrow bounds set here, so there are none here).
WholeNumber = Annotated[int, Strict()]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def sku_text(value: str) -> str:
    """A SKU as tills and catalogs write it: no control character, no space at either end. Any
    SKU a basket may carry can be put in the catalog (and imported), so its attributes can apply."""
    if _CONTROL.search(value) or value != value.strip():
        raise ValueError("a SKU has no control characters and no spaces at either end")
    return value


Sku = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(sku_text)]


def unfit_number(value: str) -> bool:
    """Whether a receipt's or a return's number has spaces at either end, or anywhere a character
    of Unicode category C or a line break: a control (C0 and C1), a format character (a BOM, a
    zero-width space, a direction mark, a soft hyphen), a private-use, surrogate or unassigned
    one, U+2028 or U+2029. A till that padded its number, ended it with a line break or began it
    with a BOM now and then recorded the sale twice instead of getting the repeat's 200."""
    return value != value.strip() or any(
        unicodedata.category(ch)[0] == "C" or ch in "\u2028\u2029" for ch in value
    )


def number_text(value: str) -> str:
    """A receipt's or a return's number: the idempotency key (``unfit_number``). ``patron import``
    strips the spaces and refuses the rest alike."""
    if unfit_number(value):
        raise ValueError("a number has no control or invisible characters and no spaces at either end")
    return value


Number = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(number_text)]


def is_blank(value: str) -> bool:
    """Whether ``value`` shows nothing: whitespace and format characters alone (category Cf: a
    zero-width space, a BOM, a direction mark), or nothing at all."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in value)


def not_blank(value: str) -> str:
    """A name or body that shows nothing names or says nothing (stores, products, keys, templates
    and broadcasts were saved so, of spaces or of a zero-width space). Empty stays empty, for the
    fields where that means none given."""
    if value and is_blank(value):
        raise ValueError("is blank: spaces alone say nothing")
    return value


NotBlank = Annotated[str, AfterValidator(not_blank)]

ATTRIBUTE_DIGITS = 60  # a decimal attribute: below 10**60, to at most 60 places
_EVERY_DIGIT = Context(prec=2 * ATTRIBUTE_DIGITS + 1)  # normalize() rounds to its context's precision


def attribute_number(value: Decimal) -> Decimal:
    """A decimal attribute that stays a number wherever it is read: the catalog stores it as plain
    decimal text (``1e-7`` as ``0.0000001``), which conditions read as a number, so its size is
    bounded; and in one form, without trailing zeros (``2.50`` and ``2.5`` are ``2.5``, ``100.0`` is
    ``100``), as the API and the importer alike store it."""
    exponent = value.normalize(_EVERY_DIGIT).as_tuple().exponent
    if not isinstance(exponent, int):  # NaN or an infinity
        raise ValueError("a number attribute is finite")
    if abs(value) >= Decimal(10) ** ATTRIBUTE_DIGITS or exponent < -ATTRIBUTE_DIGITS:
        raise ValueError(
            f"a number attribute is below 10**{ATTRIBUTE_DIGITS}, to at most {ATTRIBUTE_DIGITS} places"
        )
    return Decimal(0) if value.is_zero() else value.normalize(_EVERY_DIGIT)


def attribute_value(value: Any) -> str | int | bool | Decimal:
    """An attribute's value, in the catalog or on a basket's line: text, a whole number within 64
    bits (a larger one is taken as a Decimal, which conditions compare alike and JSON storage can
    hold: a catalog's 10**20 was a 500), a boolean or a decimal. One message for anything else,
    rather than one per type of the union."""
    if isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else attribute_number(Decimal(value))
    if isinstance(value, float):
        return attribute_number(Decimal(repr(value)))  # the number as JSON wrote it, not the binary one
    if isinstance(value, Decimal):
        return attribute_number(value)
    raise ValueError("an attribute's value is text, a number or true/false (not null, a list or an object)")


def _attribute_json(value: str | int | bool | Decimal) -> str | int | bool:
    return format(value, "f") if isinstance(value, Decimal) else value  # never "1E-7"


AttributeValue = Annotated[
    str | int | bool | Decimal,
    PlainValidator(attribute_value, json_schema_input_type=str | int | float | bool),
    PlainSerializer(_attribute_json, when_used="json"),
]
RESERVED_ATTRIBUTES = frozenset({"sku", "price", "quantity"})  # a line's own figures, never an attribute


def attribute_names(value: dict[str, Any]) -> dict[str, Any]:
    """The same names in the catalog and on a basket's line (the line's were taken and ignored),
    in one Unicode form (NFC), as conditions name them: a decomposed "größe" is "größe"."""
    named: dict[str, Any] = {}
    for key, item in value.items():
        if not key or len(key) > 64 or key in RESERVED_ATTRIBUTES:
            raise ValueError(
                f"attribute name {key!r} is empty, longer than 64 or reserved (sku, price, quantity)"
            )
        if any(unicodedata.category(ch) == "Cc" for ch in key):  # no condition could name it
            raise ValueError(f"attribute name {key!r} holds a control character (a line break)")
        name = unicodedata.normalize("NFC", key)
        if name in named:
            raise ValueError(f"attribute name {name!r} is given twice, in two Unicode forms")
        named[name] = item
    return named


Attributes = Annotated[dict[str, AttributeValue], AfterValidator(attribute_names)]

_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def decimal_text(value: Any) -> Any:
    """Money as contract 2 writes it: a decimal string such as ``"49.90"``; no number, no
    exponent, no spaces or separators."""
    if not isinstance(value, str) or not _DECIMAL_TEXT.fullmatch(value):
        raise ValueError('money is a decimal string such as "49.90"')
    return value


MoneyText = Annotated[Decimal, BeforeValidator(decimal_text)]


def plain(value: Decimal) -> Decimal:
    """``1e2`` as ``100``: a decimal given with an exponent is echoed back without one; ``-0`` as ``0``."""
    if value.is_zero():
        return value.copy_abs()
    exponent = value.as_tuple().exponent
    return Decimal(format(value, "f")) if isinstance(exponent, int) and exponent > 0 else value


# ASCII digits only, no separators or spaces: Python's Decimal also reads "5_0" as 50, "٥" as 5
# and " 5 " as 5, and a typo must not become a 50% earning rate. An exponent is taken ("1e2").
_SETTING_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?")


def no_fraction_number(value: Any) -> Any:
    """A setting's decimal as text (``"7.5"``) or a whole JSON number (``7``): a JSON fraction
    (``7.5``) is a binary float on its way in (contract 2: never floats), and ``true`` no number."""
    if isinstance(value, bool | float):
        raise ValueError('give a decimal as text, such as "7.5"')
    if isinstance(value, str) and not _SETTING_DECIMAL.fullmatch(value):
        raise ValueError('give a decimal in ASCII digits, such as "7.5", without spaces or separators')
    return value


# Marks, in a request schema, a decimal that also takes a whole JSON number (api/errors.py then
# publishes it as text or integer); money in a basket is text only.
WHOLE_NUMBER_TOO = "x-whole-number-too"


class _WholeNumberToo:
    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), WHOLE_NUMBER_TOO: True}


PlainDecimal = Annotated[
    Decimal, BeforeValidator(no_fraction_number), AfterValidator(plain), _WholeNumberToo()
]


# RFC 3339 as contract 2 writes a time: a date, a time with optional fraction, and an offset. A
# JSON number (Unix seconds) or a week date is not a time a till sends; pydantic's lax mode would
# read 0 as 1970 and book a receipt there.
_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MOMENT_HINT = 'give a timestamp with an offset (RFC 3339), such as "2026-12-05T12:00:00+03:00"'


def moment_text(value: Any) -> Any:
    if isinstance(value, datetime):  # built in code, not read from JSON
        return value
    if not isinstance(value, str) or not _MOMENT.fullmatch(value):
        raise ValueError(MOMENT_HINT)
    return value


def day_text(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ValueError('give a date as "YYYY-MM-DD"')
    return value


Moment = Annotated[datetime, BeforeValidator(moment_text)]
Day = Annotated[date, BeforeValidator(day_text)]


def parse_moment(text: str) -> datetime:
    """A query's time, by the same rule as a body's ``Moment``; ValueError if it is not one."""
    moment_text(text)
    return datetime.fromisoformat(text.upper())


_ANNOTATIONS = ("title", "description", "default", "examples")


def taking_null(*names: str, **extra: JsonValue) -> Callable[[JsonDict], None]:
    """A request model's ``json_schema_extra``: its fields ``names`` take ``null``, meaning absent (as
    many serialisers write an unset field), which the schema of their type does not say; ``extra``
    goes into the schema as it is (examples)."""

    def amend(schema: JsonDict) -> None:
        schema.update(extra)
        properties = schema["properties"]
        assert isinstance(properties, dict)
        for name in names:
            field = properties[name]
            assert isinstance(field, dict)
            shape = {key: value for key, value in field.items() if key not in _ANNOTATIONS}
            said = {key: value for key, value in field.items() if key in _ANNOTATIONS}
            properties[name] = {**said, "anyOf": [shape, {"type": "null"}]}

    return amend
