"""The reference semantics: value coercions and a plain tree-walking ``evaluate``.

``evaluate`` is deliberately naive; tests use it as the oracle for the compiled predicates. The
compiler reuses ``compare_value`` and ``in_values`` for its rare, slow paths (unusual value types), so
both agree by construction there and the property tests check its fast paths against this module.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

from patron.conditions.grammar import And, Compare, In, Literal, Node, Not, Or, Value

__all__ = ["as_number", "as_text", "compare_value", "evaluate", "in_values"]

_OPS: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

# Strings on a line that count as numbers: plain decimals, no exponent, no NaN/Infinity.
_NUMERIC_STR: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def as_number(value: object) -> int | Decimal | None:
    """The value as an exact number, or None when it cannot be compared with a number literal."""
    if isinstance(value, bool):  # bool is an int subclass, but True is not 1 here
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, Decimal):
        return None if value.is_nan() else value
    if isinstance(value, float):
        return None if math.isnan(value) else Decimal(repr(value))  # 49.9 means 49.9, not its binary
    if isinstance(value, str):
        text = value.strip()
        return Decimal(text) if _NUMERIC_STR.fullmatch(text) else None
    return None


def as_text(value: object) -> str | None:
    """The value as text for comparison with a string literal, or None when it has no text form."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, Decimal | float):
        return str(value)
    return None


def compare_value(value: object, op: str, literal: Value) -> bool:
    """``value op literal`` for one attribute value; False whenever the two cannot be compared."""
    if value is None:
        return False
    left: object
    if isinstance(literal, bool):
        if not isinstance(value, bool):
            return False
        left = value
    elif isinstance(literal, Decimal):
        left = as_number(value)
    else:
        left = as_text(value)
    if left is None:
        return False
    return bool(_OPS[op](left, literal))


def in_values(value: object, values: tuple[Value, ...], negated: bool) -> bool:
    """``in`` is an ``or`` of ``=``; ``not in`` is an ``and`` of ``!=`` (so both are false when absent)."""
    if negated:
        return all(compare_value(value, "!=", literal) for literal in values)
    return any(compare_value(value, "=", literal) for literal in values)


def evaluate(node: Node, line: Mapping[str, object]) -> bool:
    """Whether ``line`` satisfies ``node``, by walking the tree on every call."""
    match node:
        case Literal(value):
            return value
        case Compare(attr, op, literal):
            return compare_value(line.get(attr), op, literal)
        case In(attr, values, negated):
            return in_values(line.get(attr), values, negated)
        case Not(item):
            return not evaluate(item, line)
        case And(items):
            return all(evaluate(item, line) for item in items)
        case Or(items):
            return any(evaluate(item, line) for item in items)
    raise TypeError(f"not a condition node: {node!r}")
