"""Money and point arithmetic: exact Decimal amounts, integer points, the contract's rounding rules.

Everything here is exact. Money is ``decimal.Decimal`` in a currency's minor unit (never float),
points are ``int``. Splits use the largest-remainder rule so the parts always add up to the whole,
and returns use cumulative shares so that giving back every unit returns exactly the original figure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import overload

from babel.numbers import get_currency_precision, is_currency

__all__ = [
    "cumulative_money_share",
    "cumulative_share",
    "format_money",
    "half_up_int",
    "integer_weights",
    "minor_units",
    "parse_money",
    "quantum",
    "round_down_int",
    "round_half_up",
    "share_for_return",
    "split_ints",
    "split_largest_remainder",
    "split_money",
]

_MONEY_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_MAX_MONEY_TEXT = 64  # long enough for any real amount; stops absurd inputs before Decimal sees them


# --- currencies ---------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def minor_units(currency: str) -> int:
    """Number of decimals of ``currency`` (EUR 2, JPY 0, KWD 3), as ISO 4217 / CLDR define it.

    Unknown codes raise ValueError rather than silently getting babel's default of 2.
    """
    if not is_currency(currency):
        raise ValueError(f"unknown currency {currency!r}")
    return int(get_currency_precision(currency))


def quantum(currency: str) -> Decimal:
    """The currency's minor unit as a Decimal exponent template: Decimal('0.01'), Decimal('1'), ..."""
    return Decimal((0, (1,), -minor_units(currency)))


# --- rounding -----------------------------------------------------------------------------------


def _finite(value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"expected a finite Decimal, got {value!r}")
    return value


def round_half_up(value: Decimal, quantum: Decimal) -> Decimal:
    """Round to ``quantum`` with halves away from zero (commercial rounding, not banker's)."""
    return _finite(value).quantize(quantum, rounding=ROUND_HALF_UP)


def round_down_int(value: Decimal) -> int:
    """Whole points from an exact figure, rounded down (floor); the contract only uses it on >= 0."""
    return int(_finite(value).to_integral_value(rounding=ROUND_FLOOR))


def half_up_int(value: Decimal) -> int:
    """Whole points rounded half up (2.5 -> 3; negatives mirror positives: -2.5 -> -3)."""
    return int(_finite(value).to_integral_value(rounding=ROUND_HALF_UP))


def _in_minor_units(amount: Decimal, quantum: Decimal) -> int:
    """``amount`` as an integer count of ``quantum``; it must be an exact multiple."""
    try:
        exact = _finite(amount).quantize(quantum)
    except InvalidOperation:
        raise ValueError(f"{amount} is too large for {quantum}") from None
    if exact != amount:
        raise ValueError(f"{amount} is not a whole number of {quantum}")
    sign, digits, _ = exact.as_tuple()
    units = int("".join(map(str, digits)))
    return -units if sign else units


def _from_minor_units(units: int, quantum: Decimal) -> Decimal:
    return (Decimal(units) * quantum).quantize(quantum)


# --- splits -------------------------------------------------------------------------------------


def integer_weights(weights: Sequence[Decimal | int]) -> list[int]:
    """Weights as integers with a common decimal scale (same ratios), so shares can be exact."""
    exponents = [0]
    for weight in weights:
        if isinstance(weight, Decimal):
            _finite(weight)
            exponents.append(int(weight.as_tuple().exponent))
        elif not isinstance(weight, int):
            raise TypeError(f"weights must be Decimal or int, got {type(weight).__name__}")
        if weight < 0:
            raise ValueError(f"weights must not be negative, got {weight}")
    scale = -min(exponents)
    factor = 10**scale
    scaled = []
    for weight in weights:
        if isinstance(weight, int):
            scaled.append(weight * factor)
        else:
            _sign, digits, exponent = weight.as_tuple()
            coefficient = int("".join(map(str, digits)) or "0")
            scaled.append(coefficient * 10 ** (int(exponent) + scale))
    return scaled


def split_ints(total: int, weights: Sequence[int]) -> list[int]:
    """Largest-remainder split over non-negative integer weights (see split_largest_remainder)."""
    if total < 0:
        return [-part for part in split_ints(-total, weights)]
    if not weights:
        if total:
            raise ValueError("cannot split a non-zero total over no weights")
        return []
    weight_sum = sum(weights)
    if weight_sum == 0:
        # Nothing to be proportional to: treat every entry alike rather than dumping all on one.
        weights = [1] * len(weights)
        weight_sum = len(weights)
    parts = []
    remainders = []
    for weight in weights:
        part, remainder = divmod(total * weight, weight_sum)
        parts.append(part)
        remainders.append(remainder)
    leftover = total - sum(parts)
    if leftover:
        # Largest remainder first; on equal remainders the earlier entry wins (stable sort).
        for i in sorted(range(len(weights)), key=lambda i: -remainders[i])[:leftover]:
            parts[i] += 1
    return parts


def split_largest_remainder(total: int, weights: Sequence[Decimal | int]) -> list[int]:
    """Split the integer ``total`` over ``weights`` so the parts always add up to ``total``.

    Each part is the floor of its exact share ``total * w / sum(w)``; the units left over go one
    each to the largest fractional remainders, ties to the earlier index. Zero weights get 0
    whenever some weight is positive (their remainder is 0 and never wins a leftover unit).
    All-zero weights are split equally by the same rule (earlier entries take the odd units),
    because with no basis for proportion, equal is the least surprising answer. A negative
    total is split as the mirror image of its absolute value.
    """
    return split_ints(total, integer_weights(weights))


def split_money(total: Decimal, weights: Sequence[Decimal | int], quantum: Decimal) -> list[Decimal]:
    """Split a money ``total`` (a whole number of ``quantum``) over ``weights`` by largest remainder."""
    units = _in_minor_units(total, quantum)
    return [_from_minor_units(part, quantum) for part in split_largest_remainder(units, weights)]


# --- returns ------------------------------------------------------------------------------------


def _check_units(returned_units: int, units: int) -> None:
    if units <= 0:
        raise ValueError(f"a line must have a positive quantity, got {units}")
    if not 0 <= returned_units <= units:
        raise ValueError(f"returned units must be within 0..{units}, got {returned_units}")


def cumulative_share(figure: int, returned_units: int, units: int) -> int:
    """Whole points of ``figure`` that belong to the first ``returned_units`` of ``units``.

    ``figure * r / q`` rounded half up, in exact integer arithmetic; at r == q it is ``figure``.
    """
    _check_units(returned_units, units)
    if figure < 0:
        return -cumulative_share(-figure, returned_units, units)
    return (2 * figure * returned_units + units) // (2 * units)


def cumulative_money_share(figure: Decimal, returned_units: int, units: int, quantum: Decimal) -> Decimal:
    """Money version of cumulative_share: ``figure * r / q`` rounded half up to ``quantum``."""
    share = cumulative_share(_in_minor_units(figure, quantum), returned_units, units)
    return _from_minor_units(share, quantum)


@overload
def share_for_return(figure: int, previously_returned: int, now_returned: int, units: int) -> int: ...
@overload
def share_for_return(
    figure: Decimal, previously_returned: int, now_returned: int, units: int, quantum: Decimal
) -> Decimal: ...
def share_for_return(
    figure: int | Decimal,
    previously_returned: int,
    now_returned: int,
    units: int,
    quantum: Decimal | None = None,
) -> int | Decimal:
    """What one return takes of a line figure: the growth of the cumulative share.

    Taking differences of cumulative shares (instead of rounding each return on its own) is
    what makes any sequence of returns of all units give back exactly ``figure``. Pass
    ``quantum`` for money figures (Decimal); points figures (int) need none.
    """
    if now_returned < 0:
        raise ValueError(f"a return must take a non-negative number of units, got {now_returned}")
    _check_units(previously_returned + now_returned, units)
    after = previously_returned + now_returned
    if isinstance(figure, Decimal):
        if quantum is None:
            raise TypeError("a money figure needs its currency quantum")
        return cumulative_money_share(figure, after, units, quantum) - cumulative_money_share(
            figure, previously_returned, units, quantum
        )
    return cumulative_share(figure, after, units) - cumulative_share(figure, previously_returned, units)


# --- text ---------------------------------------------------------------------------------------


def format_money(value: Decimal, quantum: Decimal) -> str:
    """Plain "49.90" text with exactly the currency's decimals; refuses to hide extra precision."""
    exact = _finite(value).quantize(quantum)
    if exact != value:
        raise ValueError(f"{value} has more decimals than {quantum} allows")
    if exact.is_zero():
        exact = exact.copy_abs()  # never print "-0.00"
    return f"{exact:f}"


def parse_money(text: str, quantum: Decimal) -> Decimal:
    """Parse plain decimal text ("49.9", "-3", "100.00") into a Decimal at ``quantum``.

    Accepts an optional sign, ASCII digits and an optional fraction. Rejects exponents, NaN,
    Infinity, grouping separators and any value that is not a whole number of ``quantum``
    (trailing zeros beyond it are fine: "49.900" is 49.90 EUR, "49.901" is an error).
    """
    if not isinstance(text, str):
        raise ValueError(f"expected text, got {type(text).__name__}")
    stripped = text.strip()
    if len(stripped) > _MAX_MONEY_TEXT or not _MONEY_TEXT.fullmatch(stripped):
        raise ValueError(f"not a money amount: {text!r}")
    value = Decimal(stripped)
    try:
        exact = value.quantize(quantum)
    except InvalidOperation:
        raise ValueError(f"not a money amount: {text!r}") from None
    if exact != value:
        raise ValueError(f"{text!r} has more decimals than {quantum} allows")
    return exact.copy_abs() if exact.is_zero() else exact
