"""The what-if preview of a campaign draft: replay real receipts against it. Pure.

Each receipt of the window is evaluated as a quote would have evaluated it, with the campaign
engine's own functions (eligibility, the optimizer, the checkout engine's points), among the
program's other live campaigns, so stacking and exclusivity compete as they would at the till.
What the preview leaves out, and says so on the page:
- the draft's own dates and its active flag (the question is "had it run over these days");
- ``limits`` (uses, per member, budgets): every qualifying receipt counts, and the page sets the
  totals against the budgets instead;
- points spent on the receipts (the choice of campaigns does not depend on them, contract 8);
- line attributes a till sent with the receipt: lines see the catalog as it is now.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from patron import clock
from patron.campaigns import optimizer
from patron.campaigns import rules as campaign_rules
from patron.campaigns.model import CampaignIn
from patron.campaigns.rules import Compiled
from patron.checkout import engine
from patron.conditions import attributes_used
from patron.program.settings import Program

DAYS: Final = 30
DRAFT_ID: Final = "draft"
TIME_LIMIT: Final = 20.0


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    line: int
    sku: str
    quantity: int
    price: Decimal
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PastReceipt:
    id: str
    at: datetime
    store: str
    city: str | None
    country: str | None
    timezone: str | None
    member_id: str | None
    tier: str | None
    birthday: date | None


@dataclass(slots=True)
class Result:
    since: datetime
    until: datetime
    examined: int = 0  # receipts in the window
    to_replay: int = 0  # receipts the draft's window and audience let through
    replayed: int = 0  # of those, replayed so far
    qualifying: int = 0  # the draft was eligible
    applied: int = 0  # the best deal took the draft
    discount: Decimal = Decimal(0)
    points: int = 0
    members: set[str] = field(default_factory=set)
    point_value: Decimal = Decimal(1)
    complete: bool = True

    @property
    def member_count(self) -> int:
        return len(self.members)

    @property
    def points_value(self) -> Decimal:
        return self.points * self.point_value

    @property
    def cost(self) -> Decimal:
        return self.discount + self.points_value


def draft_for_replay(definition: CampaignIn) -> Compiled:
    """The draft as the replay evaluates it: active, with no dates of its own."""
    undated = definition.model_copy(update={"active": True, "starts_at": None, "ends_at": None})
    return Compiled.of(DRAFT_ID, undated)


def context(receipt: PastReceipt, program: Program) -> campaign_rules.Context:
    zone = clock.zone(receipt.timezone or program.timezone)
    return campaign_rules.Context(
        store=receipt.store,
        city=receipt.city,
        country=receipt.country,
        local=receipt.at.astimezone(zone),
        member=receipt.member_id is not None,
        tier=receipt.tier,
        birthday=receipt.birthday,
    )


def may_apply(draft: Compiled, receipt: PastReceipt, program: Program) -> bool:
    """Whether the draft's window, scope and audience allow the receipt (before its lines are read)."""
    ctx = context(receipt, program)
    return campaign_rules.in_window(draft, ctx) and campaign_rules.in_audience(draft, ctx)


def _earn_percent(receipt: PastReceipt, program: Program) -> Decimal | None:
    if receipt.member_id is None:
        return None
    for tier in program.effective_tiers:
        if tier.code == receipt.tier:
            return tier.earn_percent
    return program.earn_percent


def line_screen(draft: Compiled) -> Callable[[ReceiptLine], bool] | None:
    """Whether a line qualifies for the draft, remembered per SKU when the condition reads
    neither the line's price nor its quantity: most receipts of a month have no line the draft
    wants, and are passed over before the eligibility of every campaign is worked out."""
    condition = draft.definition.condition
    if not condition:
        return None
    predicate = draft.predicate

    def qualifies(ln: ReceiptLine) -> bool:
        return bool(predicate({**ln.attributes, "sku": ln.sku, "price": ln.price, "quantity": ln.quantity}))

    if attributes_used(condition) & {"price", "quantity"}:
        return qualifies
    known: dict[str, bool] = {}

    def by_sku(ln: ReceiptLine) -> bool:
        found = known.get(ln.sku)
        if found is None:
            found = known[ln.sku] = qualifies(ln)
        return found

    return by_sku


def replay(
    draft: Compiled,
    others: Sequence[Compiled],
    receipts: Iterable[tuple[PastReceipt, Sequence[ReceiptLine]]],
    program: Program,
    result: Result,
    *,
    time_limit: float = TIME_LIMIT,
    stop: threading.Event | None = None,
) -> Result:
    """Adds each receipt's outcome with the draft to ``result`` (receipts ``may_apply`` let through),
    counting them in ``result.replayed`` as it goes; ``stop`` ends it early (a newer preview)."""
    deadline = time.perf_counter() + time_limit
    rules_ = engine.rules_for(program.point_value, program.max_spend_percent, None)
    campaigns = campaign_rules.CampaignSet([draft, *others])
    screen = line_screen(draft)
    for receipt, past_lines in receipts:
        if time.perf_counter() > deadline or (stop is not None and stop.is_set()):
            result.complete = False
            break
        result.replayed += 1
        if screen is not None and not any(screen(ln) for ln in past_lines):
            continue  # no line qualifies for the draft: it cannot be eligible
        lines = [
            engine.Line(
                ln.line,
                ln.sku,
                ln.quantity,
                ln.price,
                {**ln.attributes, "sku": ln.sku, "price": ln.price, "quantity": ln.quantity},
            )
            for ln in past_lines
        ]
        basket = [campaign_rules.BasketLine(ln.index, ln.amount, ln.quantity, ln.attributes) for ln in lines]
        candidates = campaign_rules.eligible(campaigns, context(receipt, program), basket)
        if not any(c.id == DRAFT_ID for c in candidates):
            continue
        result.qualifying += 1
        earn_percent = _earn_percent(receipt, program)
        settings = optimizer.Settings(
            base_rate=earn_percent or Decimal(0),
            point_value=program.point_value,
            quantum=program.quantum,
        )
        deal = optimizer.best_deal(
            [optimizer.Line(ln.index, ln.price, ln.quantity) for ln in lines], candidates, settings
        )
        if DRAFT_ID not in deal.applied:
            continue
        outcome = engine.compute(
            lines,
            rules_,
            earn_percent=earn_percent,
            lots=[],
            requested=0,
            discounts=deal.discounts,
            point_rules=deal.point_rules,
        )
        result.applied += 1
        result.discount += deal.campaign_discount(DRAFT_ID)
        result.points += outcome.campaign_points.get(DRAFT_ID, 0)
        if receipt.member_id:
            result.members.add(receipt.member_id)
    return result
