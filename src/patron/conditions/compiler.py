"""Compile a condition once into one generated Python function, cached by text.

Why code generation rather than nested closures: a 3-clause condition becomes a single function whose
body is one boolean expression, so a call costs one Python frame instead of one per node (measured
about 1.8x faster than equivalent closures, ~110 ns against ~200 ns). Each clause has an inline fast
path for the usual value types (exact ``str`` for string literals, ``int`` / ``Decimal`` for number
literals, ``bool`` for booleans) and otherwise calls the interpreter's ``compare_value`` /
``in_values``, which define the semantics.

A fast path may meet a value it cannot handle inline (a signalling NaN, a NaN under ``<``, an
unhashable value under ``in``): it then raises InvalidOperation or TypeError, and the generated
function answers that call with the reference ``evaluate`` instead. This keeps NaN checks off the
common path.

Only names and constants chosen here reach the generated source: attribute names and string literals
are embedded with ``repr``, every other constant is passed through the function's globals.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Final, TypeAlias, cast

from patron.conditions.grammar import And, Compare, In, Literal, Node, Not, Or, Value
from patron.conditions.interpreter import compare_value, evaluate, in_values
from patron.conditions.parser import parse

__all__ = ["ALWAYS", "CACHE_SIZE", "Predicate", "compile_condition", "compile_node", "may_be_number_text"]

Predicate: TypeAlias = Callable[[Mapping[str, object]], bool]

CACHE_SIZE: Final = 4096

_PY_OPS: Final = {"=": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _always(line: Mapping[str, object]) -> bool:
    """The predicate for "no condition"."""
    return True


ALWAYS: Final[Predicate] = _always


def may_be_number_text(literal: str) -> bool:
    """Whether ``str()`` of some int, Decimal or float could equal ``literal`` (then ``=`` needs care)."""
    try:
        Decimal(literal)
    except (InvalidOperation, ValueError):
        return False
    return True


class _CodeGen:
    def __init__(self) -> None:
        self.namespace: dict[str, object] = {"_Decimal": Decimal}

    def const(self, value: object) -> str:
        name = f"_c{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def expr(self, node: Node) -> str:
        match node:
            case Literal(value):
                return "True" if value else "False"
            case Compare(attr, op, literal):
                return self._compare(attr, op, literal)
            case In(attr, values, negated):
                return self._in(attr, values, negated)
            case Not(item):
                return f"(not {self.expr(item)})"
            case And(items):
                return "(" + " and ".join(self.expr(item) for item in items) + ")"
            case Or(items):
                return "(" + " or ".join(self.expr(item) for item in items) + ")"
        raise TypeError(f"not a condition node: {node!r}")

    def _compare(self, attr: str, op: str, literal: Value) -> str:
        get = f"line.get({attr!r})"
        py_op = _PY_OPS[op]
        if isinstance(literal, bool) and op in ("=", "!="):
            return f"({get} is {(literal if op == '=' else not literal)!r})"
        slow = self.const(functools.partial(compare_value, op=op, literal=literal))
        if isinstance(literal, bool):
            return f"{slow}({get})"
        if isinstance(literal, str):
            if op == "=" and not may_be_number_text(literal):
                # Only an equal str can be == a non-numeric text; None, bool, numbers never are.
                return f"({get} == {literal!r})"
            return f"(_v {py_op} {literal!r} if (_v := {get}).__class__ is str else {slow}(_v))"
        integral = literal == literal.to_integral_value() and literal.adjusted() < 64
        as_int = repr(int(literal)) if integral else self.const(literal)  # int == int beats int == Decimal
        # NaN makes != true, so it needs the finiteness test; for the other operators a quiet NaN
        # compares false or raises InvalidOperation, and the predicate then falls back.
        finite = " and _v.is_finite()" if op == "!=" else ""
        return (
            f"(_v {py_op} {self.const(literal)} if (_t := (_v := {get}).__class__) is _Decimal{finite}"
            f" else (_v {py_op} {as_int} if _t is int else {slow}(_v)))"
        )

    def _in(self, attr: str, values: tuple[Value, ...], negated: bool) -> str:
        get = f"line.get({attr!r})"
        py_op = "not in" if negated else "in"
        slow = self.const(functools.partial(in_values, values=values, negated=negated))
        kinds = {type(v) for v in values}
        if len(kinds) > 1:
            return f"{slow}({get})"
        members = self.const(frozenset(values))  # homogeneous only: {True, Decimal(1)} would collapse
        if kinds == {bool}:
            # Only a bool compares with a bool literal, and then every literal is comparable.
            return f"((_v := {get}).__class__ is bool and _v {py_op} {members})"
        if kinds == {str}:
            if not negated and not any(may_be_number_text(str(v)) for v in values):
                # As for =, nothing but an equal str can match; unhashable values fall back.
                return f"({get} in {members})"
            return f"(_v {py_op} {members} if (_v := {get}).__class__ is str else {slow}(_v))"
        if kinds == {Decimal}:
            # int and Decimal hash alike when equal, so one frozenset serves both. A quiet NaN is in
            # no set (fine for in, wrong for not in); a signalling NaN cannot be hashed and falls back.
            finite = " and _v.is_finite()" if negated else ""
            return (
                f"(_v {py_op} {members} if ((_t := (_v := {get}).__class__) is _Decimal{finite})"
                f" or _t is int else {slow}(_v))"
            )
        return f"{slow}({get})"


def compile_node(node: Node) -> Predicate:
    """Generate and compile the predicate for an AST (not cached: nodes with 1 and true compare equal)."""
    gen = _CodeGen()
    source = (
        "def predicate(line):\n"
        "    try:\n"
        f"        return {gen.expr(node)}\n"
        "    except (_InvalidOperation, TypeError):\n"
        "        return _reference(line)\n"
    )
    namespace = gen.namespace
    namespace["_InvalidOperation"] = InvalidOperation
    namespace["_reference"] = functools.partial(evaluate, node)
    exec(compile(source, "<condition>", "exec"), namespace)
    return cast(Predicate, namespace["predicate"])


@functools.lru_cache(maxsize=CACHE_SIZE)
def compile_condition(text: str) -> Predicate:
    """Parse and compile ``text`` once; the same text returns the same predicate object."""
    return compile_node(parse(text))
