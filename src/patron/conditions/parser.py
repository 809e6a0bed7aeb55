"""Recursive-descent parser for conditions (grammar in ``grammar.py``).

Hand-written rather than lark: the grammar is a dozen rules, and a hand-written parser reports the
exact offset of the leftmost problem with a precise message (``empty list``, ``unterminated string``)
and costs nothing at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, cast

from patron.conditions.grammar import (
    COMPARE_OPS,
    And,
    Compare,
    CompareOp,
    ConditionError,
    In,
    Literal,
    Node,
    Not,
    Or,
    Token,
    Value,
    tokenize,
)

__all__ = ["MAX_DEPTH", "attributes_used", "parse", "validate"]

# Nesting of parentheses and ``not``: bounds recursion here, in the interpreter and in the generated code.
MAX_DEPTH: Final = 64


class _Parser:
    def __init__(self, text: str) -> None:
        self._tokens: Iterator[Token] = tokenize(text)
        self.tok: Token = next(self._tokens)
        self._depth = 0

    # -- helpers ------------------------------------------------------------------------------------------

    def _advance(self) -> Token:
        tok = self.tok
        self.tok = next(self._tokens)
        return tok

    def _is(self, kind: str, value: str) -> bool:
        return self.tok.kind == kind and self.tok.value == value

    def _unexpected(self, expected: str) -> ConditionError:
        return ConditionError(f"unexpected {self.tok.describe()}", self.tok.pos, expected)

    def _expect_op(self, op: str) -> None:
        if not self._is("op", op):
            raise self._unexpected(f"'{op}'")
        self._advance()

    def _enter(self) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ConditionError("condition nested too deeply", self.tok.pos)

    # -- rules --------------------------------------------------------------------------------------------

    def condition(self) -> Node:
        if self.tok.kind == "eof":
            raise ConditionError("empty condition", 0, "a condition")
        node = self._or_expr()
        if self.tok.kind != "eof":
            raise self._unexpected("'and', 'or' or the end of the condition")
        return node

    def _or_expr(self) -> Node:
        items = [self._and_expr()]
        while self._is("keyword", "or"):
            self._advance()
            items.append(self._and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _and_expr(self) -> Node:
        items = [self._not_expr()]
        while self._is("keyword", "and"):
            self._advance()
            items.append(self._not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _not_expr(self) -> Node:
        if not self._is("keyword", "not"):
            return self._primary()
        self._enter()
        self._advance()
        node = Not(self._not_expr())
        self._depth -= 1
        return node

    def _primary(self) -> Node:
        tok = self.tok
        if self._is("op", "("):
            self._enter()
            self._advance()
            node = self._or_expr()
            self._expect_op(")")
            self._depth -= 1
            return node
        if tok.kind == "keyword" and tok.value in ("true", "false"):
            self._advance()
            return Literal(tok.value == "true")
        if tok.kind == "name":
            return self._comparison()
        raise self._unexpected("a condition")

    def _comparison(self) -> Node:
        attr = str(self._advance().value)  # the name in NFC, as the catalog keeps names
        tok = self.tok
        if tok.kind == "op" and tok.value in COMPARE_OPS:
            self._advance()
            return Compare(attr, cast(CompareOp, tok.value), self._value())
        negated = self._is("keyword", "not")
        if negated:
            self._advance()
            if not self._is("keyword", "in"):
                raise self._unexpected("'in'")
        if not self._is("keyword", "in"):
            raise self._unexpected("a comparison operator, 'in' or 'not in'")
        self._advance()
        return In(attr, self._value_list(), negated)

    def _value_list(self) -> tuple[Value, ...]:
        self._expect_op("(")
        if self._is("op", ")"):
            raise ConditionError("empty list after 'in'", self.tok.pos, "a value")
        values = [self._value()]
        while self._is("op", ","):
            self._advance()
            values.append(self._value())
        self._expect_op(")")
        return tuple(values)

    def _value(self) -> Value:
        tok = self.tok
        if tok.kind in ("string", "number") or (tok.kind == "keyword" and tok.value in ("true", "false")):
            self._advance()
            if tok.kind == "keyword":
                return tok.value == "true"
            return cast(Value, tok.value)
        raise self._unexpected("a value (a quoted string, a number, true or false)")


def parse(text: str) -> Node:
    """Parse condition text into its AST, or raise ConditionError naming the offending position."""
    return _Parser(text).condition()


def validate(text: str) -> None:
    """Raise ConditionError if ``text`` is not a valid condition (for forms that check before saving)."""
    parse(text)


def checked(text: str | None) -> str | None:
    """``text`` unchanged if it is a valid condition (or None); for field validators, which turn the
    ConditionError (a ValueError) into a validation error naming the position."""
    if text is not None:
        parse(text)
    return text


def _names(node: Node) -> Iterator[str]:
    match node:
        case Compare(attr) | In(attr):
            yield attr
        case Not(item):
            yield from _names(item)
        case And(items) | Or(items):
            for item in items:
                yield from _names(item)


def attributes_used(text: str) -> frozenset[str]:
    """Attribute names the condition reads, so a UI can check them against the catalog."""
    return frozenset(_names(parse(text)))
