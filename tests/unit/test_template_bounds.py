"""No template may take more than a sliver of the server or a worker: each of these once ran
for minutes, grew the process by gigabytes, or raised a 500 (found probing the API, 2026-12-05)."""

from __future__ import annotations

import time

import pytest

from patron.backoffice.templates import MAX_LENGTH, TemplateProblem, render

RUNAWAYS = {
    "nested loops": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "loops that print nothing": "{% for i in range(20000) %}{% for j in range(20000) %}{% endfor %}{% endfor %}",
    "many small loops": "{% for i in range(20000) %}{% for j in range(10) %}{% endfor %}{% endfor %}",
    "recursion": "{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}",
    "a filter's own error": "{{ at | date(5) }}",
    "repetition": "{{ 'x' * 1000000000 }}",
    "a power": "{{ 9 ** (9 ** 9) }}",
    "a wide filter": "{{ 'x' | center(1000000000) }}",
    "a wide method": "{{ 'x'.ljust(1000000000) }}",
    "a wide printf": "{{ '%0999999999d' | format(1) }}",
    "a wide printf operator": "{{ '%0999999999d' % 1 }}",
    "a wide str.format": "{{ '{:0999999999}'.format(1) }}",
    "a long text": "{% for i in range(30000) %}x{% endfor %}",
    "a growing replace": "{{ ('x' * 1000) | replace('', 'y' * 100) }}",
    # found by a probe of communications, 2026-12-06: a power of a power, loops over texts, text
    # doubled by ~ or +, and lipsum each held a server for seconds or grew it by gigabytes
    "a power of a power": "{{ (((10**64)**64)**64)**64 > 1 }}",
    "loops over a text": "{% set s = 'a' * 20000 %}{% for i in s %}{% for j in s %}{% endfor %}{% endfor %}",
    "loops over a list": "{% for i in ('a' * 5000) | list %}{% for j in 'a' * 5000 %}{% endfor %}{% endfor %}",
    "a text doubled by ~": (
        "{% set ns = namespace(x='aaaaaaaaaa') %}{% for i in range(26) %}{% set ns.x = ns.x ~ ns.x %}"
        "{% endfor %}{{ ns.x | length }}"
    ),
    "a text doubled by +": (
        "{% set ns = namespace(x='aaaaaaaaaa') %}{% for i in range(26) %}{% set ns.x = ns.x + ns.x %}"
        "{% endfor %}{{ ns.x | length }}"
    ),
    "a macro doubling its argument": (
        "{% macro d(x, n) %}{% if n %}{{ d(x ~ x, n - 1) }}{% else %}{{ x | length }}{% endif %}{% endmacro %}"
        "{{ d('aaaaaaaaaa', 30) }}"
    ),
    "a number squared again and again": (
        "{% set ns = namespace(x=10000) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}{% endfor %}"
        "{{ ns.x > 1 }}"
    ),
    "lipsum": "{{ lipsum(1000, false, 2000, 2001) }}",
    # a second probe, the same day: a list changed in place, blocks, bytes, dicts, growth inside one
    # call, widths from arguments, a recursive loop, a huge |int, a sum of lists
    "a list extended by itself": "{% set l = [1] %}{% for i in range(26) %}{{ l.extend(l) }}{% endfor %}",
    "a block doubled in a block": (
        '{% set s = "x" * 20000 %}{% set a %}{% for i in range(100) %}{{ s }}{% endfor %}{% endset %}'
        "{% set b %}{% for i in range(100) %}{{ a }}{% endfor %}{% endset %}{{ b | length }}"
    ),
    "literal text in a block": "{% set b %}{% for i in range(20000) %}"
    + "x" * 100
    + "{% endfor %}{% endset %}",
    "a filter block": '{% set s = "x" * 20000 %}{% filter length %}{% for i in range(10000) %}{{ s }}{% endfor %}{% endfilter %}',
    "bytes": '{% set s = "x" * 20000 %}{% set b = s.encode() * 20000 %}{{ b | length }}',
    "a dict of keys": "{{ {}.fromkeys(range(20000) | list) | length }}",
    "expandtabs": '{{ ("\t" * 20000).expandtabs(20000) | length }}',
    "a replace method": '{% set s = "x" * 20000 %}{{ s.replace("", s) | length }}',
    "a replace filter": '{% set s = "x" * 20000 %}{{ s | replace("x", s) | length }}',
    "translate": '{% set s = "x" * 20000 %}{{ s.translate({120: s}) | length }}',
    "indent": '{{ ("\n" * 20000) | indent(20000) | length }}',
    "a width from a format's argument": '{{ "{:{w}}".format(1, w="300000000") | length }}',
    "a width from a printf argument": '{{ ("%*s" % (300000000, "")) | length }}',
    "a join of many copies": '{% set s = "x" * 20000 %}{{ ([s] * 20000) | join | length }}',
    "a list printed by ~": '{% set s = "x" * 2000 %}{% set l = [s, s, s, s, s, s, s, s, s, s] %}{{ (l ~ l) | length }}',
    "a recursive loop": (
        "{% set M = range(15000) | list %}{% for x in [[M, M, M, M, M, M, M, M]] recursive %}"
        "{% if x is iterable %}{{ loop(x) }}{% endif %}{% endfor %}"
    ),
    "a huge int": '{{ ("9" * 4000) | int }}',
    "a sum of lists": "{{ [[1] * 100] * 100 | sum(start=[]) | length }}",
}


@pytest.mark.parametrize("source", RUNAWAYS.values(), ids=RUNAWAYS.keys())
def test_a_runaway_template_is_a_template_problem_at_once(source: str) -> None:
    started = time.perf_counter()
    with pytest.raises(TemplateProblem):
        render(source, {"at": "2026-12-05", "currency": "EUR"})
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "source", ['{{ "1e300000000" | money }}', '{{ "1e19000" | number }}', "{{ 1e308 ** 2.5 }}"]
)
def test_a_number_too_large_says_so(source: str) -> None:
    """It said "Overflow: [<class 'decimal.Overflow'>]" or "OverflowError: (34, ...)"."""
    with pytest.raises(TemplateProblem, match=r"^a number too large to compute or to format$"):
        render(source, {"currency": "EUR"})


def test_ordinary_templates_are_untouched() -> None:
    variables = {"name": "Anna", "points": 1234567, "currency": "EUR", "locale": "en"}
    source = (
        "Hello {{ name }}! {% for i in range(3) %}{{ i }}{% endfor %} {{ points | number }} "
        "{{ points | money }} {{ '%05d' | format(42) }} {{ '{:>3}'.format('a') }} {{ 'ab' * 3 }}"
        " {% for c in name %}{{ c ~ '.' }}{% endfor %} {{ name + '!' }} {{ 2 ** 10 }} {{ points * 100 }}"
    )
    assert render(source, variables) == (
        "Hello Anna! 012 1,234,567 €1,234,567.00 00042   a ababab A.n.n.a. Anna! 1024 123456700"
    )
    exactly_long_enough = "{% for i in range(" + str(MAX_LENGTH) + ") %}x{% endfor %}"
    assert len(render(exactly_long_enough, {})) == MAX_LENGTH


def test_an_absent_value_prints_as_nothing_through_every_filter() -> None:
    """A welcome with ``{{ member.birthday | date }}`` passed the check when saved and then
    failed for every member without a birthday."""
    source = "[{{ v | date }}|{{ v | datetime }}|{{ v | money }}|{{ v | number }}|{{ v }}]"
    assert render(source, {"v": None, "currency": "EUR"}) == "[||||]"


@pytest.mark.parametrize("pattern", ["yyyy-MM-dd HH:mm", "h:mm a", "Z", "O", "OOOO", "xx", "z"])
def test_a_time_in_a_date_pattern_says_to_use_datetime(pattern: str) -> None:
    """It said "AttributeError: 'datetime.date' object has no attribute 'hour'", and a zone's
    letters printed "None" or "+0000" for any member."""
    with pytest.raises(TemplateProblem, match="use datetime"):
        render(f"{{{{ at | date('{pattern}') }}}}", {"at": "2026-12-05T12:00:00+03:00", "currency": "EUR"})
    variables = {"at": "2026-12-05T12:00:00+03:00", "currency": "EUR"}
    assert render("{{ at | date(\"d MMMM y 'at noon'\") }}", variables) == "5 December 2026 at noon"
