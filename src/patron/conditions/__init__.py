"""Conditions: small boolean expressions that select receipt lines by their attributes.

Examples::

    brand = 'Columbia' and category in ('jackets', 'pants')
    sport = 'ski' or (category = 'boots' and not brand = 'Acme')
    price >= 100

A line is a ``Mapping[str, object]``: the product's attributes plus ``sku``, ``price`` and ``quantity``.
``compile_condition(text)`` gives a fast predicate over lines; ``evaluate(parse(text), line)`` is the
slow reference with identical results.

Syntax (the EBNF is in ``grammar.py``)
    * Keywords ``and or not in true false`` are case-insensitive (``AND``, ``In``) and reserved: they
      cannot be attribute names. Precedence, tightest first: ``not``, ``and``, ``or``; parentheses group.
    * Attribute names are case-sensitive: a letter (of any script) or ``_``, then letters, digits and
      ``_``, optionally joined by single ``.`` or ``-`` (``size.eu``, ``sub-category``, ``_x1``, ``цвет``).
      Any other name, a keyword too, is written between backticks with ``````` for a backtick:
      ```pack size` = '12 OZ'``, ```in` = true``.
    * Operators: ``= != < <= > >=``, ``in (v, ...)``, ``not in (v, ...)`` (at least one value, no
      trailing comma). The attribute is always on the left, the literal on the right.
    * String literals use single quotes with ``''`` for a quote (``'O''Neill'``), or double quotes with
      ``""``. There are no backslash escapes.
    * Number literals are ``100``, ``49.90``, ``-5``: read as ``Decimal``, never float. No exponents.
    * ``true`` / ``false`` are boolean literals, and on their own a constant condition.
    * Errors raise ``ConditionError`` with the 0-based ``position`` of the leftmost problem (the end of
      the text when input ends too early); nesting of parentheses and ``not`` is limited to 64 levels.

Semantics
    * Absent means the key is missing or its value is None. Every comparison with an absent attribute
      is false, including ``!=``, ``in`` and ``not in``; only ``not`` turns that into true, so
      ``brand != 'X'`` is false but ``not brand = 'X'`` is true for a line without a brand.
    * Number literal: an int or Decimal value compares numerically (exactly, ``Decimal('49.90') = 49.9``);
      a str value that reads as a plain decimal (``' 49.90'``, ``'+3'``, ``'.5'``; surrounding whitespace
      ignored) compares numerically too; a float compares as the decimal it prints as. Anything else
      (bool, other strings, NaN) makes the comparison false.
    * String literal: a str value compares as text, case-sensitively, in code-point order for ``<``
      and ``>``. An int, Decimal or float value compares as its ``str()`` (so ``sku = '123'`` matches the
      int 123, but ``price = '49.9'`` does not match ``Decimal('49.90')``). A bool never matches.
    * Boolean literal: only a bool value compares (``false < true``); ``1`` and ``'true'`` do not.
    * ``!=`` is "present, comparable and different", not the negation of ``=``: ``price != 5`` is
      false when price is ``'n/a'``. Likewise ``a in (x, y)`` means ``a = x or a = y`` and
      ``a not in (x, y)`` means ``a != x and a != y``.
    * Values of any other type are never comparable (every comparison false).
"""

from __future__ import annotations

from patron.conditions.compiler import ALWAYS, Predicate, compile_condition, compile_node
from patron.conditions.grammar import (
    And,
    Compare,
    ConditionError,
    In,
    Literal,
    Node,
    Not,
    Or,
    Value,
    name_text,
    to_text,
)
from patron.conditions.guard import Guard, guard, guard_of
from patron.conditions.interpreter import evaluate
from patron.conditions.parser import attributes_used, checked, parse, validate

__all__ = [
    "ALWAYS",
    "And",
    "Compare",
    "ConditionError",
    "Guard",
    "In",
    "Literal",
    "Node",
    "Not",
    "Or",
    "Predicate",
    "Value",
    "attributes_used",
    "checked",
    "compile_condition",
    "compile_node",
    "evaluate",
    "guard",
    "guard_of",
    "name_text",
    "parse",
    "to_text",
    "validate",
]
