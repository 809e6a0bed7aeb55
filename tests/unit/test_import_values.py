"""Reading the cells of an import file: text from CSV, typed values from Parquet."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from patron.importer import copytext, products, receipts, values
from patron.importer.values import Bad

CENT = Decimal("0.01")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("49.90", Decimal("49.90")),
        (" 49.9 ", Decimal("49.90")),
        ("0", Decimal("0.00")),
        (Decimal("3.5"), Decimal("3.50")),
        (7, Decimal("7.00")),
        (0.1, Decimal("0.10")),  # a Parquet float is the decimal it prints as
        ("", None),
        (None, None),
    ],
)
def test_money_reads_text_and_typed_values(cell: object, expected: Decimal | None) -> None:
    got = values.money(cell, CENT)
    assert got == expected
    if got is not None:
        assert got.as_tuple().exponent == -2


@pytest.mark.parametrize("cell", ["49.901", "-1", "1e3", "1,50", "abc", "NaN", True, "1000000000000", 0.125])
def test_money_refuses(cell: object) -> None:
    with pytest.raises(Bad):
        values.money(cell, CENT)


@pytest.mark.parametrize(
    ("cell", "expected"), [("12", 12), (" -3 ", -3), (5, 5), (Decimal("4"), 4), (2.0, 2), ("", None)]
)
def test_integer(cell: object, expected: int | None) -> None:
    assert values.integer(cell) == expected


@pytest.mark.parametrize("cell", ["1.5", "x", "1e3", True, 2.5, Decimal("1.1"), float("nan")])
def test_integer_refuses(cell: object) -> None:
    with pytest.raises(Bad):
        values.integer(cell)


def test_integer_bounds_name_the_limit() -> None:
    with pytest.raises(Bad, match="below 1"):
        values.integer("0", minimum=1)
    with pytest.raises(Bad, match="above 9"):
        values.integer("10", maximum=9)
    with pytest.raises(Bad, match=r"^99999999999999999999 is too large a number$"):  # a whole one
        values.integer("99999999999999999999")


def test_timestamps_need_an_offset() -> None:
    assert values.timestamp("2025-03-01T12:00:00+03:00") == datetime(2025, 3, 1, 9, tzinfo=UTC)
    assert values.timestamp("2025-03-01T09:00:00Z") == datetime(2025, 3, 1, 9, tzinfo=UTC)
    moscow = timezone(timedelta(hours=3))
    assert values.timestamp(datetime(2025, 3, 1, 12, tzinfo=moscow)) == datetime(2025, 3, 1, 9, tzinfo=UTC)
    for cell in ("2025-03-01T12:00:00", datetime(2025, 3, 1), "yesterday", 5):
        with pytest.raises(Bad):
            values.timestamp(cell)
    with pytest.raises(Bad, match=r"^'2025-03-01T12:00:00' has no offset \(give one"):
        values.timestamp("2025-03-01T12:00:00")
    with pytest.raises(Bad, match=r"^2025-03-01T12:00:00 \(a timestamp\) has no time zone \(Patron never"):
        values.timestamp(datetime(2025, 3, 1, 12))  # a Parquet timestamp without one


@pytest.mark.parametrize(
    "cell",
    [
        "2025-W01-1T12:00Z",  # a week date
        "20250101T120000Z",  # the basic format
        "2025-01-01 12:00+03",  # no seconds, an offset without minutes
        "2025-01-01T12:00:00+0300",  # an offset without its colon
        "2025-01-01T12:00Z",
        "2025-001T12:00:00Z",  # an ordinal date
    ],
)
def test_timestamps_are_read_by_the_apis_rule(cell: str) -> None:
    """Python's ``fromisoformat`` took all of these, which the API refuses."""
    with pytest.raises(Bad) as caught:
        values.timestamp(cell)
    assert str(caught.value) == f"{cell!r} is not a timestamp (RFC 3339 with an offset)"


def test_timestamps_take_what_the_api_takes() -> None:
    noon = datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert values.timestamp(" 2025-01-01 12:00:00z ") == noon  # a space for T, a lowercase z
    assert values.timestamp("2025-01-01t15:00:00+03:00") == noon
    # more than microseconds: cut, as the API's ``fields.parse_moment`` cuts them
    assert values.timestamp("2025-01-01T12:00:00.123456789Z") == noon.replace(microsecond=123456)


def test_dates_and_booleans() -> None:
    assert values.day("1990-05-17") == date(1990, 5, 17)
    assert values.day(date(1990, 5, 17)) == date(1990, 5, 17)
    with pytest.raises(Bad):
        values.day("17.05.1990")
    assert [values.boolean(c) for c in ("true", "Yes", "1", "f", "NO", "", True)] == [
        True,
        True,
        True,
        False,
        False,
        None,
        True,
    ]
    with pytest.raises(Bad):
        values.boolean("maybe")


def test_phones_are_normalised_with_the_program_country() -> None:
    assert values.phone("8 (900) 123-45-67", "RU") == "+79001234567"
    assert values.phone("+49 30 901820", None) == "+4930901820"
    with pytest.raises(Bad, match="not a phone number"):
        values.phone("12", "RU")


@pytest.mark.parametrize("read", [values.phone, values.phone_key])
@pytest.mark.parametrize("cell", [4915200000012, Decimal("4915200000012"), 4915200000012.0])
def test_a_phone_that_is_a_number_is_refused_as_the_api_refuses_it(read: Any, cell: object) -> None:
    """A Parquet int64 phone lost its ``+`` and was read as a national number: +494915200000012."""
    with pytest.raises(Bad) as caught:
        read(cell, "DE")
    assert str(caught.value) == (
        f"{values.shown(cell)} is not text: write a phone number as text, with its + and country code"
    )
    assert (
        values.phone("+4915200000012", "DE") == values.phone_key("+4915200000012", "DE") == "+4915200000012"
    )


@pytest.mark.parametrize("cell", [12345, Decimal("12345")])
def test_a_card_that_is_not_text_is_refused(cell: object) -> None:
    """Card 0012345 in a Parquet integer column is 12345: another card, or none."""
    for read in (values.cards, values.card_key):
        with pytest.raises(Bad, match="is not text: write a card number as text"):
            read(cell)
    assert values.cards("0012345") == ["0012345"] and values.card_key(" 0012345 ") == "0012345"


def test_cards_split_on_the_bar() -> None:
    assert values.cards("C1| C2 ") == ["C1", "C2"]
    assert values.cards("") == []
    for cell in ("C1|C1", "C1||C2", "C 1"):
        with pytest.raises(Bad):
            values.cards(cell)


def test_conditions_and_codes() -> None:
    assert values.condition("brand = 'Atomic'") == "brand = 'Atomic'"
    with pytest.raises(Bad, match="invalid condition"):
        values.condition("brand = ")
    assert values.code("S-1.a:b_c") == "S-1.a:b_c"
    with pytest.raises(Bad):
        values.code("-S1")
    with pytest.raises(Bad, match="control character"):
        values.text("a\x01b")
    with pytest.raises(Bad, match="longer than 3"):
        values.text("abcd", max_length=3)


def test_a_receipt_number_is_refused_as_the_api_refuses_it() -> None:
    """A number with a BOM, a zero-width or direction mark, or a C1 control was loaded, while the
    API refuses it: "Q-8" and "Q-8" with a BOM were two receipts."""
    assert receipts.number(" Q-8\r\n") == "Q-8"  # a cell's spaces and line end are stripped
    for cell in ("Q-8\ufeff", "\u200bQ-8", "Q-8\u200e", "C1-\x9f-x", "R\x851", "Q\u20288"):
        with pytest.raises(Bad, match="control or invisible character"):
            receipts.number(cell)


def test_copy_text_escapes_what_copy_would_read_as_syntax() -> None:
    assert copytext.line([1, None, "a\tb\\c\nd", Decimal("1.50")]) == "1\t\\N\ta\\tb\\\\c\\nd\t1.50\n"


@pytest.mark.parametrize(
    ("cell", "stored"),
    [
        (1e-07, "0.0000001"),
        (1e16, "10000000000000000"),
        (7.5, "7.5"),
        (Decimal("1.0E-7"), "0.0000001"),  # one form, as the API's: no trailing zeros
        (Decimal("0E-8"), "0"),
        (Decimal("2.50"), "2.5"),
        (100.0, "100"),
        (2**64 - 1, "18446744073709551615"),  # a uint64 beyond bigint: text, as the API keeps it
        (5, 5),
        (True, True),
        ("1e-07", "1e-07"),  # text stays text
    ],
)
def test_a_products_number_is_stored_as_plain_decimal_text_as_the_api_stores_it(
    cell: object, stored: object
) -> None:
    """Parquet floats and decimals were stored as "1e-07" and "1.0E-7", which conditions compare as
    text: a product imported matched none of the campaigns the same product put by the API did."""
    assert products.attribute(cell) == stored


def test_a_products_number_beyond_the_apis_bounds_rejects_its_row() -> None:
    with pytest.raises(Bad, match="below 10"):
        products.attribute(1e70)


@pytest.mark.parametrize(
    ("reader", "cell", "reason"),
    [
        (
            values.day,
            datetime(1980, 1, 2, tzinfo=UTC),
            "1980-01-02T00:00:00+00:00 (a timestamp) is not a date",
        ),
        (values.integer, Decimal("5.5"), "5.5 (a decimal) is not a whole number"),
        (values.integer, "5.5", "'5.5' is not a whole number"),
        (values.timestamp, time(12, 0), "12:00:00 (a time of day) is not a timestamp"),
        (values.boolean, 2.5, "2.5 (a float) is not true or false"),
        (
            values.member_uuid,
            b"\x15\xc9",
            "15c9 (2 bytes of binary data, in hex) is not a UUID (text, or 16 bytes)",
        ),
        (values.member_uuid, 7, "7 (an integer) is not a UUID (text, or 16 bytes)"),
        (values.text, b"x", "78 (1 byte of binary data, in hex) is not text"),
        (values.text, [1, 2], "[1, 2] (a list) is not a single value"),
        (values.text, float("nan"), "nan (a float) is not a number"),
        (
            lambda cell: values.money(cell, CENT),
            Decimal("1E+13"),
            "10000000000000 (a decimal) is not an amount between 0 and 999999999999",
        ),
    ],
)
def test_a_reason_shows_a_parquet_value_as_written_and_what_it_is(
    reader: Any, cell: object, reason: str
) -> None:
    """Reasons once read ``datetime.datetime(1980, 1, 2, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC'))
    is not a date`` and ``Decimal('5.5') is not a whole number``."""
    with pytest.raises(Bad) as caught:
        reader(cell)
    assert str(caught.value) == reason


def test_a_binary_uuid_of_16_bytes_is_a_uuid() -> None:
    member = uuid.UUID("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
    assert values.member_uuid(member.bytes) == str(member)
    assert values.member_uuid(member) == str(member)
    assert values.member_uuid(member.bytes.hex()) == str(member)  # as the rejects file writes it


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        ("as is ", "as is "),
        (None, ""),
        (True, "true"),
        (5, "5"),
        (1e-07, "0.0000001"),
        (12345.0, "12345"),  # as a float SKU is stored: "12345.0" loaded again as another SKU
        (1e16, "10000000000000000"),
        (Decimal("1E+2"), "100"),
        (Decimal("5.50"), "5.50"),
        (date(2020, 1, 2), "2020-01-02"),
        (datetime(2020, 1, 2, 3, 4, tzinfo=UTC), "2020-01-02T03:04:00+00:00"),
        (time(12, 0), "12:00:00"),
        (b"\x15\xc9", "15c9"),
        (["P1", None], "[P1, ]"),
        ({"a": 1}, "{a: 1}"),
    ],
)
def test_a_rejected_cell_is_written_as_its_text_not_python_spelling(cell: object, text: str) -> None:
    assert values.cell_text(cell) == text


@pytest.mark.parametrize(
    ("cell", "stored"),
    [
        (1e16, "10000000000000000"),
        (12345.0, "12345"),
        (1e-05, "0.00001"),
        (-0.0, "0"),
        (Decimal("1E+16"), "10000000000000000"),
        (Decimal("2.50"), "2.5"),
        (True, "true"),
        (42, "42"),
        (date(2025, 1, 1), "2025-01-01"),
        (datetime(2025, 1, 1, 12, tzinfo=timezone(timedelta(hours=3))), "2025-01-01T12:00:00+03:00"),
    ],
)
def test_a_typed_value_in_a_text_column_is_stored_as_it_is_written(cell: object, stored: str) -> None:
    """Parquet SKUs from a float column were stored as ``1e+16``, ``12345.0`` and ``1e-05``, a
    zoned timestamp as ``2025-01-01 12:00:00+03:00``: Python's spelling of them."""
    assert values.text(cell) == stored
    assert values.sku(cell) == stored


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        (
            datetime(2025, 1, 1, 12),
            "2025-01-01T12:00:00 (a timestamp) has no time zone (Patron never guesses one)",
        ),
        (timedelta(hours=3), "3:00:00 (a duration) is not text"),
        (float("inf"), "inf (a float) is not a number"),
    ],
)
def test_a_typed_value_without_one_text_is_refused_in_a_text_column(cell: object, reason: str) -> None:
    """A naive timestamp was stored as ``2025-01-01 12:00:00`` (a guess the timestamp columns
    refuse), a duration as ``3:00:00`` or ``1 day, 0:00:05``, also as a product's attribute."""
    for read in (values.text, products.attribute):
        with pytest.raises(Bad) as caught:
            read(cell)
        assert str(caught.value) == reason


def test_a_products_timestamp_keeps_its_zone_and_one_without_a_zone_is_refused() -> None:
    """A Parquet timestamp without a time zone was stored as "2020-01-01T12:00:00", a guess the
    other kinds refuse."""
    moscow = timezone(timedelta(hours=3))
    assert products.attribute(datetime(2020, 1, 1, 12, tzinfo=moscow)) == "2020-01-01T12:00:00+03:00"
    assert products.attribute(date(2020, 1, 1)) == "2020-01-01"
    with pytest.raises(Bad) as caught:
        products.attribute(datetime(2020, 1, 1, 12))
    assert (
        str(caught.value) == "2020-01-01T12:00:00 (a timestamp) has no time zone (Patron never guesses one)"
    )
