"""Properties: compiled predicates agree with the reference interpreter; to_text and parse round-trip."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.conditions import (
    And,
    Compare,
    ConditionError,
    Guard,
    In,
    Literal,
    Node,
    Not,
    Or,
    compile_condition,
    evaluate,
    guard,
    parse,
    to_text,
)

PROPERTY = settings(max_examples=300, deadline=None)

# names that need backticks too: a space, a keyword, a backtick itself
ATTRS = ["brand", "category", "sport", "price", "quantity", "sku", "flag", "color", "pack size", "in", "a`b"]
OPS = ["=", "!=", "<", "<=", ">", ">="]

# Small pools so that conditions and lines actually meet; numeric-looking strings and quotes on purpose.
STRINGS = ["Columbia", "Acme", "O'Neill", 'say "hi"', "ski", "jackets", "pants", "", "10", "49.90", "-5"]
NUMBERS = [Decimal(x) for x in ("0", "1", "2", "10", "49.9", "49.90", "100", "-5", "0.5", "-0")]

literal_values = st.one_of(st.sampled_from(STRINGS), st.sampled_from(NUMBERS), st.booleans())

leaves = st.one_of(
    st.builds(Compare, st.sampled_from(ATTRS), st.sampled_from(OPS), literal_values),
    st.builds(
        In, st.sampled_from(ATTRS), st.lists(literal_values, min_size=1, max_size=4).map(tuple), st.booleans()
    ),
    st.builds(Literal, st.booleans()),
)


def _branches(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    several = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(st.builds(Not, children), st.builds(And, several), st.builds(Or, several))


nodes: st.SearchStrategy[Node] = st.recursive(leaves, _branches, max_leaves=12)

# Every kind of value a line may carry, including the awkward ones the fast paths must hand over.
LINE_VALUES: list[object] = [
    None,
    *STRINGS,
    *["abc", " 10 ", "+2", ".5", "1e3", "NaN", "Columbia ", "true"],
    *NUMBERS,
    *[Decimal("Infinity"), Decimal("-Infinity"), Decimal("NaN"), Decimal("sNaN"), Decimal("49.900")],
    *[-5, 0, 1, 2, 10, 49, 100, 101],
    *[49.9, 0.5, -5.0, float("nan"), float("inf")],
    True,
    False,
    ["unhashable"],
]

line_values = st.sampled_from(LINE_VALUES)

lines = st.fixed_dictionaries({}, optional=dict.fromkeys(ATTRS, line_values))


@PROPERTY
@given(nodes, st.lists(lines, min_size=1, max_size=10))
def test_compiled_agrees_with_interpreter(node: Node, sample: list[dict[str, object]]) -> None:
    text = to_text(node)
    predicate = compile_condition(text)
    reparsed = parse(text)
    for line in sample:
        expected = evaluate(node, line)
        assert predicate(line) is expected, (text, line)
        assert evaluate(reparsed, line) is expected, (text, line)


@PROPERTY
@given(leaves)
def test_each_clause_agrees_on_every_kind_of_value(node: Node) -> None:
    predicate = compile_condition(to_text(node))
    attr = node.attr if isinstance(node, Compare | In) else "x"
    for value in LINE_VALUES:
        line = {attr: value}
        assert predicate(line) is evaluate(node, line), (to_text(node), value)


@PROPERTY
@given(nodes)
def test_to_text_round_trips(node: Node) -> None:
    text = to_text(node)
    assert parse(text) == node
    # Decimal(1) == True, so also compare the rendering, which tells 1 and true apart.
    assert to_text(parse(text)) == text


@PROPERTY
@given(nodes)
def test_rendering_is_robust_to_case_and_spacing(node: Node) -> None:
    text = to_text(node)
    # Upper-casing keywords and squeezing spaces around punctuation must not change the tree.
    keywords = {"and", "or", "not", "in", "true", "false"}
    shouted = " ".join(word.upper() if word in keywords else word for word in text.split(" "))
    assert parse(shouted.replace(", ", ",").replace(" (", "(")) == node


TEXT_ALPHABET = st.sampled_from([*"ab =!<>(),'\"-.15", " and ", " or ", "not ", " in ", "true"])


@PROPERTY
@given(st.lists(TEXT_ALPHABET, max_size=20).map("".join), lines)
def test_arbitrary_text_parses_or_fails_cleanly(text: str, line: dict[str, object]) -> None:
    try:
        node = parse(text)
    except ConditionError as error:
        assert 0 <= error.position <= len(text)
        assert str(error).endswith(f" at position {error.position}")
        return
    assert compile_condition(text)(line) is evaluate(node, line)


# --- guards: the index of campaigns by the values their conditions require ----------------------


@PROPERTY
@given(nodes, st.lists(lines, min_size=1, max_size=10))
def test_a_guard_lets_through_every_line_the_condition_holds_for(
    node: Node, sample: list[dict[str, object]]
) -> None:
    found = guard(node)
    for line in sample:
        if evaluate(node, line) and found is not None:
            value = line.get(found.attr)
            assert value.__class__ is str and value in found.values, (to_text(node), line)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("department = 'DELI'", Guard("department", frozenset({"DELI"}))),
        ("department in ('DELI', 'MEAT') and price >= 2", Guard("department", frozenset({"DELI", "MEAT"}))),
        ("brand = 'Acme' and category in ('a', 'b', 'c')", Guard("brand", frozenset({"Acme"}))),
        (
            "sport = 'ski' or sport in ('snowboard', 'skate')",
            Guard("sport", frozenset({"ski", "snowboard", "skate"})),
        ),
        ("sport = 'ski' or brand = 'Acme'", None),  # two attributes: no single one is required
        ("not brand = 'Acme'", None),
        ("brand != 'Acme'", None),
        ("category not in ('a')", None),
        ("sku = '123'", None),  # the number 123 matches too
        ("price >= 10", None),
    ],
)
def test_guards_of_typical_conditions(text: str, expected: Guard | None) -> None:
    assert guard(parse(text)) == expected
