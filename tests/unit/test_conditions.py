"""The condition language: contract examples, every operator, absent attributes, errors, caching."""

from __future__ import annotations

import pickle
import unicodedata
from collections.abc import Mapping
from decimal import Decimal

import pytest

from patron.conditions import (
    ALWAYS,
    And,
    Compare,
    ConditionError,
    In,
    Literal,
    Not,
    Or,
    attributes_used,
    compile_condition,
    evaluate,
    parse,
    to_text,
    validate,
)
from patron.conditions.parser import MAX_DEPTH


def matches(text: str, line: Mapping[str, object]) -> bool:
    """Run both the compiled predicate and the reference interpreter; they must agree."""
    compiled = compile_condition(text)(line)
    reference = evaluate(parse(text), line)
    assert compiled is reference, f"{text!r} on {line!r}: compiled {compiled}, reference {reference}"
    return compiled


JACKET = {"brand": "Columbia", "category": "jackets", "sport": "hiking", "price": Decimal("149.00")}
PANTS = {"brand": "Columbia", "category": "pants", "price": Decimal("49.90"), "quantity": 2}
BOOTS_ACME = {"brand": "Acme", "category": "boots", "price": Decimal("89.00")}
BOOTS_OTHER = {"brand": "Salomon", "category": "boots"}
SKI = {"brand": "Acme", "sport": "ski", "category": "goggles"}
EMPTY: dict[str, object] = {}


# -- contract examples ----------------------------------------------------------------------------------


def test_brand_and_category_in() -> None:
    text = "brand = 'Columbia' and category in ('jackets', 'pants')"
    assert matches(text, JACKET)
    assert matches(text, PANTS)
    assert not matches(text, BOOTS_ACME)
    assert not matches(text, {"brand": "Columbia", "category": "boots"})
    assert not matches(text, {"category": "jackets"})


def test_sport_or_boots_not_acme() -> None:
    text = "sport = 'ski' or (category = 'boots' and not brand = 'Acme')"
    assert matches(text, SKI)
    assert matches(text, BOOTS_OTHER)
    assert matches(text, {"category": "boots"})  # no brand: not brand = 'Acme' is true
    assert not matches(text, BOOTS_ACME)
    assert not matches(text, JACKET)


def test_price_threshold() -> None:
    assert matches("price >= 100", JACKET)
    assert not matches("price >= 100", PANTS)
    assert matches("price >= 100", {"price": Decimal("100.00")})
    assert not matches("price >= 100", EMPTY)


# -- every operator, on numbers and on strings ----------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "below", "equal", "above"),
    [
        ("=", False, True, False),
        ("!=", True, False, True),
        ("<", True, False, False),
        ("<=", True, True, False),
        (">", False, False, True),
        (">=", False, True, True),
    ],
)
def test_comparison_operators(op: str, below: bool, equal: bool, above: bool) -> None:
    assert matches(f"price {op} 49.90", {"price": Decimal("10")}) is below
    assert matches(f"price {op} 49.90", {"price": Decimal("49.9")}) is equal
    assert matches(f"price {op} 49.90", {"price": Decimal("50.00")}) is above
    assert matches(f"quantity {op} 2", {"quantity": 1}) is below
    assert matches(f"quantity {op} 2", {"quantity": 2}) is equal
    assert matches(f"quantity {op} 2", {"quantity": 3}) is above
    assert matches(f"brand {op} 'M'", {"brand": "Acme"}) is below
    assert matches(f"brand {op} 'M'", {"brand": "M"}) is equal
    assert matches(f"brand {op} 'M'", {"brand": "Salomon"}) is above


def test_in_and_not_in() -> None:
    assert matches("category in ('jackets', 'pants')", {"category": "pants"})
    assert not matches("category in ('jackets', 'pants')", {"category": "boots"})
    assert matches("category not in ('jackets', 'pants')", {"category": "boots"})
    assert not matches("category not in ('jackets', 'pants')", {"category": "jackets"})
    assert matches("quantity in (1, 2, 3)", {"quantity": 2})
    assert matches("price in (49.9, 100)", {"price": Decimal("49.90")})
    assert not matches("price not in (49.9, 100)", {"price": Decimal("100.000")})
    assert matches("category in ('x')", {"category": "x"})  # one-element list


def test_not_and_or_parentheses() -> None:
    assert matches("not brand = 'Acme'", JACKET)
    assert not matches("not brand = 'Acme'", BOOTS_ACME)
    assert matches("not not brand = 'Acme'", BOOTS_ACME)
    assert matches("(brand = 'Acme' or brand = 'Columbia') and category = 'pants'", PANTS)
    assert not matches("brand = 'Acme' or brand = 'Columbia' and category = 'pants'", JACKET)
    assert matches("brand = 'Acme' or brand = 'Columbia' and category = 'pants'", SKI)


def test_boolean_literals() -> None:
    assert matches("true", EMPTY)
    assert not matches("false", JACKET)
    assert matches("not false and true", EMPTY)
    assert matches("clearance = true", {"clearance": True})
    assert not matches("clearance = true", {"clearance": False})
    assert matches("clearance != true", {"clearance": False})
    assert matches("clearance in (true)", {"clearance": True})
    assert matches("clearance not in (true)", {"clearance": False})
    assert matches("clearance > false", {"clearance": True})
    # Only real booleans compare with booleans.
    for value in (1, 0, "true", Decimal(1)):
        assert not matches("clearance = true", {"clearance": value})
        assert not matches("clearance != true", {"clearance": value})
        assert not matches("clearance in (true, false)", {"clearance": value})


# -- absent attributes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "brand = 'X'",
        "brand != 'X'",
        "brand < 'X'",
        "brand <= 'X'",
        "brand > 'X'",
        "brand >= 'X'",
        "brand in ('X', 'Y')",
        "brand not in ('X')",
        "price = 5",
        "price != 5",
        "price < 5",
        "price >= 5",
        "price in (1, 2)",
        "price not in (1, 2)",
        "flag = true",
        "flag != true",
        "flag not in (true)",
        "brand in ('X', 1, true)",
        "brand not in ('X', 1, true)",
    ],
)
@pytest.mark.parametrize("line", [EMPTY, {"brand": None, "price": None, "flag": None}])
def test_absent_attribute_makes_every_comparison_false(text: str, line: Mapping[str, object]) -> None:
    assert not matches(text, line)
    assert matches(f"not {text}", line)


def test_absent_brand_contract_cases() -> None:
    assert not matches("brand != 'X'", {"sku": "A1"})
    assert not matches("brand not in ('X')", {"sku": "A1"})
    assert matches("not brand = 'X'", {"sku": "A1"})


# -- numbers against strings ----------------------------------------------------------------------------


def test_number_literal_against_numeric_string() -> None:
    assert matches("price = 49.9", {"price": "49.90"})
    assert matches("price >= 100", {"price": " 120 "})
    assert matches("price < 1", {"price": ".5"})
    assert matches("quantity in (2, 3)", {"quantity": "+2"})
    assert not matches("price > 10", {"price": "9"})


def test_number_literal_against_non_numeric_values_is_false() -> None:
    for value in ("n/a", "1e3", "NaN", "", True, False, Decimal("NaN"), Decimal("sNaN"), float("nan"), [1]):
        line = {"price": value}
        for op in ("= 5", "!= 5", "< 5", ">= 5", "in (5)", "not in (5)"):
            assert not matches(f"price {op}", line), (op, value)


def test_numbers_compare_exactly_never_as_float() -> None:
    assert matches("price = 0.1", {"price": Decimal("0.10")})
    assert matches("price = 0.1", {"price": 0.1})  # a float compares as the decimal it prints as
    assert not matches("price = 0.1", {"price": Decimal("0.1000000000000000055511151231257827")})
    assert isinstance(parse("price = 49.90"), Compare)
    assert parse("price = 49.90") == Compare("price", "=", Decimal("49.90"))
    assert isinstance(Compare("p", "=", Decimal("1")).value, Decimal)
    value = parse("price > -5")
    assert isinstance(value, Compare) and value.value == Decimal("-5")
    assert matches("price > -5", {"price": Decimal("-4.99")})


def test_infinite_and_nan_values() -> None:
    assert matches("price > 100", {"price": Decimal("Infinity")})
    assert matches("price < 100", {"price": Decimal("-Infinity")})
    assert matches("price != 100", {"price": Decimal("Infinity")})
    assert not matches("price > 100", {"price": Decimal("NaN")})
    assert not matches("price not in (1)", {"price": Decimal("NaN")})


def test_string_literal_against_numbers_compares_text() -> None:
    assert matches("sku = '123'", {"sku": 123})
    assert matches("sku != '124'", {"sku": 123})
    assert matches("sku in ('123', 'A')", {"sku": 123})
    assert not matches("price = '49.9'", {"price": Decimal("49.90")})
    assert matches("price = '49.90'", {"price": Decimal("49.90")})
    assert matches("sku < '9'", {"sku": 10})  # text order: '10' < '9'
    assert not matches("flag = 'True'", {"flag": True})


def test_string_equality_is_case_sensitive() -> None:
    assert not matches("brand = 'columbia'", JACKET)
    assert matches("brand != 'columbia'", JACKET)
    assert not matches("Brand = 'Columbia'", JACKET)  # attribute names too


def test_price_decimal_and_quantity_int() -> None:
    line = {"sku": "C-100", "price": Decimal("49.90"), "quantity": 3, "brand": "Columbia"}
    assert matches("price = 49.90 and quantity >= 3", line)
    assert matches("price < 50 and quantity = 3.0", line)
    assert not matches("price > 49.90 or quantity < 3", line)
    assert matches("sku = 'C-100' and quantity in (1, 2, 3)", line)


def test_other_value_types_never_compare() -> None:
    line = {"tags": ["a"], "meta": {"k": "v"}}
    for text in ("tags = 'a'", "tags != 'a'", "tags in ('a')", "tags not in ('a')", "meta > 'a'"):
        assert not matches(text, line)


# -- syntax ---------------------------------------------------------------------------------------------


def test_keywords_are_case_insensitive() -> None:
    text = "brand = 'Columbia' AND category In ('jackets') Or NOT sport NoT iN ('ski') and TRUE"
    assert parse(text) == parse(text.lower().replace("'columbia'", "'Columbia'"))
    assert matches("brand = 'Columbia' AND category IN ('pants')", PANTS)
    assert matches("flag = TRUE", {"flag": True})


def test_string_quoting() -> None:
    assert matches("brand = 'O''Neill'", {"brand": "O'Neill"})
    assert matches('brand = "O\'Neill"', {"brand": "O'Neill"})
    assert matches('brand = "say ""hi"""', {"brand": 'say "hi"'})
    assert matches("brand = ''", {"brand": ""})
    assert matches("brand = 'a\\b'", {"brand": "a\\b"})  # no backslash escapes
    assert parse("brand = 'and or (not)'") == Compare("brand", "=", "and or (not)")


def test_attribute_names() -> None:
    assert attributes_used("size.eu = 42 and sub-category = 'x' or _internal_1 = true") == {
        "size.eu",
        "sub-category",
        "_internal_1",
    }
    assert matches("size.eu = 42", {"size.eu": 42})
    # A number ends where digits end, so tokens may abut: 100and is 100 then and.
    assert parse("price>=100and brand='Acme'") == And(
        (Compare("price", ">=", Decimal(100)), Compare("brand", "=", "Acme"))
    )


def test_whitespace_is_optional_between_tokens() -> None:
    assert parse("price>=-5") == Compare("price", ">=", Decimal("-5"))
    assert parse("category in('a','b')") == In("category", ("a", "b"))
    assert parse("(a=1)or(b!=2)") == Or((Compare("a", "=", Decimal(1)), Compare("b", "!=", Decimal(2))))
    assert parse(" \n\tbrand\n=\t'x' ") == Compare("brand", "=", "x")


def test_precedence_not_over_and_over_or() -> None:
    a, b, c = (Compare(name, "=", Decimal(n)) for name, n in (("a", 1), ("b", 2), ("c", 3)))
    assert parse("a = 1 or b = 2 and c = 3") == Or((a, And((b, c))))
    assert parse("a = 1 and b = 2 or c = 3") == Or((And((a, b)), c))
    assert parse("not a = 1 and b = 2") == And((Not(a), b))
    assert parse("not (a = 1 and b = 2)") == Not(And((a, b)))
    assert parse("a = 1 and b = 2 and c = 3") == And((a, b, c))
    assert parse("(a = 1 and b = 2) and c = 3") == And((And((a, b)), c))
    # Behaviour, not just shape: a = 1 alone satisfies "a or (b and c)" but not "(a or b) and c".
    assert matches("a = 1 or b = 2 and c = 3", {"a": 1})
    assert not matches("(a = 1 or b = 2) and c = 3", {"a": 1})


def test_in_list_values_may_mix_types() -> None:
    assert parse("x in ('a', 1, true)") == In("x", ("a", Decimal(1), True))
    assert matches("x in ('a', 1, true)", {"x": True})
    assert matches("x in ('a', 1, true)", {"x": "1"})
    assert not matches("x not in ('a', 1, true)", {"x": "b"})  # 'b' != 1 cannot be decided: false
    assert matches("x not in ('a', 'c', 2)", {"x": 1})


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("brand = ", 8, "unexpected end of input"),
        ("brand == 'x'", 7, "unexpected '='"),
        ("(a = 1", 6, "unexpected end of input"),
        ("a in ()", 6, "empty list after 'in'"),
        ("", 0, "empty condition"),
        ("   ", 0, "empty condition"),
        ("brand = 'Columbia", 8, "unterminated string"),
        ('brand = "x', 8, "unterminated string"),
        ("a = 1 b = 2", 6, "unexpected 'b'"),
        ("a = 1)", 5, "unexpected ')'"),
        ("a not = 1", 6, "unexpected '='"),
        ("a in 1", 5, "unexpected '1'"),
        ("a in (1,)", 8, "unexpected ')'"),
        ("a in (1 2)", 8, "unexpected '2'"),
        ("a # 1", 2, "unexpected character '#'"),
        ("a = 1.", 5, "unexpected character '.'"),
        ("'x' = a", 0, "unexpected string 'x'"),
        ("a = b", 4, "unexpected 'b'"),
        ("and = 1", 0, "unexpected 'and'"),
        ("a = 1 and", 9, "unexpected end of input"),
        ("a = 1 or or b = 2", 9, "unexpected 'or'"),
        ("not", 3, "unexpected end of input"),
        ("a", 1, "unexpected end of input"),
        ("a = 'x' and b = 'y", 16, "unterminated string"),
        ("a = = 'unterminated", 4, "unexpected '='"),  # the leftmost problem wins
        ("price >= 1e3", 10, "unexpected 'e3'"),
        ("c >= 'O''Nei", 5, "unterminated string"),  # at its opening quote, not inside the word
        ("c = 'it''", 4, "unterminated string"),
        ("2nd = 1", 0, "unexpected '2'"),
    ],
)
def test_error_positions(text: str, position: int, message: str) -> None:
    with pytest.raises(ConditionError) as caught:
        parse(text)
    error = caught.value
    assert (error.position, error.message) == (position, message)
    assert str(error) == f"{message} at position {position}"
    with pytest.raises(ConditionError):
        validate(text)
    with pytest.raises(ConditionError):
        compile_condition(text)


def test_attribute_names_in_any_script() -> None:
    """A catalog's own names ("цвет", "größe") can be named, as the catalog takes them."""
    line = {"цвет": "красный", "größe": 41, "名前": "x", "_x1.b-c": 1}
    assert matches("цвет = 'красный' and größe >= 40 and 名前 = 'x' and _x1.b-c = 1", line)
    assert not matches("Цвет = 'красный'", line)  # names stay case-sensitive
    assert to_text(parse("цвет in ('a', 'b')")) == "цвет in ('a', 'b')"
    # names run on through combining marks, the vowel signs of Indic and Thai words
    assert matches("रंग = 'लाल' and สี = 'แดง'", {"रंग": "लाल", "สี": "แดง"})
    assert to_text(parse("रंग in (1)")) == "रंग in (1)"
    # a decomposed name is the same name (the catalog keeps names composed, NFC)
    decomposed = unicodedata.normalize("NFD", "größe")
    assert decomposed != "größe" and matches(f"{decomposed} >= 40", {"größe": 41})


def test_names_with_spaces_symbols_or_keywords_between_backticks() -> None:
    """An imported catalog's "pack size" or "Größe (EU)" can be named, and so can a keyword."""
    line = {"pack size": "12 OZ", "Größe (EU)": 41, "in": True, "a`b": "x", "brand": "Acme"}
    assert matches("`pack size` = '12 OZ' and `Größe (EU)` >= 40 and `in` = true", line)
    assert matches("`a``b` in ('x') and `brand` = 'Acme'", line)  # a plain name may be quoted too
    assert attributes_used("`pack size` = '1' or brand = 'x'") == {"pack size", "brand"}
    assert to_text(parse("`pack size` not in (1)")) == "`pack size` not in (1)"
    assert to_text(Compare("a`b", "=", "x")) == "`a``b` = 'x'"
    assert to_text(parse("`brand` = 'x'")) == "brand = 'x'"
    decomposed = unicodedata.normalize("NFD", "Größe (EU)")
    assert matches(f"`{decomposed}` = 41", line)
    for text, message, position in [
        ("`` = 1", "empty attribute name", 0),
        ("a = 1 or `pack size = 1", "unterminated quoted name", 9),
        ("a = `b`", "unexpected '`b`'", 4),
        ("x = 1 or `" + "a" * 65 + "` = 1", "an attribute name is at most 64 characters", 9),
        ("a" * 65 + " = 1", "an attribute name is at most 64 characters", 0),
        ("`a\nb` = 1", "an attribute name has no control characters (a line break)", 0),
    ]:
        with pytest.raises(ConditionError) as caught:
            parse(text)
        assert (caught.value.message, caught.value.position) == (message, position)


def test_error_message_format_and_type() -> None:
    with pytest.raises(ConditionError) as caught:
        parse("sport = 'ski' or )")
    assert str(caught.value) == "unexpected ')' at position 17"
    assert caught.value.expected == "a condition"
    assert isinstance(caught.value, ValueError)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.message, copy.position, str(copy)) == (caught.value.message, 17, str(caught.value))


def test_nesting_limit() -> None:
    deep = "(" * MAX_DEPTH + "a = 1" + ")" * MAX_DEPTH
    assert matches(deep, {"a": 1})
    nots = "not " * MAX_DEPTH + "a = 1"
    assert matches(nots, {"a": 1}) is (MAX_DEPTH % 2 == 0)
    # Alternating and/or/not at the limit must still compile to valid Python.
    mixed = "".join("not (a = 1 and " if i % 2 else "(a = 2 or " for i in range(42)) + "not a = 3" + ")" * 42
    assert matches(mixed, {"a": 4})
    with pytest.raises(ConditionError) as caught:
        parse("(" * (MAX_DEPTH + 1) + "a = 1" + ")" * (MAX_DEPTH + 1))
    assert caught.value.message == "condition nested too deeply"
    assert caught.value.position == MAX_DEPTH


def test_validate_accepts_valid_and_rejects_invalid_text() -> None:
    validate("brand = 'Columbia' and price >= 100")  # must not raise
    with pytest.raises(ConditionError, match="at position 7"):
        validate("brand =")


def test_ast_invariants() -> None:
    with pytest.raises(ValueError):
        And((Literal(True),))
    with pytest.raises(ValueError):
        Or(())
    with pytest.raises(ValueError):
        In("a", ())
    with pytest.raises(ValueError):
        Compare("a", "==", "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Compare("a", "=", 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Compare("a", "=", Decimal("NaN"))
    assert In("a", ["x", "y"]).values == ("x", "y")  # type: ignore[arg-type]


# -- rendering, helpers, caching ------------------------------------------------------------------------


def test_to_text_round_trips_and_quotes() -> None:
    node = Or(
        (
            And((Compare("brand", "=", "O'Neill"), Or((Literal(True), Not(In("c", ("a", "b"), True)))))),
            Not(And((Compare("price", ">=", Decimal("1E+2")), Compare("flag", "!=", False)))),
        )
    )
    text = to_text(node)
    assert text == (
        "brand = 'O''Neill' and (true or not c not in ('a', 'b')) or not (price >= 100 and flag != false)"
    )
    assert parse(text) == node
    assert to_text(Compare("and", "=", "x")) == "`and` = 'x'"
    assert to_text(Compare("has space", "=", "x")) == "`has space` = 'x'"
    with pytest.raises(ValueError):
        to_text(Compare("", "=", "x"))


def test_attributes_used() -> None:
    text = "sport = 'ski' or (category = 'boots' and not brand in ('Acme')) or true"
    assert attributes_used(text) == frozenset({"sport", "category", "brand"})
    assert attributes_used("true") == frozenset()


def test_always() -> None:
    assert ALWAYS({}) is True
    assert ALWAYS(JACKET) is True


def test_compile_is_cached_by_text() -> None:
    first = compile_condition("brand = 'Cached' and price > 1")
    assert compile_condition("brand = 'Cached' and price > 1") is first
    assert compile_condition("brand = 'Cached' and price > 2") is not first


def test_compiled_predicate_accepts_any_mapping() -> None:
    from types import MappingProxyType

    assert matches("brand = 'Columbia'", MappingProxyType(dict(JACKET)))
