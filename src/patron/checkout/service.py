"""Checkout use cases: quote, confirm, read, return, cancel (contract 7).

Each one reads what it needs, lets the pure engine decide, then writes in one transaction.
Changes to one member's points run under that member's row lock, so receipts of one member are
serialized and receipts of different members never wait for each other."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

import orjson

from patron import clock as clocks
from patron.backoffice import outbox
from patron.campaigns import optimizer
from patron.campaigns import rules as campaign_rules
from patron.campaigns import store as campaign_store
from patron.campaigns.model import PointsSettings
from patron.campaigns.optimizer import Deal
from patron.campaigns.rules import CampaignSet, Compiled
from patron.checkout import engine, imported, store
from patron.checkout.model import Basket, ReceiptIn, ReturnIn
from patron.db.pool import Connection, Database
from patron.errors import Conflict, InvalidInput, NotFound, PatronError
from patron.ledger import rules
from patron.ledger import service as ledger
from patron.ledger import store as ledger_store
from patron.ledger.store import AllocationRow
from patron.members import service as members
from patron.money import format_money
from patron.program.settings import Program

FUTURE_TOLERANCE = timedelta(minutes=5)
CANCEL_NUMBER = "#cancel"
# a quote reads the usage of up to this many limited campaigns with its context (one round trip);
# a program with more reads the eligible ones' afterwards
MAX_LIMITED_READ_AHEAD = 200


@dataclass(frozen=True, slots=True)
class Caller:
    """What the use cases need from a request: the tenant, its program, the database, the time."""

    db: Database
    tenant_id: int
    program: Program
    now: datetime
    campaigns: CampaignSet = field(default_factory=CampaignSet)
    optimizer_time_limit: float = 0.05
    stamp: store.Stamp | None = None  # what the process's caches held for this request's key


@dataclass(slots=True)
class Prepared:
    """A basket evaluated against the database as it is now."""

    at: datetime
    timezone: str
    member_id: str | None
    debt: int
    tier: str | None
    lots: list[engine.Lot]
    outcome: engine.Outcome
    deal: Deal | None
    names: dict[str, str]
    lot_settings: dict[str, PointsSettings]

    @property
    def balance_before(self) -> int:
        return sum(lot.remaining for lot in self.lots)


@dataclass(frozen=True)
class Fingerprint:
    """A request's fingerprint, to tell an identical repeat from a different body.

    It is taken from the values, not the text: ``"49.9"`` and ``"49.90"``, one moment written
    with two offsets, or a return's lines in another order are the same request; so is the member
    named by ``member`` (``_member_key``: a phone as E.164, a card trimmed), so that a till's retry
    that writes the same phone otherwise is a repeat. ``matches`` also takes the fingerprint with
    the member as written, which versions before 2026-12-07 stored, and that of the text, which
    versions before 2026-12-06 stored, so that a till's retry across an upgrade is still a repeat."""

    digest: bytes
    body: Basket | ReturnIn | None = None
    written: bytes | None = None  # with the member as written, where it is named otherwise

    @classmethod
    def of(cls, body: Basket | ReturnIn, member: tuple[str, str] | None = None) -> Fingerprint:
        # The JSON dump (fast, in pydantic's core), then one spelling for what a till may write
        # otherwise: each price, the moment, the order of a return's lines, the member. Walking
        # every value instead cost 60 µs a 10-line receipt, against 15 µs for the dump.
        values = body.model_dump(mode="json")
        written = None
        if isinstance(body, ReturnIn):
            values["lines"] = sorted(values["lines"], key=lambda item: item["line"])
        else:
            for line, given in zip(values["lines"], body.lines, strict=True):
                line["price"] = _decimal_key(given.price)
            if body.at is not None:
                values["at"] = body.at.astimezone(UTC).isoformat()
            if member is not None:
                written = _digest(values)
                values["member"] = {member[0]: member[1]}
        return cls(_digest(values), body, written)

    def matches(self, stored: bytes) -> bool:
        if stored in (self.digest, self.written):
            return True
        if self.body is None:
            return False
        text = orjson.dumps(self.body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        return stored == hashlib.sha256(text).digest()


def _digest(values: dict[str, Any]) -> bytes:
    return hashlib.sha256(orjson.dumps(values, option=orjson.OPT_SORT_KEYS)).digest()


def _decimal_key(value: Decimal) -> str:
    """``49.90``, ``49.9`` and ``049.9`` alike (a price: decimal text within 10^9, so exact)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def receipt_uuid(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except (ValueError, AttributeError) as exc:
        raise NotFound("no such receipt", code="receipt_not_found") from exc


# --- evaluation ------------------------------------------------------------------------------


def _moment(basket: Basket, now: datetime) -> datetime:
    at = basket.at or now
    if at - now > FUTURE_TOLERANCE:
        raise InvalidInput("at: more than 5 minutes in the future", code="at_in_future", field="at")
    return at


def _check_prices(basket: Basket, program: Program) -> None:
    for position, line in enumerate(basket.lines):
        if line.price != line.price.quantize(program.quantum):
            raise InvalidInput(
                f"lines.{position}.price: more decimals than {program.currency} has",
                code="invalid_price",
                field=f"lines.{position}.price",
            )


def _lines(basket: Basket, catalog_attributes: dict[str, dict[str, Any]]) -> list[engine.Line]:
    lines = []
    for position, line in enumerate(basket.lines, start=1):
        attributes: dict[str, object] = dict(catalog_attributes.get(line.sku, {}))
        attributes.update(line.attributes)
        attributes.update(sku=line.sku, price=line.price, quantity=line.quantity)
        lines.append(engine.Line(position, line.sku, line.quantity, line.price, attributes))
    return lines


async def _prepare(
    conn: Connection, caller: Caller, basket: Basket, *, lock: bool, blocked: frozenset[str] = frozenset()
) -> Prepared:
    program = caller.program
    at = _moment(basket, caller.now)
    _check_prices(basket, program)
    member_key = _member_key(basket, program)
    skus = sorted({ln.sku for ln in basket.lines})
    since = at - timedelta(days=program.tier_window_days)
    used: store.Usage | None = None  # the limited campaigns' usage, when read with the context
    if lock:
        where, attributes, person, (paid, rows) = await store.confirm_context(
            conn, caller.tenant_id, basket.store, skus, member_key, since, at, caller.now, caller.stamp
        )
    else:
        limited = caller.campaigns.limited
        read_ahead = len(limited) <= MAX_LIMITED_READ_AHEAD
        where, attributes, person, (paid, rows), usage = await store.quote_context(
            conn,
            caller.tenant_id,
            basket.store,
            skus,
            member_key,
            since,
            at,
            caller.now,
            limited if read_ahead else [],
        )
        used = usage if read_ahead else None
    if member_key and person is None:
        raise NotFound("no member matches", code="member_not_found")
    if where is None:
        raise InvalidInput(f"store: no store {basket.store!r}", code="unknown_store", field="store")
    timezone = where["timezone"] or program.timezone
    lines = _lines(basket, attributes)
    rules_ = engine.rules_for(program.point_value, program.max_spend_percent, program.no_spend_condition)

    member_id: str | None = None
    debt = 0
    birthday = None
    tier_code: str | None = None
    lots: list[engine.Lot] = []
    earn_percent: Decimal | None = None
    if person is not None:
        member_id, debt, birthday = person["id"], person["debt"], person["birthday"]
        tier = program.tier_for(paid)
        tier_code = tier.code if tier else None
        earn_percent = tier.earn_percent if tier else program.earn_percent
        lots = [engine.Lot(*row) for row in rows]
    elif basket.spend_points not in (0, "max"):
        raise InvalidInput(
            "spend_points: an anonymous basket cannot spend points",
            code="member_required",
            field="spend_points",
        )

    context = campaign_rules.Context(
        store=basket.store,
        city=where["city"],
        country=where["country"],
        local=at.astimezone(clocks.zone(timezone)),
        member=member_id is not None,
        tier=tier_code,
        birthday=birthday,
    )
    deal = await _best_deal(conn, caller, lines, context, earn_percent, member_id, blocked, used)
    requested: int | Literal["max"] = basket.spend_points
    outcome = await _worked_out(
        len(lines) >= LINES_ON_A_THREAD or (requested != 0 and len(lots) >= LOTS_ON_A_THREAD),
        engine.compute,
        lines,
        rules_,
        earn_percent=earn_percent,
        lots=lots,
        requested=requested,
        discounts=deal.discounts if deal else None,
        point_rules=deal.point_rules if deal else (),
    )
    campaigns = caller.campaigns
    return Prepared(
        at, timezone, member_id, debt, tier_code, lots, outcome, deal, campaigns.names, campaigns.lot_settings
    )


LINES_ON_A_THREAD = 100
LOTS_ON_A_THREAD = 200
"""A basket of this many lines, or a member with this many lots to spend from, is worked out (the
optimizer, the engine) on a thread: with dozens of campaigns a 1,000-line basket takes a few
hundred milliseconds, and so does spending from thousands of lots; on the event loop every other
till of the process would wait that long. Below them the thread's own cost is not worth it."""

_T = TypeVar("_T")


async def _worked_out(heavy: bool, work: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    if heavy:
        return await asyncio.to_thread(work, *args, **kwargs)
    return work(*args, **kwargs)


async def _best_deal(
    conn: Connection,
    caller: Caller,
    lines: list[engine.Line],
    context: campaign_rules.Context,
    earn_percent: Decimal | None,
    member_id: str | None,
    blocked: frozenset[str],
    used: store.Usage | None,
) -> Deal | None:
    """The campaigns' best combination, leaving out campaigns whose limits or budgets do not allow
    it; ``used`` is their usage when already read (else it is read here, for the eligible ones)."""
    if not caller.campaigns:
        return None
    program = caller.program
    basket_lines = [
        campaign_rules.BasketLine(ln.index, ln.amount, ln.quantity, ln.attributes) for ln in lines
    ]
    candidates = campaign_rules.eligible(caller.campaigns, context, basket_lines, blocked)
    if not candidates:
        return None
    by_id = caller.campaigns.by_id
    limited = [c.id for c in candidates if by_id[c.id].definition.limits.any]
    if used is None:
        used = await campaign_store.usage(conn, caller.tenant_id, limited, member_id) if limited else {}
    else:
        used = {cid: used[cid] for cid in limited}
    settings = optimizer.Settings(
        base_rate=earn_percent or Decimal(0),
        point_value=program.point_value,
        quantum=program.quantum,
        time_limit=caller.optimizer_time_limit,
    )
    opt_lines = [optimizer.Line(ln.index, ln.price, ln.quantity) for ln in lines]
    out = set(_exhausted(by_id, used))
    if member_id is None:
        # "once per member" cannot be counted for a customer who is not known, and applying it
        # to every anonymous basket would let anyone have it again and again
        out |= {c.id for c in candidates if by_id[c.id].definition.limits.per_member is not None}
    while True:
        live = [c for c in candidates if c.id not in out]
        deal = await _worked_out(
            len(lines) >= LINES_ON_A_THREAD, optimizer.best_deal, opt_lines, live, settings
        )
        over = _over_budget(by_id, used, deal, lines, earn_percent, program)
        if not over:
            return deal
        out |= over


def _exhausted(by_id: dict[str, Compiled], used: dict[str, dict[str, Any]]) -> list[str]:
    gone = []
    for cid, row in used.items():
        limits = by_id[cid].definition.limits
        if (
            (limits.uses is not None and row["uses"] >= limits.uses)
            or (limits.per_member is not None and row["member_uses"] >= limits.per_member)
            or (limits.budget_points is not None and row["points"] >= limits.budget_points)
            or (limits.budget_money is not None and row["money"] >= limits.budget_money)
        ):
            gone.append(cid)
    return gone


def _over_budget(
    by_id: dict[str, Compiled],
    used: dict[str, dict[str, Any]],
    deal: Deal,
    lines: list[engine.Line],
    earn_percent: Decimal | None,
    program: Program,
) -> set[str]:
    """Applied campaigns whose remaining budget does not cover what they would give here."""
    over = set()
    points_given: dict[str, int] | None = None
    for cid in deal.applied:
        limits = by_id[cid].definition.limits
        row = used.get(cid)
        if row is None:
            continue
        if (
            limits.budget_money is not None
            and row["money"] + deal.campaign_discount(cid) > limits.budget_money
        ):
            over.add(cid)
        if limits.budget_points is not None:
            if points_given is None:
                rules_ = engine.rules_for(program.point_value, program.max_spend_percent, None)
                outcome = engine.compute(
                    lines,
                    rules_,
                    earn_percent=earn_percent,
                    lots=[],
                    requested=0,
                    discounts=deal.discounts,
                    point_rules=deal.point_rules,
                )
                points_given = outcome.campaign_points
            if row["points"] + points_given.get(cid, 0) > limits.budget_points:
                over.add(cid)
    return over


def _member_key(basket: Basket, program: Program) -> tuple[str, str] | None:
    """How the basket names its member: ("id" | "phone" | "card", value), phones as E.164."""
    ref = basket.member
    if ref is None:
        return None
    if ref.id is not None:
        return "id", members.member_id(ref.id)
    if ref.phone is not None:
        return "phone", members.normalize_phone(ref.phone, program, "member.phone")
    assert ref.card is not None
    return "card", members.card_to_find(ref.card, "member.card")  # a scanner's CR/LF found no one


def _named_member(basket: Basket, program: Program) -> tuple[str, str] | None:
    """``_member_key``, or none for a member named wrongly, whose error comes from the
    confirmation itself."""
    try:
        return _member_key(basket, program)
    except PatronError:
        return None


def _serial_key(caller: Caller, member: tuple[str, str] | None) -> tuple[object, ...] | None:
    """The key under which this process confirms one member's receipts one at a time (see
    ``Database.transaction``); none for an anonymous basket or a member named wrongly."""
    return None if member is None else ("member", caller.tenant_id, *member)


def _earned_window(prepared: Prepared, program: Program) -> rules.Window:
    return rules.earned_window(
        prepared.at, clocks.zone(prepared.timezone), program.activation_delay_days, program.points_valid_days
    )


def _present(
    prepared: Prepared,
    program: Program,
    *,
    receipt_id: str | None,
    status: str,
    store_code: str,
    number: str | None,
    balance_after: int | None,
) -> dict[str, Any]:
    quantum = program.quantum
    outcome = prepared.outcome

    def money(value: Decimal) -> str:
        return format_money(value, quantum)

    member = None if prepared.member_id is None else {"id": prepared.member_id, "tier": prepared.tier}
    balance = (
        None if prepared.member_id is None else {"before": prepared.balance_before, "after": balance_after}
    )
    return {
        "id": receipt_id,
        "status": status,
        "store": store_code,
        "number": number,
        "at": prepared.at.isoformat(),
        "member": member,
        "lines": [
            {
                "line": line.line,
                "sku": line.sku,
                "quantity": line.quantity,
                "amount": money(line.amount),
                "discount": money(line.discount),
                "points_spent": line.points_spent,
                "paid": money(line.paid),
                "points_earned": line.points_earned,
                "campaigns": line.campaigns,
                "returned_quantity": 0,
            }
            for line in outcome.lines
        ],
        "totals": {
            "amount": money(outcome.amount),
            "discount": money(outcome.discount),
            "points_spent": outcome.points_spent,
            "points_spent_value": money(outcome.points_spent * program.point_value),
            "paid": money(outcome.paid),
            "points_earned": outcome.points_earned,
        },
        "balance": balance,
        "campaigns": _applied(prepared, money),
        "optimal": prepared.deal.optimal if prepared.deal else True,
    }


def _applied(prepared: Prepared, money: Any) -> list[dict[str, Any]]:
    deal = prepared.deal
    if deal is None:
        return []
    return [
        {
            "id": cid,
            "name": prepared.names.get(cid, ""),
            "discount": money(deal.campaign_discount(cid)),
            "points": prepared.outcome.campaign_points.get(cid, 0),
        }
        for cid in deal.applied
    ]


# --- quote and confirm -----------------------------------------------------------------------


async def quote(caller: Caller, basket: Basket) -> dict[str, Any]:
    """Evaluates the basket; changes nothing."""
    async with caller.db.connection() as conn:  # a quote writes nothing: no transaction to open
        prepared = await _prepare(conn, caller, basket, lock=False)
    after = _balance_after(prepared, _grants(prepared, caller.program, None))
    return _present(
        prepared,
        caller.program,
        receipt_id=None,
        status="quote",
        store_code=basket.store,
        number=None,
        balance_after=after if prepared.member_id else None,
    )


class _Repeat(Exception):
    """The receipt number exists already: answer from the stored receipt."""


async def confirm(caller: Caller, body: ReceiptIn) -> tuple[dict[str, Any], bool]:
    """Records a sale; returns (result, created). A repeat with the same body answers the first result.

    There is no look-up before the work: the receipt's insert detects a repeat (its number is
    unique), and so does any refusal on the way (a repeat may no longer be able to spend)."""
    member = _named_member(body, caller.program)
    fingerprint = Fingerprint.of(body, member)
    try:
        async with caller.db.transaction(pipeline=True, serial=_serial_key(caller, member)) as conn:
            return await _confirm(conn, caller, body, fingerprint), True
    except (_Repeat, PatronError) as exc:
        async with caller.db.connection() as conn:
            existing = await store.receipt_by_number(conn, caller.tenant_id, body.store, body.number)
        if existing is None:
            if isinstance(exc, PatronError):
                raise
            raise Conflict("the receipt could not be recorded; try again", code="retry") from exc
    if not fingerprint.matches(bytes(existing["body_hash"])):
        raise Conflict("this store and number belong to a different receipt", code="receipt_number_conflict")
    return existing["result"], False


async def _confirm(
    conn: Connection, caller: Caller, body: ReceiptIn, fingerprint: Fingerprint
) -> dict[str, Any]:
    program = caller.program
    blocked: frozenset[str] = frozenset()
    while True:
        prepared = await _prepare(conn, caller, body, lock=True, blocked=blocked)
        counted = _uses_to_count(caller, prepared)
        refused = await _count_uses(conn, caller, prepared, counted)
        if not refused:
            break
        blocked |= refused  # a racing receipt took what was left: choose again without it
    outcome = prepared.outcome
    receipt_id = str(uuid.uuid4())
    grants = _grants(prepared, program, receipt_id)
    after = _balance_after(prepared, grants)
    result = _present(
        prepared,
        program,
        receipt_id=receipt_id,
        status="confirmed",
        store_code=body.store,
        number=body.number,
        balance_after=after if prepared.member_id else None,
    )
    # Ledger first, then the receipt, whose insert is the one answer waited for: in pipeline mode
    # every write goes in one round trip, and a taken receipt number rolls all of it back.
    member_id = prepared.member_id
    if member_id is not None:
        if outcome.points_spent:
            rows = [
                AllocationRow(0, lot_id, points, receipt_id, line.line)
                for line in outcome.lines
                for lot_id, points in line.lots
            ]
            await ledger_store.insert_debit(
                conn,
                caller.tenant_id,
                member_id,
                kind="spend",
                points=-outcome.points_spent,
                at=prepared.at,
                allocations=rows,
                receipt_id=receipt_id,
                operation="receipt",
            )
        debt = prepared.debt
        for grant in grants:
            made = await ledger.credit(
                conn,
                caller.tenant_id,
                member_id,
                debt,
                kind=grant.kind,
                points=grant.points,
                at=prepared.at,
                window=grant.window,
                spend_condition=grant.spend_condition,
                source=grant.source,
                receipt_id=receipt_id,
                operation="receipt",
                returning=False,
            )
            debt -= made.debt_paid
    try:
        await store.insert_receipt(
            conn,
            caller.tenant_id,
            receipt_id=receipt_id,
            store=body.store,
            number=body.number,
            member_id=member_id,
            at=prepared.at,
            body_hash=fingerprint.digest,
            tier=prepared.tier,
            outcome=outcome,
            result=result,
        )
    except store.ReceiptNumberTaken as exc:
        raise _Repeat from exc
    if prepared.deal is not None:
        await campaign_store.record_applied(
            conn,
            caller.tenant_id,
            receipt_id,
            member_id,
            [
                (
                    cid,
                    prepared.deal.campaign_discount(cid),
                    outcome.campaign_points.get(cid, 0),
                    cid in counted,
                )
                for cid in prepared.deal.applied
            ],
        )
    await outbox.emit(conn, caller.tenant_id, "receipt.confirmed", member_id=member_id, data=result)
    return result


@dataclass(frozen=True, slots=True)
class _Grant:
    """One lot a receipt credits: the base points, or a campaign's points with their own settings."""

    kind: str
    points: int
    window: rules.Window
    spend_condition: str | None
    source: dict[str, Any]


def _balance_after(prepared: Prepared, grants: list[_Grant]) -> int:
    """Available points after the receipt: spent ones gone, earned ones in if already available
    (less what pays the member's debt)."""
    debt = prepared.debt
    after = prepared.balance_before - prepared.outcome.points_spent
    for grant in grants:
        paid_debt = min(debt, grant.points)
        debt -= paid_debt
        if grant.window.available_from <= prepared.at:
            after += grant.points - paid_debt
    return after


def _grants(prepared: Prepared, program: Program, receipt_id: str | None) -> list[_Grant]:
    # the zone whose midnights bound the lots: the store's, or the program's for a store without
    # one, kept so that their dates stay when the program's zone (or the store's) changes later
    receipt_source: dict[str, Any] = {"receipt": receipt_id, "timezone": prepared.timezone}
    outcome, tz = prepared.outcome, clocks.zone(prepared.timezone)
    if prepared.member_id is None or outcome.points_earned == 0:
        return []
    by_id = {}
    if prepared.deal is not None:
        by_id = {rule.campaign_id: rule for rule in prepared.deal.point_rules}
    grants = []
    base = outcome.points_earned
    for cid, settings in prepared.lot_settings.items():
        points = outcome.campaign_points.get(cid, 0)
        if cid not in by_id or points <= 0:
            continue
        window = rules.earned_window(
            prepared.at,
            tz,
            settings.activation_delay_days
            if settings.activation_delay_days is not None
            else program.activation_delay_days,
            settings.valid_days or program.points_valid_days,
        )
        grants.append(
            _Grant("campaign", points, window, settings.spend_condition, {**receipt_source, "campaign": cid})
        )
        base -= points
    if base > 0:
        grants.insert(0, _Grant("earn", base, _earned_window(prepared, program), None, dict(receipt_source)))
    return grants


def _uses_to_count(caller: Caller, prepared: Prepared) -> list[str]:
    """The applied limited campaigns whose use this receipt counts, in campaign id order (the order
    returns give uses back in: no two transactions lock the usage rows in opposite orders).

    A campaign that gives the receipt nothing (points on a line paid entirely with points) is
    listed but uses nothing of its limits."""
    deal = prepared.deal
    if deal is None:
        return []
    by_id = caller.campaigns.by_id
    return sorted(
        cid
        for cid in deal.applied
        if by_id[cid].definition.limits.any
        and (deal.campaign_discount(cid) or prepared.outcome.campaign_points.get(cid, 0))
    )


async def _count_uses(
    conn: Connection, caller: Caller, prepared: Prepared, limited: list[str]
) -> frozenset[str]:
    """Counts a use of each of ``limited``, atomically; the ones refused, if any (then nothing is
    counted)."""
    if prepared.deal is None or not limited:
        return frozenset()
    by_id = caller.campaigns.by_id
    wanted = []
    for cid in limited:
        limits = by_id[cid].definition.limits
        wanted.append(
            campaign_store.Use(
                cid,
                points=prepared.outcome.campaign_points.get(cid, 0),
                money=prepared.deal.campaign_discount(cid),
                uses_limit=limits.uses,
                points_budget=limits.budget_points,
                money_budget=limits.budget_money,
                per_member=limits.per_member,
            )
        )
    refused: set[str] = set()
    try:
        async with conn.transaction():
            refused = await campaign_store.take(conn, caller.tenant_id, prepared.member_id, wanted)
            if refused:
                raise _Refused
    except _Refused:
        return frozenset(refused)
    return frozenset()


class _Refused(Exception):
    """Rolls back the counted uses when one campaign's limits refuse."""


async def get(caller: Caller, raw_id: str) -> dict[str, Any]:
    async with caller.db.connection() as conn:
        row = await store.receipt(conn, caller.tenant_id, receipt_uuid(raw_id))
        if row is None:
            raise NotFound("no such receipt", code="receipt_not_found")
        return await as_it_stands(conn, caller.tenant_id, caller.program, row)


async def find(caller: Caller, store_code: str, number: str) -> dict[str, Any]:
    """The receipt a store numbered so: how a till, or an imported receipt's paper copy, which
    knows only (store, number), reaches a receipt to return or cancel it."""
    async with caller.db.connection() as conn:
        found = await store.receipt_by_number(conn, caller.tenant_id, store_code, number)
    if found is None:
        raise NotFound("no receipt has this store and number", code="receipt_not_found")
    return await get(caller, found["id"])


async def as_it_stands(
    conn: Connection, tenant_id: int, program: Program, row: dict[str, Any]
) -> dict[str, Any]:
    """The receipt's answer as it stands (``row`` from ``store.receipt``): the one stored, or, for an
    imported receipt not returned since, the one built from its figures."""
    if row["result"] is not None:
        return dict(row["result"])
    head, lines = await store.imported_receipt(conn, tenant_id, row["id"])
    assert head is not None
    return imported.present(head, lines, program)
