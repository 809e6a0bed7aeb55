"""Exact examples for patron.money: the contract's rounding rules, one function at a time."""

from decimal import Decimal as D

import pytest

from patron.money import (
    cumulative_money_share,
    cumulative_share,
    format_money,
    half_up_int,
    integer_weights,
    minor_units,
    parse_money,
    quantum,
    round_down_int,
    round_half_up,
    share_for_return,
    split_largest_remainder,
    split_money,
)

CENT = D("0.01")
YEN = D("1")


def test_minor_units_and_quantum() -> None:
    assert minor_units("EUR") == 2
    assert minor_units("JPY") == 0
    assert minor_units("KWD") == 3
    assert quantum("EUR") == CENT and str(quantum("EUR")) == "0.01"
    assert str(quantum("JPY")) == "1"
    assert str(quantum("KWD")) == "0.001"


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(ValueError):
        minor_units("XXQ")
    with pytest.raises(ValueError):
        quantum("eur")


def test_round_half_up_rounds_halves_away_from_zero() -> None:
    assert round_half_up(D("2.345"), CENT) == D("2.35")
    assert round_half_up(D("2.344999"), CENT) == D("2.34")
    assert round_half_up(D("2.5"), YEN) == D("3")
    assert round_half_up(D("3.5"), YEN) == D("4")  # not banker's rounding
    assert round_half_up(D("-2.345"), CENT) == D("-2.35")
    assert str(round_half_up(D("7"), CENT)) == "7.00"


def test_whole_point_rounding() -> None:
    assert round_down_int(D("49.99")) == 49
    assert round_down_int(D("50")) == 50
    assert round_down_int(D("0.999")) == 0
    assert half_up_int(D("2.5")) == 3
    assert half_up_int(D("2.4999")) == 2
    assert half_up_int(D("-2.5")) == -3
    with pytest.raises(ValueError):
        round_down_int(D("NaN"))
    with pytest.raises(ValueError):
        half_up_int(D("Infinity"))


def test_integer_weights_keep_ratios() -> None:
    assert integer_weights([D("1.5"), 2, D("0.25")]) == [150, 200, 25]
    assert integer_weights([D("1E+2"), D("3")]) == [100, 3]
    with pytest.raises(ValueError):
        integer_weights([D("-1")])


def test_split_largest_remainder_examples() -> None:
    # 10 over 1:1:1 -> 3.33 each; the one leftover point goes to the earliest tie.
    assert split_largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    # 100 over 49.90 / 30.10 / 20.00: exact 49.9, 30.1, 20 -> floors 49, 30, 20, remainder .9 wins.
    assert split_largest_remainder(100, [D("49.90"), D("30.10"), D("20.00")]) == [50, 30, 20]
    # 7 over 1:2:4 is exact.
    assert split_largest_remainder(7, [1, 2, 4]) == [1, 2, 4]
    # 5 over 1:1:2:2 -> 0.833, 0.833, 1.667, 1.667: floors 0,0,1,1, remainders .833,.833,.667,.667.
    assert split_largest_remainder(5, [1, 1, 2, 2]) == [1, 1, 2, 1]


def test_split_ties_go_to_the_earlier_index() -> None:
    assert split_largest_remainder(1, [3, 3]) == [1, 0]
    assert split_largest_remainder(2, [1, 1, 1, 1]) == [1, 1, 0, 0]
    assert split_largest_remainder(3, [D("2.5"), 5, D("2.5"), 5]) == [1, 1, 0, 1]


def test_split_zero_weights() -> None:
    # Zero weights get nothing while some weight is positive, even when units are left over.
    assert split_largest_remainder(5, [0, 1, 0, 1]) == [0, 3, 0, 2]
    # All-zero weights: split equally by the same rule (odd units to the earlier entries).
    assert split_largest_remainder(5, [0, 0, 0]) == [2, 2, 1]
    assert split_largest_remainder(0, [0, 0]) == [0, 0]


def test_split_edge_cases() -> None:
    assert split_largest_remainder(0, []) == []
    assert split_largest_remainder(0, [1, 2]) == [0, 0]
    assert split_largest_remainder(-10, [1, 1, 1]) == [-4, -3, -3]
    with pytest.raises(ValueError):
        split_largest_remainder(1, [])
    with pytest.raises(ValueError):
        split_largest_remainder(3, [1, -1])


def test_split_money_in_minor_units() -> None:
    # A 10.00 discount over three equal lines: 3.34 / 3.33 / 3.33.
    assert split_money(D("10.00"), [1, 1, 1], CENT) == [D("3.34"), D("3.33"), D("3.33")]
    parts = split_money(D("5.00"), [D("19.99"), D("0.01")], CENT)
    assert parts == [D("5.00"), D("0.00")] and [str(p) for p in parts] == ["5.00", "0.00"]
    assert split_money(D("100"), [1, 1, 1], YEN) == [D("34"), D("33"), D("33")]
    with pytest.raises(ValueError):
        split_money(D("1.005"), [1, 1], CENT)


def test_cumulative_share_points() -> None:
    # 10 points over 3 units: cumulative 3.33 -> 3, 6.67 -> 7, 10.
    assert [cumulative_share(10, r, 3) for r in range(4)] == [0, 3, 7, 10]
    # Half up at exactly .5: 5 points, 1 of 2 units -> 2.5 -> 3.
    assert cumulative_share(5, 1, 2) == 3
    assert cumulative_share(-5, 1, 2) == -3
    with pytest.raises(ValueError):
        cumulative_share(5, 3, 2)
    with pytest.raises(ValueError):
        cumulative_share(5, 0, 0)


def test_cumulative_share_money() -> None:
    assert cumulative_money_share(D("10.00"), 1, 3, CENT) == D("3.33")
    assert cumulative_money_share(D("10.00"), 2, 3, CENT) == D("6.67")
    assert cumulative_money_share(D("0.05"), 1, 2, CENT) == D("0.03")  # 0.025 half up
    assert cumulative_money_share(D("1001"), 1, 2, YEN) == D("501")  # 500.5 half up, JPY
    assert str(cumulative_money_share(D("9.90"), 3, 3, CENT)) == "9.90"


def test_share_for_return_takes_differences() -> None:
    # 10 points, 3 units returned one at a time: 3, 4, 3 -> exactly 10 back.
    assert [share_for_return(10, r, 1, 3) for r in range(3)] == [3, 4, 3]
    assert share_for_return(10, 0, 3, 3) == 10
    money = [share_for_return(D("10.00"), r, 1, 3, CENT) for r in range(3)]
    assert money == [D("3.33"), D("3.34"), D("3.33")]
    assert sum(money) == D("10.00")
    with pytest.raises(TypeError):
        share_for_return(D("10.00"), 0, 1, 3)  # type: ignore[call-overload]
    with pytest.raises(ValueError):
        share_for_return(10, 2, 2, 3)
    with pytest.raises(ValueError):
        share_for_return(10, 1, -1, 3)


def test_format_money() -> None:
    assert format_money(D("49.9"), CENT) == "49.90"
    assert format_money(D("49.900"), CENT) == "49.90"
    assert format_money(D("1E+3"), CENT) == "1000.00"
    assert format_money(D("-0.00"), CENT) == "0.00"
    assert format_money(D("-3.5"), CENT) == "-3.50"
    assert format_money(D("1200"), YEN) == "1200"
    with pytest.raises(ValueError):
        format_money(D("49.999"), CENT)
    with pytest.raises(ValueError):
        format_money(D("NaN"), CENT)


def test_parse_money() -> None:
    assert parse_money("49.9", CENT) == D("49.90")
    assert str(parse_money(" 49.9 ", CENT)) == "49.90"
    assert str(parse_money("100", CENT)) == "100.00"
    assert str(parse_money("49.900", CENT)) == "49.90"  # trailing zeros are not extra precision
    assert str(parse_money("-3", CENT)) == "-3.00"
    assert str(parse_money("-0", CENT)) == "0.00"
    assert str(parse_money("1200", YEN)) == "1200"


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "NaN",
        "nan",
        "Infinity",
        "-inf",
        "sNaN",
        "1e3",
        "1,000.00",
        "1.",
        ".5",
        "0x10",
        "١٢",
        "1" * 65,
    ],
)
def test_parse_money_rejects_non_numbers(text: str) -> None:
    with pytest.raises(ValueError):
        parse_money(text, CENT)


def test_parse_money_rejects_too_many_decimals() -> None:
    with pytest.raises(ValueError):
        parse_money("49.901", CENT)
    with pytest.raises(ValueError):
        parse_money("100.5", YEN)
