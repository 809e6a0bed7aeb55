"""Jinja's sandbox, bounded. Pure: no I/O.

A template is written by a marketer and rendered inside the server and the workers, so no
template may take more than a sliver of either. Jinja's sandbox keeps a template away from
Python's internals, but not from work: two nested loops over ``range(100000)`` held a server's
event loop and grew it to 7 GB. Here every render gets a budget of loop items and calls and a
deadline; no integer given to a filter or method (a width, a count, a repeat) may be large; no
number may grow beyond ``MAX_BITS``; and no value it builds may be long. Loops over any sequence
and ``~`` joins are bounded by rewriting the parsed template (``_Bounds``): Jinja's sandbox has
no hook for either, and a loop over a long text or a text doubled by ``~`` in a loop held a
server for seconds or grew it by gigabytes. A breach raises ``SecurityError`` (a
``TemplateError``), which the caller reports as the template's problem."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

WORK = 100_000  # range items and calls a render may use in all
SECONDS = 0.5  # a render's deadline (a real one takes well under a millisecond)
MAX_VALUE = 20_000  # characters or items of any value built, and any integer given to a call
MAX_EXPONENT = 64
MAX_BITS = 1024  # of an integer a template computes (about 300 digits; money needs a few dozen)
_WIDE = re.compile(r"[0-9]{6,}")  # a width or precision of 100,000 or more in a format


class _Budget:
    """What one render may still use."""

    def __init__(self) -> None:
        self.left = WORK
        self.deadline = time.monotonic() + SECONDS

    def spend(self, amount: int) -> None:
        self.left -= amount
        if self.left < 0:
            raise SecurityError(f"the template does more than {WORK} steps")
        if time.monotonic() > self.deadline:
            raise SecurityError(f"the template takes longer than {SECONDS} s")


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


def _checked_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
            raise SecurityError(f"a number above {MAX_VALUE} given to a filter or method")


def _checked_pattern(pattern: Any) -> None:
    """Refuses a printf or ``str.format`` pattern whose width or precision would build a huge text."""
    if isinstance(pattern, str) and _WIDE.search(pattern):
        raise SecurityError(f"a width above {MAX_VALUE} in a format")


def _checked_result(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)) and len(value) > MAX_VALUE:
        raise SecurityError(f"a value longer than {MAX_VALUE}")
    return value


def _checked_number(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise SecurityError(f"a number of more than {MAX_BITS} bits")
    return value


def _bounded_items(items: Any) -> Iterator[Any]:
    """A loop's items, each taken from the render's budget (and its deadline looked at)."""
    for item in items:
        spend(1)
        yield item


def _bounded_text(value: Any) -> Any:
    """A ``~`` join's result, within ``MAX_VALUE``."""
    return _checked_result(value)


_ITEMS, _TEXT = "_bounded_items", "_bounded_text"


class _Bounds(NodeTransformer):
    """Rewrites ``{% for x in seq %}`` as ``{% for x in _bounded_items(seq) %}`` and ``a ~ b`` as
    ``_bounded_text(a ~ b)``."""

    def _call(self, name: str, node: nodes.Node) -> nodes.Call:
        return nodes.Call(
            nodes.Name(name, "load", lineno=node.lineno), [node], [], None, None, lineno=node.lineno
        )

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._call(_ITEMS, node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._call(_TEXT, node)


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
        spend(1)
        return _checked_result(function(*args, **kwargs))

    return bounded


class BoundedEnvironment(SandboxedEnvironment):
    """The sandbox with its operators, method calls and ``str.format`` within the bounds. Call
    ``bound`` once all its filters are added."""

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
        if operator == "**" and isinstance(right, (int, float)):
            if abs(right) > MAX_EXPONENT:
                raise SecurityError(f"an exponent above {MAX_EXPONENT}")
            if isinstance(left, int) and right > 0 and left.bit_length() * right > MAX_BITS:
                raise SecurityError(f"a number of more than {MAX_BITS} bits")
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                sized = isinstance(sequence, (str, list, tuple)) and isinstance(times, int)
                if sized and len(sequence) * times > MAX_VALUE:
                    raise SecurityError(f"a value longer than {MAX_VALUE}")
        return _checked_number(_checked_result(super().call_binop(context, operator, left, right)))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # the sandbox's own wrapper of ``str.format``, used wherever a template reaches the method
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _checked_pattern(value.__self__)
        return wrapped

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _checked_arguments(args, kwargs)
        spend(1)
        return _checked_result(super().call(__context, __obj, *args, **kwargs))


def bound(env: BoundedEnvironment) -> None:
    """Wraps every filter of ``env``, and its ``range``, in the bounds."""
    env.filters = {name: _bounded_filter(name, function) for name, function in env.filters.items()}
    env.globals["range"] = _bounded_range
    env.globals[_ITEMS] = _bounded_items
    env.globals[_TEXT] = _bounded_text
    del env.globals["lipsum"]  # placeholder text of any length: nothing a message needs
