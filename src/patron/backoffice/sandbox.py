"""Jinja's sandbox, bounded. Pure: no I/O.

A template is written by a marketer and rendered inside the server and the workers, so no
template may take more than a sliver of either. Jinja's sandbox keeps a template away from
Python's internals, but not from work: two nested loops over ``range(100000)`` held a server's
event loop and grew it to 7 GB. Here, for every render:

- a budget of steps: every loop item (over ``range``, a text, a list, a recursive loop's
  ``loop(...)``) and every call takes one, and a deadline is looked at with each;
- a budget of output: every piece a template writes, at the top, in a ``{% set %}`` or
  ``{% filter %}`` block or a macro, counts (a block doubled in a block built 200 MB);
- no value built may be large: texts, bytes, lists, dicts and sets are measured deep (a list of
  20,000 copies of a 20,000-character text is 400 million characters once printed or joined), and
  integers are at most ``MAX_BITS``; a join, ``~``, ``replace``, ``expandtabs``, ``translate`` or
  ``indent`` is measured before it is built, not after;
- lists and dicts cannot be changed in place (``l.extend(l)`` doubled a list in one step):
  Jinja's immutable sandbox;
- no integer given to a filter or method (a width, a count) may be large, and a format may not
  take its width from an argument (``%*s``, ``{:{w}}``).

Loops, ``~`` and output have no hook in Jinja's sandbox, so the parsed template is rewritten
(``_Bounds``). A breach raises ``SecurityError`` (a ``TemplateError``), which the caller reports
as the template's problem."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

WORK = 100_000  # loop items and calls a render may use in all
OUTPUT = 200_000  # characters a render may write in all, blocks and macros included
SECONDS = 0.5  # a render's deadline (a real one takes well under a millisecond)
MAX_VALUE = 20_000  # characters or items of any value built (deep), and any integer given to a call
MAX_EXPONENT = 64
MAX_BITS = 1024  # of an integer a template computes (about 300 digits; money needs a few dozen)
_WIDE = re.compile(r"[0-9]{6,}")  # a width or precision of 100,000 or more in a format
_WIDTH_FROM_ARGUMENT = re.compile(r"%[-+ #0]*(?:\*|[0-9]*\.\*)|\{[^{}]*:[^{}]*\{")


class _Budget:
    """What one render may still use."""

    def __init__(self) -> None:
        self.left = WORK
        self.output = OUTPUT
        self.deadline = time.monotonic() + SECONDS

    def spend(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            raise SecurityError(f"the template does more than {WORK} steps")
        if time.monotonic() > self.deadline:
            raise SecurityError(f"the template takes longer than {SECONDS} s")

    def write(self, characters: int) -> None:
        self.output -= characters
        if self.output < 0:
            raise SecurityError(f"the template writes more than {OUTPUT} characters in all")


_BUDGET: ContextVar[_Budget] = ContextVar("template_budget")


@contextmanager
def budget() -> Iterator[None]:
    """A fresh budget and deadline for the render run inside."""
    token = _BUDGET.set(_Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)


def spend(amount: int) -> None:
    """Takes ``amount`` steps from the current render's budget (0: only the deadline is looked at)."""
    current = _BUDGET.get(None)
    if current is not None:
        current.spend(amount)


def _size(value: Any, limit: int = MAX_VALUE) -> int:
    """How large ``value`` is once printed or joined, deep, counted until it passes ``limit``."""
    if isinstance(value, str | bytes | bytearray):
        return len(value)
    if isinstance(value, list | tuple | set | frozenset | dict):
        total = len(value)
        items = value.items() if isinstance(value, dict) else value
        for item in items:
            if total > limit:
                break
            total += _size(item, limit - total)
        return total
    return 1


def _checked_size(size: int) -> None:
    if size > MAX_VALUE:
        raise SecurityError(f"a value longer than {MAX_VALUE}")


def _checked_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
            raise SecurityError(f"a number above {MAX_VALUE} given to a filter or method")


def _checked_pattern(pattern: Any) -> None:
    """Refuses a printf or ``str.format`` pattern whose width or precision would build a huge text,
    or comes from an argument, where no check sees it."""
    if isinstance(pattern, str) and _WIDE.search(pattern):
        raise SecurityError(f"a width above {MAX_VALUE} in a format")
    if isinstance(pattern, str) and _WIDTH_FROM_ARGUMENT.search(pattern):
        raise SecurityError("a width or precision taken from an argument in a format")


def _checked_result(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise SecurityError(f"a number of more than {MAX_BITS} bits")
    _checked_size(_size(value))
    return value


def _checked_growth(name: str, target: Any, args: Sequence[Any]) -> None:
    """The size of what ``replace``, ``expandtabs``, ``translate``, ``indent`` or ``join`` would build,
    before it is built (``s.replace("", s)`` on 20,000 characters built 400 million)."""
    if name == "join" and isinstance(target, str) and args:
        _checked_size(_size(args[0]) + len(target) * _size(args[0], 0))
    if not isinstance(target, str):
        return
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        times = target.count(args[0]) if args[0] else len(target) + 1
        _checked_size(len(target) + times * max(0, len(args[1]) - len(args[0])))
    elif name == "expandtabs" and args and isinstance(args[0], int):
        _checked_size(len(target) + target.count("\t") * args[0])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((_size(v) for v in args[0].values()), default=1)
        _checked_size(len(target) * max(1, longest))
    elif name == "indent":
        width = args[0] if args and isinstance(args[0], int) else len(str(args[0])) if args else 4
        _checked_size(len(target) + (target.count("\n") + 1) * width)


def _bounded_items(items: Any) -> Iterator[Any]:
    """A loop's items, each taken from the render's budget (and its deadline looked at)."""
    for item in items:
        spend(1)
        yield item


def _bounded_text(*parts: Any) -> str:
    """``a ~ b ~ c``, measured before it is built (``str`` of a list prints every item)."""
    _checked_size(sum(_size(part) for part in parts))
    return "".join(str(part) for part in parts)


def _written(value: Any) -> Any:
    """A piece of a template's output (text, or an expression's value), counted as written."""
    current = _BUDGET.get(None)
    if current is not None:
        current.write(_size(value, OUTPUT))
    return value


_ITEMS, _TEXT, _WRITTEN = "_bounded_items", "_bounded_text", "_written"


class _Bounds(NodeTransformer):
    """Rewrites the parsed template so that loops, ``~`` and output pass through the bounds:
    ``{% for x in seq %}`` iterates ``_bounded_items(seq)`` (a recursive loop's ``loop(x)`` too),
    ``a ~ b`` is ``_bounded_text(a, b)``, and each piece of output is ``_written(piece)``."""

    @staticmethod
    def _call(name: str, args: Sequence[nodes.Node], lineno: int) -> nodes.Call:
        return nodes.Call(nodes.Name(name, "load", lineno=lineno), list(args), [], None, None, lineno=lineno)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._call(_ITEMS, [node.iter], node.lineno)
        if node.recursive:
            for call in node.find_all(nodes.Call):
                if isinstance(call.node, nodes.Name) and call.node.name == "loop" and call.args:
                    call.args[0] = self._call(_ITEMS, [call.args[0]], call.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._call(_TEXT, list(node.nodes), node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [self._call(_WRITTEN, [piece], piece.lineno) for piece in node.nodes]
        return node


def _bounded_range(*args: int) -> range:
    _checked_arguments(args, {})
    items = range(*args)
    spend(len(items))
    return items


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with its integer arguments, its format and its result within the bounds."""

    @wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        value_at = 1 if getattr(function, "jinja_pass_arg", None) else 0  # after the context, if any
        _checked_pattern(args[value_at] if len(args) > value_at and name == "format" else None)
        _checked_arguments(args[value_at + 1 :], kwargs)  # the filtered value itself may be any size
        start = kwargs.get("start", args[value_at + 2] if len(args) > value_at + 2 else 0)
        if name == "sum" and not isinstance(start, int | float | Decimal):  # lists summed: quadratic
            raise SecurityError("sum adds numbers only")
        if len(args) > value_at:
            value, rest = args[value_at], args[value_at + 1 :]
            if name == "join":
                _checked_size(_size(value) + len(str(rest[0]) if rest else "") * _size(value, 0))
            else:
                _checked_growth(name, value, rest)
        spend(1)
        return _checked_result(function(*args, **kwargs))

    return bounded


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with its operators, method calls and ``str.format`` within the
    bounds. Call ``bound`` once all its filters are added."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Jinja's one step between parsing and generating code: every template passes here
        tree = super()._parse(source, name, filename)
        bounded = _Bounds().visit(tree)
        assert isinstance(bounded, nodes.Template)
        return bounded

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%":
            _checked_pattern(left)
        if operator == "**" and isinstance(right, int | float):
            if abs(right) > MAX_EXPONENT:
                raise SecurityError(f"an exponent above {MAX_EXPONENT}")
            if isinstance(left, int) and right > 0 and left.bit_length() * right > MAX_BITS:
                raise SecurityError(f"a number of more than {MAX_BITS} bits")
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, str | bytes | list | tuple) and isinstance(times, int):
                    _checked_size(_size(sequence) * times)
        if operator == "+" and isinstance(left, str | bytes | list | tuple):
            _checked_size(_size(left) + _size(right))
        return _checked_result(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # the sandbox's own wrapper of ``str.format``, used wherever a template reaches the method
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _checked_pattern(value.__self__)
        return wrapped

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if __obj is _written or __obj is _bounded_text or __obj is _bounded_items:
            return __obj(*args)  # the rewrite's own calls: bounded by themselves, not a step each
        _checked_arguments(args, kwargs)
        target = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if target is not None:
            _checked_growth(name, target, args)
        spend(1)
        return _checked_result(super().call(__context, __obj, *args, **kwargs))


def bound(env: BoundedEnvironment) -> None:
    """Wraps every filter of ``env``, and its ``range``, in the bounds."""
    env.filters = {name: _bounded_filter(name, function) for name, function in env.filters.items()}
    env.globals["range"] = _bounded_range
    env.globals[_ITEMS] = _bounded_items
    env.globals[_TEXT] = _bounded_text
    env.globals[_WRITTEN] = _written
    del env.globals["lipsum"]  # placeholder text of any length: nothing a message needs
