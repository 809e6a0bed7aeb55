"""The campaign index finds exactly the lines each campaign's predicate alone would find."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from patron.campaigns.model import CampaignIn
from patron.campaigns.rules import BasketLine, CampaignSet, Compiled, Context, eligible
from patron.conditions import Node, to_text
from tests.unit.test_conditions_properties import lines, nodes

CONTEXT = Context("s1", None, None, datetime(2026, 12, 1, 12, tzinfo=ZoneInfo("UTC")), True, None, None)


def campaign(number: int, condition: str | None) -> Compiled:
    definition = CampaignIn.model_validate(
        {"name": f"c{number}", "condition": condition, "effect": {"type": "discount_percent", "value": "10"}}
    )
    return Compiled.of(f"c{number}", definition)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), nodes), min_size=1, max_size=8), st.lists(lines, min_size=1, max_size=8))
def test_indexed_eligibility_equals_every_predicate_on_every_line(
    conditions: list[Node | None], attributes: list[dict[str, object]]
) -> None:
    compiled = [campaign(n, None if c is None else to_text(c)) for n, c in enumerate(conditions)]
    basket = [BasketLine(i, Decimal(1), 1, a) for i, a in enumerate(attributes, start=1)]
    expected = {c.id: tuple(line.index for line in basket if c.predicate(line.attributes)) for c in compiled}
    found = {c.id: c.lines for c in eligible(CampaignSet(compiled), CONTEXT, basket)}
    assert found == {cid: indexes for cid, indexes in expected.items() if indexes}


def test_lines_are_looked_up_by_value() -> None:
    socks = campaign(1, "category = 'socks'")
    deli = campaign(2, "department in ('DELI', 'MEAT') and price >= 2")
    everything = campaign(3, None)
    basket = [
        BasketLine(1, Decimal(3), 1, {"category": "socks", "department": "CLOTHES", "price": Decimal(3)}),
        BasketLine(2, Decimal(1), 1, {"category": "ham", "department": "DELI", "price": Decimal(1)}),
        BasketLine(3, Decimal(5), 1, {"category": "ham", "department": "MEAT", "price": Decimal(5)}),
    ]
    to_test = CampaignSet([socks, deli, everything]).lines_to_test(basket)
    assert [[line.index for line in lines] for lines in to_test] == [[1], [2, 3], [1, 2, 3]]
    assert [(c.id, c.lines) for c in eligible(CampaignSet([socks, deli, everything]), CONTEXT, basket)] == [
        ("c1", (1,)),
        ("c2", (3,)),
        ("c3", (1, 2, 3)),
    ]
