"""Reading one cell of an import file. Pure: no I/O.

A cell arrives as text (CSV) or as a typed value (Parquet: int, Decimal, float, bool, date,
datetime, str). Each reader returns the value Patron stores, or raises ``Bad`` whose message is
the reason written to the rejects file. Blank cells (empty or spaces only, or null) are absent:
``None`` from the optional readers, ``Bad("missing")`` from ``required``.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Context, Decimal, InvalidOperation
from functools import lru_cache

from patron import clock
from patron.conditions import ConditionError
from patron.conditions import validate as validate_condition
from patron.fields import parse_moment
from patron.members import phones
from patron.members.model import card_problem, normalized_email

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")
_INT = re.compile(r"[+-]?[0-9]+")
_MOST_DIGITS = 18  # within bigint
_E164 = re.compile(r"\+[1-9][0-9]{4,15}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NO_OFFSET = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?")
# Moments and dates from another system lie in this span: from the API's own lower bound to far
# enough from the year 10000 that a lot's validity or a tier window computed from them fits.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_MAX_MONEY = Decimal("1e12")
_MONEY = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,8})?")
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})
CACHE = 65_536  # distinct phones, conditions and zones remembered: bounded, so memory stays flat


class Bad(ValueError):
    """A cell (or row) that cannot load; the message says why."""


Cell = object


def cell_text(value: Cell) -> str:
    """A cell as text, for the rejects file and for reasons: a Parquet value as it is written
    (``2020-01-02``, ``5.5``, ``true``, bytes in hex), never its Python spelling
    (``datetime.date(2020, 1, 2)``, ``Decimal('5.5')``, ``b'...'``), so that the rejects file
    reads as the file did and, once corrected, imports again (16 bytes in hex read as a UUID)."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, float) and value == value and value not in (float("inf"), float("-inf")):
        # the decimal it prints as, in the form the import stores it (12345.0 was written back as
        # "12345.0", and a corrected rejects file then loaded the SKU "12345.0", not "12345")
        return number_text(value)
    if isinstance(value, Decimal) and value.is_finite():
        return format(value, "f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(cell_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {cell_text(item)}" for key, item in value.items()) + "}"
    return str(value)


_SHOWN = 60  # characters of a value a reason quotes


def shown(value: Cell) -> str:
    """A cell as a reason names it: text in quotes (``'1,5'``), a Parquet value as its text and
    what it is (``1980-01-02T00:00:00+00:00 (a timestamp)``); a long one cut short."""
    if type(value) is str:
        return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")
    written = cell_text(value)
    if len(written) > _SHOWN:
        written = written[:_SHOWN] + "…"
    return f"{written} ({_what(value)})"


def _what(value: Cell) -> str:
    kinds: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "a boolean"),
        (int, "an integer"),
        (float, "a float"),
        (Decimal, "a decimal"),
        (datetime, "a timestamp"),
        (date, "a date"),
        (time, "a time of day"),
        (timedelta, "a duration"),
        ((list, tuple), "a list"),
        (dict, "a struct"),
        (uuid.UUID, "a UUID"),
    ]
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} byte{'' if len(value) == 1 else 's'} of binary data, in hex"
    for kind, name in kinds:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def blank(value: Cell) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _stripped(value: Cell) -> str | None:
    """A cell as stripped text, None when blank (the fast path of every reader: CSV gives text)."""
    if value is None:
        return None
    out = (value if type(value) is str else _typed_text(value)).strip()
    return out or None


def _typed_text(value: Cell) -> str:
    """A Parquet value read where text is meant (a SKU, a name), as it is written rather than in
    Python's spelling (``1e+16``, ``12345.0``, ``2025-01-01 12:00:00``): a number as the plain
    decimal it prints as, a boolean as ``true``/``false``, a date or a zoned timestamp as RFC 3339.
    What has no one text refuses its row: binary data, a list or a struct, a float that is not
    a number, a timestamp without a time zone (Patron never guesses one) and a duration."""
    if isinstance(value, bytes | bytearray):
        raise Bad(f"{shown(value)} is not text")
    if isinstance(value, list | tuple | dict):
        raise Bad(f"{shown(value)} is not a single value")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float | Decimal):
        return number_text(value)
    if isinstance(value, datetime):
        return zoned(value).isoformat()
    if isinstance(value, timedelta):
        raise Bad(f"{shown(value)} is not text")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)  # an integer, a UUID


_EVERY_DIGIT = Context(prec=100)  # more digits than a Parquet decimal holds (76): normalize() never rounds


def number_text(value: float | Decimal) -> str:
    """A float or decimal as plain decimal text in one form, as a product's number attribute is
    stored: a float as the decimal it prints as, without an exponent or trailing zeros
    (``1e+16`` as ``10000000000000000``, ``12345.0`` as ``12345``, ``1e-05`` as ``0.00001``)."""
    number = Decimal(repr(value)) if isinstance(value, float) else value
    if not number.is_finite():
        raise Bad(f"{shown(value)} is not a number")
    return "0" if number.is_zero() else format(number.normalize(_EVERY_DIGIT), "f")


def text(value: Cell, *, max_length: int = 200) -> str | None:
    out = _stripped(value)
    if out is None:
        return None
    if len(out) > max_length:
        raise Bad(f"longer than {max_length} characters")
    if _CONTROL.search(out):
        raise Bad("contains a control character")
    return out


def sku(value: Cell) -> str | None:
    """A SKU as a basket takes it (``fields.Sku``): up to 64 characters, no control character."""
    return text(value, max_length=64)


def code(value: Cell) -> str | None:
    """Store codes: 1-64 letters, digits and ``_ . : -``, starting with a letter or digit."""
    out = _stripped(value)
    if out is not None and not CODE.fullmatch(out):
        raise Bad(f"{out!r} is not a code (letters, digits and _ . : -, at most 64)")
    return out


def integer(value: Cell, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    if type(value) is int:
        number = value
    elif type(value) is str or value is None:
        out = _stripped(value)
        if out is None:
            return None
        if not _INT.fullmatch(out):
            raise Bad(f"{out!r} is not a whole number")
        if len(out.lstrip("+-")) > _MOST_DIGITS:
            raise Bad(f"{out} is too large a number")
        number = int(out)
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value()
    ):
        number = int(value)
    else:
        raise Bad(f"{shown(value)} is not a whole number")
    if minimum is not None and number < minimum:
        raise Bad(f"{number} is below {minimum}")
    if maximum is not None and number > maximum:
        raise Bad(f"{number} is above {maximum}")
    return number


def money(value: Cell, quantum: Decimal) -> Decimal | None:
    """A non-negative amount with at most the currency's decimals, as a Decimal at ``quantum``.

    A float (Parquet) is read as the decimal it prints as."""
    if type(value) is str or value is None:
        out = _stripped(value)
        if out is None:
            return None
        if not _MONEY.fullmatch(out):
            raise Bad(f"{out!r} is not an amount (digits with an optional decimal point)")
        amount = Decimal(out)
    elif isinstance(value, bool):
        raise Bad(f"{shown(value)} is not an amount")
    elif isinstance(value, Decimal | int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))
    else:
        raise Bad(f"{shown(value)} is not an amount")
    if not amount.is_finite() or amount < 0 or amount >= _MAX_MONEY:
        raise Bad(f"{shown(value)} is not an amount between 0 and 999999999999")
    try:
        exact = amount.quantize(quantum)
    except InvalidOperation as exc:
        raise Bad(f"{shown(value)} is not an amount") from exc
    if exact != amount:
        raise Bad(f"{shown(value)} has more decimals than the currency")
    return exact


def timestamp(value: Cell) -> datetime | None:
    """RFC 3339 with an offset (``2024-05-01T10:00:00+03:00``, ``...Z``), read by the API's own
    rule (``fields.parse_moment``), so that a file and a request take the same times: Python's
    ``fromisoformat`` also took week dates, the basic format and offsets without minutes."""
    if blank(value):
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        written = value.strip()
        try:
            moment = parse_moment(written)
        except ValueError as exc:
            if _NO_OFFSET.fullmatch(written):
                raise Bad(f"{shown(value)} has no offset (give one, such as +03:00 or Z)") from exc
            raise Bad(f"{shown(value)} is not a timestamp (RFC 3339 with an offset)") from exc
    else:
        raise Bad(f"{shown(value)} is not a timestamp")
    zoned(moment)
    if not EARLIEST <= moment < LATEST:
        raise Bad(f"{shown(value)} is not between {EARLIEST.year} and {LATEST.year}")
    return moment


def zoned(moment: datetime) -> datetime:
    """A Parquet timestamp, refused without a time zone: Patron never guesses one."""
    if moment.utcoffset() is None:
        raise Bad(f"{shown(moment)} has no time zone (Patron never guesses one)")
    return moment


def day(value: Cell) -> date | None:
    if blank(value):
        return None
    if isinstance(value, datetime):
        raise Bad(f"{shown(value)} is not a date")
    if isinstance(value, date):
        result = value
    elif isinstance(value, str) and _DAY.fullmatch(value.strip()):
        try:
            result = date.fromisoformat(value.strip())
        except ValueError as exc:
            raise Bad(f"{shown(value)} is not a date (YYYY-MM-DD)") from exc
    else:
        raise Bad(f"{shown(value)} is not a date (YYYY-MM-DD)")
    if not EARLIEST.date() <= result < LATEST.date():
        raise Bad(f"{shown(value)} is not between {EARLIEST.year} and {LATEST.year}")
    return result


def birthday(value: Cell, today: date) -> date | None:
    """A date that has come (as the API's: from 1900 to ``today``, the date in the program's zone)."""
    born = day(value)
    if born is not None and born > today:
        raise Bad(f"{shown(value)} is in the future")
    return born


def boolean(value: Cell) -> bool | None:
    if blank(value):
        return None
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise Bad(f"{shown(value)} is not true or false")


def member_uuid(value: Cell) -> str | None:
    """Text in any form ``uuid.UUID`` reads, or (Parquet) a UUID or its 16 bytes, as exports of
    a binary(16) column give it."""
    if blank(value):
        return None
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray) and len(value) == 16:
        return str(uuid.UUID(bytes=bytes(value)))
    if type(value) is not str:
        raise Bad(f"{shown(value)} is not a UUID (text, or 16 bytes)")
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError as exc:
        raise Bad(f"{shown(value)} is not a UUID") from exc


def email(value: Cell) -> str | None:
    """In the form the API stores (``members.model.normalized_email``), so that a lookup finds it
    and the uniqueness checks compare like with like."""
    out = text(value, max_length=320)
    if out is None:
        return None
    try:
        return normalized_email(out)
    except ValueError:
        raise Bad(f"{out!r} is not an email address") from None


def timezone(value: Cell) -> str | None:
    out = text(value, max_length=64)
    if out is not None:
        _zone(out)
    return out


@lru_cache(maxsize=CACHE)
def _zone(name: str) -> None:
    try:
        clock.place_zone(name)
    except ValueError as exc:
        raise Bad(f"{name!r} is not a time zone of a place") from exc


def phone(value: Cell, country: str | None) -> str | None:
    """E.164, normalised with the program's country exactly as the API does."""
    raw = _phone_text(value)
    return None if raw is None else _phone(raw, country)


def _phone_text(value: Cell) -> str | None:
    """A phone cell's text. A number (a Parquet integer column) is refused, as the API refuses
    one: 4915200000012 has lost its ``+`` (and any leading zero), so it would be read as a
    national number of the program's country, +494915200000012."""
    if value is not None and type(value) is not str:
        raise Bad(f"{shown(value)} is not text: write a phone number as text, with its + and country code")
    return _stripped(value)


def phone_key(value: Cell, country: str | None) -> str | None:
    """A phone that names an existing member: as ``phone``, but text already in E.164 form is
    taken as it is. Only a valid number can belong to a member, so an invalid one is simply not
    found; this spares the phone library for the common case (it costs ~30 µs a number)."""
    raw = _phone_text(value)
    if raw is None:
        return None
    return raw if _E164.fullmatch(raw) else _phone(raw, country)


@lru_cache(maxsize=CACHE)
def _phone(raw: str, country: str | None) -> str:
    try:
        return phones.normalize(raw, country)
    except ValueError as exc:
        said = str(exc) if isinstance(exc, phones.Explained) else "not a phone number"  # as the API says
        raise Bad(f"{raw!r} is {said}") from exc


def condition(value: Cell) -> str | None:
    out = text(value, max_length=2000)
    if out is not None:
        _condition(out)
    return out


@lru_cache(maxsize=CACHE)
def _condition(source: str) -> None:
    try:
        validate_condition(source)
    except ConditionError as exc:
        raise Bad(f"invalid condition: {exc}") from exc


def _card_text(value: Cell) -> str | None:
    """A card cell's text. A number (a Parquet integer column) is refused, as the API refuses one:
    card 0012345 read from an integer is 12345, another card."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        raise Bad(
            f"{shown(value)} is not text: write a card number as text (a number loses its leading zeros)"
        )
    return _stripped(value)


def card_key(value: Cell) -> str | None:
    """A card that names an existing member (``member_card``)."""
    return text(_card_text(value), max_length=64)


def cards(value: Cell, separator: str = "|") -> list[str]:
    """A member's cards joined by ``|``: each 1-64 characters without spaces, none twice."""
    joined = _card_text(value)
    if joined is None:
        return []
    found = [part.strip() for part in joined.split(separator)]
    for card in found:
        problem = card_problem(card)  # the API's rule
        if problem is not None:
            raise Bad(f"card {card!r}: {problem}")
    if len(set(found)) != len(found):
        raise Bad("the same card is listed twice")
    return found


def required(value: object) -> object:
    """Fails on an absent value; used as ``required(reader(cell))``."""
    if value is None:
        raise Bad("missing")
    return value
