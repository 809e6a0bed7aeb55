"""Grammar of the condition language: the error type, the AST, the lexer and the renderer.

The syntax, in EBNF (keywords are case-insensitive, whitespace separates tokens)::

    condition  = or_expr EOF
    or_expr    = and_expr { "or" and_expr }
    and_expr   = not_expr { "and" not_expr }
    not_expr   = "not" not_expr | primary
    primary    = "(" or_expr ")" | "true" | "false" | comparison
    comparison = ( NAME | QNAME ) ( OP value | [ "not" ] "in" "(" value { "," value } ")" )
    value      = STRING | NUMBER | "true" | "false"

    OP     = "=" | "!=" | "<" | "<=" | ">" | ">="
    NAME   = start { part } { ("." | "-") part { part } }   (not a keyword)
    start  = a letter of any script | "_"
    part   = start | a digit
    QNAME  = "`" { any char but "`" | "``" } "`"   (a catalog's name with spaces or symbols: `pack size`)
    STRING = "'" { any char but "'" | "''" } "'"  |  '"' { any char but '"' | '""' } '"'
    NUMBER = [ "-" ] digit { digit } [ "." digit { digit } ]

The AST and the renderer live here too because ``to_text`` is the inverse of the grammar: it must
quote and parenthesise exactly as the parser reads.
"""

from __future__ import annotations

import re
import typing
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, NamedTuple, TypeAlias

__all__ = [
    "COMPARE_OPS",
    "KEYWORDS",
    "And",
    "Compare",
    "CompareOp",
    "ConditionError",
    "In",
    "Literal",
    "Node",
    "Not",
    "Or",
    "Token",
    "Value",
    "name_text",
    "to_text",
    "tokenize",
]

# ---------------------------------------------------------------------------------------------------------
# Errors


class ConditionError(ValueError):
    """A condition that cannot be used; ``position`` is the 0-based offset of the first problem.

    ``expected`` (optional) says what the parser was looking for, for UIs that want to hint.
    """

    def __init__(self, message: str, position: int, expected: str | None = None) -> None:
        super().__init__(message, position, expected)
        self.message = message
        self.position = position
        self.expected = expected

    def __str__(self) -> str:
        return f"{self.message} at position {self.position}"


# ---------------------------------------------------------------------------------------------------------
# AST

Value: TypeAlias = str | Decimal | bool
CompareOp: TypeAlias = typing.Literal["=", "!=", "<", "<=", ">", ">="]
COMPARE_OPS: Final[frozenset[str]] = frozenset({"=", "!=", "<", "<=", ">", ">="})
KEYWORDS: Final[frozenset[str]] = frozenset({"and", "or", "not", "in", "true", "false"})


def _check_value(value: object) -> None:
    # Decimal, never int or float: the compiler and interpreter dispatch on the literal's type.
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"number literals must be finite, got {value!r}")
    elif not isinstance(value, str | bool):
        raise TypeError(f"a literal must be str, Decimal or bool, got {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Compare:
    """``attr op value``, e.g. ``price >= 100``."""

    attr: str
    op: CompareOp
    value: Value

    def __post_init__(self) -> None:
        if self.op not in COMPARE_OPS:
            raise ValueError(f"unknown operator {self.op!r}")
        _check_value(self.value)


@dataclass(frozen=True, slots=True)
class In:
    """``attr in (v, ...)``, or ``attr not in (v, ...)`` when ``negated``."""

    attr: str
    values: tuple[Value, ...]
    negated: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))  # accept lists, stay hashable
        if not self.values:
            raise ValueError("'in' needs at least one value")
        for value in self.values:
            _check_value(value)


@dataclass(frozen=True, slots=True)
class And:
    """All items hold. Always two or more, so the parser and ``to_text`` round-trip exactly."""

    items: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        if len(self.items) < 2:
            raise ValueError("And needs at least two items")


@dataclass(frozen=True, slots=True)
class Or:
    """At least one item holds. Always two or more items."""

    items: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(self.items))
        if len(self.items) < 2:
            raise ValueError("Or needs at least two items")


@dataclass(frozen=True, slots=True)
class Not:
    """The item does not hold (true when the attribute is absent)."""

    item: Node


@dataclass(frozen=True, slots=True)
class Literal:
    """The bare ``true`` / ``false`` condition."""

    value: bool


Node: TypeAlias = Compare | In | And | Or | Not | Literal

# ---------------------------------------------------------------------------------------------------------
# Lexer

# Letters of any script (a catalog's "цвет" or "größe"), digits and underscores; not a digit first.
# A name also runs on through combining marks, which ``\w`` leaves out (``_name_end``).
_NAME = r"[^\W\d][\w]*(?:[.-]\w+)*"
NAME_RE: Final = re.compile(_NAME)
_NAME_TAIL: Final = re.compile(r"\w*(?:[.-]\w+)*")


def _name_end(text: str, end: int) -> int:
    """Where a name that ``NAME_RE`` read up to ``end`` really ends: on through the combining marks
    after it (the vowel signs of Indic and Thai words, "रंग", "สี") and what follows them."""
    while end < len(text) and unicodedata.category(text[end]).startswith("M"):
        tail = _NAME_TAIL.match(text, end + 1)
        assert tail is not None  # it matches the empty string
        end = tail.end()
    return end


def is_name(text: str) -> bool:
    """Whether ``text`` can be written as an attribute's name in a condition without backticks."""
    match = NAME_RE.match(text)
    return match is not None and _name_end(text, match.end()) == len(text) and text.lower() not in KEYWORDS


# A string's body is possessive (``*+``): once ``''`` has been read as a quote inside the string it
# is never read back as the string's end, so ``'O''Nei`` is one string that is not terminated, at
# its opening quote, rather than ``'O'`` followed by another at the second quote.
_TOKEN_RE: Final = re.compile(
    rf"""
      (?P<ws>\s+)
    | (?P<number>-?[0-9]+(?:\.[0-9]+)?)
    | (?P<name>{_NAME})
    | (?P<string>'(?:[^']|'')*+'|"(?:[^"]|"")*+")
    | (?P<qname>`(?:[^`]|``)*+`)
    | (?P<op>!=|<=|>=|[=<>(),])
    """,
    re.VERBOSE,
)


class Token(NamedTuple):
    """``kind`` is name, keyword, string, number, op or eof; ``value`` is the decoded payload."""

    kind: str
    text: str
    pos: int
    value: object

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of input"
        if self.kind == "string":
            return f"string {self.text}"
        return f"'{self.text}'"


MAX_NAME = 64  # characters of an attribute's name, in the catalog and on a line alike


def _attribute_name(name: str, pos: int) -> str:
    """A name no product or line could have would make a condition that never holds."""
    if not name:
        raise ConditionError("empty attribute name", pos)
    if len(name) > MAX_NAME:
        raise ConditionError(f"an attribute name is at most {MAX_NAME} characters", pos)
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise ConditionError("an attribute name has no control characters (a line break)", pos)
    return name


def tokenize(text: str) -> Iterator[Token]:
    """Yield tokens lazily so that the leftmost error, lexical or syntactic, is the one reported."""
    pos = 0
    end = len(text)
    while pos < end:
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "'\"":
                raise ConditionError("unterminated string", pos)
            if char == "`":
                raise ConditionError("unterminated quoted name", pos)
            raise ConditionError(f"unexpected character {char!r}", pos)
        kind = match.lastgroup
        stop = _name_end(text, match.end()) if kind == "name" else match.end()
        raw = text[pos:stop]
        if kind == "name":
            lowered = raw.lower()
            if lowered in KEYWORDS:
                yield Token("keyword", raw, pos, lowered)
            else:  # one form of each name, as the catalog keeps them (a decomposed "größe" is one)
                yield Token("name", raw, pos, _attribute_name(unicodedata.normalize("NFC", raw), pos))
        elif kind == "qname":
            name = unicodedata.normalize("NFC", raw[1:-1].replace("``", "`"))
            yield Token("name", raw, pos, _attribute_name(name, pos))
        elif kind == "string":
            quote = raw[0]
            yield Token("string", raw, pos, raw[1:-1].replace(quote + quote, quote))
        elif kind == "number":
            yield Token("number", raw, pos, Decimal(raw))
        elif kind == "op":
            yield Token("op", raw, pos, raw)
        pos = stop
    yield Token("eof", "", end, None)


# ---------------------------------------------------------------------------------------------------------
# Renderer


def name_text(attr: str) -> str:
    """An attribute's name as a condition writes it: plain, or between backticks."""
    return _render_attr(attr)


def _render_attr(attr: str) -> str:
    if not attr:
        raise ValueError("an attribute name cannot be empty")
    return attr if is_name(attr) else "`" + attr.replace("`", "``") + "`"


def _render_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation, which the grammar does not read
    return "'" + value.replace("'", "''") + "'"


def _render_items(items: Sequence[Node], joiner: str, wrap: tuple[type, ...]) -> str:
    return joiner.join(f"({to_text(item)})" if isinstance(item, wrap) else to_text(item) for item in items)


def to_text(node: Node) -> str:
    """Render a node as condition text that parses back to an equal node.

    Parentheses go exactly where the parser would otherwise build a different tree: around an Or
    inside an And, around any And/Or under ``not``, and around a same-kind child (the parser only
    flattens one level of ``a and b and c``).
    """
    match node:
        case Literal(value):
            return "true" if value else "false"
        case Compare(attr, op, value):
            return f"{_render_attr(attr)} {op} {_render_value(value)}"
        case In(attr, values, negated):
            keyword = "not in" if negated else "in"
            return f"{_render_attr(attr)} {keyword} ({', '.join(_render_value(v) for v in values)})"
        case Not(item):
            inner = to_text(item)
            return f"not ({inner})" if isinstance(item, And | Or) else f"not {inner}"
        case And(items):
            return _render_items(items, " and ", (And, Or))
        case Or(items):
            return _render_items(items, " or ", (Or,))
    raise TypeError(f"not a condition node: {node!r}")
