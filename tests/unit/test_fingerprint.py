"""A request's fingerprint is taken from its values: a repeat written otherwise is still a repeat,
and any change of value is a different request."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from patron.checkout.model import ReceiptIn, ReturnIn
from patron.checkout.service import Fingerprint

prices = st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False)
offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


def receipt(price: str, at: str, attribute: Any = "red") -> ReceiptIn:
    return ReceiptIn.model_validate(
        {
            "store": "S1",
            "number": "N1",
            "at": at,
            "lines": [{"sku": "A", "quantity": 1, "price": price, "attributes": {"colour": attribute}}],
        }
    )


def spellings(value: Decimal) -> list[str]:
    """The same amount written three ways: as given, with trailing zeros, with a leading zero."""
    plain = format(value, "f")
    return [plain, plain + ("0" if "." in plain else ".00"), "0" + plain]


@given(price=prices, offset=offsets)
def test_the_same_values_written_otherwise_have_one_fingerprint(price: Decimal, offset: timezone) -> None:
    moment = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
    fingerprints = {
        Fingerprint.of(receipt(text, when.isoformat())).digest
        for text in spellings(price)
        for when in (moment, moment.astimezone(offset))
    }
    assert len(fingerprints) == 1


@given(price=prices, step=st.sampled_from([Decimal("0.0001"), Decimal("0.01"), Decimal(1)]))
def test_a_different_amount_or_moment_is_a_different_request(price: Decimal, step: Decimal) -> None:
    at = "2026-12-06T12:30:00+03:00"
    first = Fingerprint.of(receipt(format(price, "f"), at))
    assert not first.matches(Fingerprint.of(receipt(format(price + step, "f"), at)).digest)
    assert not first.matches(Fingerprint.of(receipt(format(price, "f"), "2026-12-06T12:30:01+03:00")).digest)


def test_an_attribute_keeps_its_type() -> None:
    at = "2026-12-06T12:30:00Z"
    assert Fingerprint.of(receipt("1", at, "5")).digest != Fingerprint.of(receipt("1", at, 5)).digest
    assert Fingerprint.of(receipt("1", at, True)).digest != Fingerprint.of(receipt("1", at, 1)).digest


def test_a_returns_lines_in_any_order_are_the_same_return() -> None:
    lines = [{"line": 1, "quantity": 2}, {"line": 3, "quantity": 1}]
    first = Fingerprint.of(ReturnIn.model_validate({"number": "R", "lines": lines}))
    reordered = Fingerprint.of(ReturnIn.model_validate({"number": "R", "lines": lines[::-1]}))
    other = Fingerprint.of(ReturnIn.model_validate({"number": "R", "lines": [{"line": 1, "quantity": 1}]}))
    assert first.digest == reordered.digest != other.digest


def test_a_fingerprint_stored_by_earlier_versions_still_matches_its_repeat() -> None:
    body = receipt("49.90", "2026-12-06T12:30:00+03:00")
    stored_before = hashlib.sha256(
        orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    ).digest()
    assert stored_before != Fingerprint.of(body).digest
    assert Fingerprint.of(body).matches(stored_before)
    assert not Fingerprint.of(receipt("49.91", "2026-12-06T12:30:00+03:00")).matches(stored_before)
