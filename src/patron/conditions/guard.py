"""What a condition requires of one attribute, so that lines can be matched by index. Pure.

Most campaign conditions name the goods they are about: ``category = 'socks'``,
``department in ('GROCERY', 'DELI') and price >= 2``. Such a condition can only hold for a line
whose attribute is one of a few texts; ``guard`` finds that attribute and those texts, and a
basket's lines are then looked up by their value instead of running every campaign's predicate
on every line. The guard is only a filter: the predicate still decides on the lines it lets
through, so the index never changes what a condition means.

Only text literals that no number could print as are used (``sku = '123'`` also matches the
number 123, see the package's semantics): for those, a line satisfies ``attr = 'text'`` exactly
when its value is that very string.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from patron.conditions.compiler import may_be_number_text
from patron.conditions.grammar import And, Compare, In, Node, Or
from patron.conditions.parser import parse


@dataclass(frozen=True, slots=True)
class Guard:
    """The condition holds only for lines whose ``attr`` is a str among ``values``."""

    attr: str
    values: frozenset[str]


def guard(node: Node) -> Guard | None:
    """A guard that every line satisfying ``node`` meets, or None when there is none to find."""
    match node:
        case Compare(attr, "=", str() as literal) if not may_be_number_text(literal):
            return Guard(attr, frozenset({literal}))
        case In(attr, values, False) if all(isinstance(v, str) and not may_be_number_text(v) for v in values):
            return Guard(attr, frozenset(str(v) for v in values))
        case And(items):
            found = [g for g in map(guard, items) if g is not None]
            return min(found, key=lambda g: (len(g.values), g.attr), default=None)
        case Or(items):
            parts = [guard(item) for item in items]
            guards = [g for g in parts if g is not None]
            if len(guards) < len(parts) or len({g.attr for g in guards}) != 1:
                return None
            return Guard(guards[0].attr, frozenset().union(*(g.values for g in guards)))
    return None


@functools.lru_cache(maxsize=4096)
def guard_of(text: str) -> Guard | None:
    """``guard`` of a condition's text (cached, like compiled predicates)."""
    return guard(parse(text))
