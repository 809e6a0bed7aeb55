"""Checkout use cases: quote, confirm, read, return, cancel (contract 7).

Each one reads what it needs, lets the pure engine decide, then writes in one transaction.
Changes to one member's points run under that member's row lock, so receipts of one member are
serialized and receipts of different members never wait for each other."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import orjson

from patron import clock as clocks
from patron.catalog import store as catalog
from patron.checkout import engine, returns, store
from patron.checkout.model import Basket, ReceiptIn, ReturnIn
from patron.db.pool import Connection, Database
from patron.errors import Conflict, InvalidInput, NotFound
from patron.ledger import rules
from patron.ledger import service as ledger
from patron.ledger import store as ledger_store
from patron.ledger.store import AllocationRow
from patron.members import service as members
from patron.money import format_money
from patron.program.settings import Program

FUTURE_TOLERANCE = timedelta(minutes=5)
CANCEL_NUMBER = "#cancel"


@dataclass(frozen=True, slots=True)
class Caller:
    """What the use cases need from a request: the tenant, its program, the database, the time."""

    db: Database
    tenant_id: int
    program: Program
    now: datetime


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

    @property
    def balance_before(self) -> int:
        return sum(lot.remaining for lot in self.lots)


def body_hash(body: Basket | ReturnIn) -> bytes:
    """Fingerprint of a request, to tell an identical repeat from a different body."""
    return hashlib.sha256(orjson.dumps(body.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)).digest()


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


async def _prepare(conn: Connection, caller: Caller, basket: Basket, *, lock: bool) -> Prepared:
    program = caller.program
    at = _moment(basket, caller.now)
    _check_prices(basket, program)
    exists, store_tz = await store.store_timezone(conn, caller.tenant_id, basket.store)
    if not exists:
        raise InvalidInput(f"store: no store {basket.store!r}", code="unknown_store", field="store")
    timezone = store_tz or program.timezone
    attributes = await catalog.product_attributes(
        conn, caller.tenant_id, sorted({ln.sku for ln in basket.lines})
    )
    lines = _lines(basket, attributes)
    discounts = [Decimal(0)] * len(lines)
    rules_ = engine.rules_for(program.point_value, program.max_spend_percent, program.no_spend_condition)

    member_id: str | None = None
    debt = 0
    tier_code: str | None = None
    lots: list[engine.Lot] = []
    earn_percent: Decimal | None = None
    if basket.member is not None:
        member_id = await members.resolve(conn, caller.tenant_id, program, basket.member.model_dump())
        debt = await ledger_store.lock_member(conn, caller.tenant_id, member_id, lock=lock)
        since = at - timedelta(days=program.tier_window_days)
        paid = await store.paid_in_window(conn, caller.tenant_id, member_id, since, at)
        tier = program.tier_for(paid)
        tier_code = tier.code if tier else None
        earn_percent = tier.earn_percent if tier else program.earn_percent
        rows = await ledger_store.spendable_lots(conn, caller.tenant_id, member_id, at)
        lots = [engine.Lot(r.id, r.remaining, r.expires_at, r.spend_condition) for r in rows]
    elif basket.spend_points not in (0, "max"):
        raise InvalidInput(
            "spend_points: an anonymous basket cannot spend points",
            code="member_required",
            field="spend_points",
        )

    requested: int | Literal["max"] = basket.spend_points
    outcome = engine.compute(
        lines, discounts, rules_, earn_percent=earn_percent, lots=lots, requested=requested
    )
    return Prepared(at, timezone, member_id, debt, tier_code, lots, outcome)


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
        "campaigns": [],
        "optimal": True,
    }


# --- quote and confirm -----------------------------------------------------------------------


async def quote(caller: Caller, basket: Basket) -> dict[str, Any]:
    """Evaluates the basket; changes nothing."""
    async with caller.db.read() as conn:
        prepared = await _prepare(conn, caller, basket, lock=False)
    window = _earned_window(prepared, caller.program)
    after = prepared.balance_before - prepared.outcome.points_spent
    if window.available_from <= prepared.at:
        after += max(0, prepared.outcome.points_earned - prepared.debt)
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
    """Records a sale; returns (result, created). A repeat with the same body answers the first result."""
    fingerprint = body_hash(body)
    try:
        async with caller.db.transaction() as conn:
            existing = await store.receipt_by_number(conn, caller.tenant_id, body.store, body.number)
            if existing is not None:
                raise _Repeat
            return await _confirm(conn, caller, body, fingerprint), True
    except _Repeat:
        pass
    async with caller.db.read() as conn:
        existing = await store.receipt_by_number(conn, caller.tenant_id, body.store, body.number)
    if existing is None:  # pragma: no cover - a receipt row is never deleted
        raise Conflict("the receipt could not be recorded; try again", code="retry")
    if bytes(existing["body_hash"]) != fingerprint:
        raise Conflict("this store and number belong to a different receipt", code="receipt_number_conflict")
    return existing["result"], False


async def _confirm(conn: Connection, caller: Caller, body: ReceiptIn, fingerprint: bytes) -> dict[str, Any]:
    program = caller.program
    prepared = await _prepare(conn, caller, body, lock=True)
    outcome = prepared.outcome
    receipt_id = str(uuid.uuid4())
    window = _earned_window(prepared, program)
    earned_now = window.available_from <= prepared.at
    debt_paid = min(prepared.debt, outcome.points_earned)
    after = (
        prepared.balance_before
        - outcome.points_spent
        + (outcome.points_earned - debt_paid if earned_now else 0)
    )
    result = _present(
        prepared,
        program,
        receipt_id=receipt_id,
        status="confirmed",
        store_code=body.store,
        number=body.number,
        balance_after=after if prepared.member_id else None,
    )
    inserted = await store.insert_receipt(
        conn,
        caller.tenant_id,
        receipt_id=receipt_id,
        store=body.store,
        number=body.number,
        member_id=prepared.member_id,
        at=prepared.at,
        body_hash=fingerprint,
        tier=prepared.tier,
        outcome=outcome,
        result=result,
    )
    if not inserted:
        raise _Repeat
    member_id = prepared.member_id
    if member_id is None:
        return result
    if outcome.points_spent:
        entry = await ledger_store.insert_entry(
            conn,
            caller.tenant_id,
            member_id,
            kind="spend",
            points=-outcome.points_spent,
            at=prepared.at,
            receipt_id=receipt_id,
            operation="receipt",
        )
        rows = [
            AllocationRow(entry, lot_id, points, receipt_id, line.line)
            for line in outcome.lines
            for lot_id, points in line.lots
        ]
        await ledger_store.insert_allocations(conn, caller.tenant_id, member_id, rows)
    if outcome.points_earned:
        await ledger.credit(
            conn,
            caller.tenant_id,
            member_id,
            prepared.debt,
            kind="earn",
            points=outcome.points_earned,
            at=prepared.at,
            window=window,
            source={"receipt": receipt_id},
            receipt_id=receipt_id,
            operation="receipt",
        )
    return result


async def get(caller: Caller, raw_id: str) -> dict[str, Any]:
    async with caller.db.read() as conn:
        row = await store.receipt(conn, caller.tenant_id, receipt_uuid(raw_id))
    if row is None:
        raise NotFound("no such receipt", code="receipt_not_found")
    return dict(row["result"])


# --- returns and cancellation ----------------------------------------------------------------


async def return_units(caller: Caller, raw_id: str, body: ReturnIn) -> tuple[dict[str, Any], bool]:
    """Returns some units of a receipt; returns (result, created)."""
    if body.number == CANCEL_NUMBER:
        raise InvalidInput(f"number: {CANCEL_NUMBER!r} is reserved for cancellations", field="number")
    requested = {item.line: item.quantity for item in body.lines}
    return await _return(caller, receipt_uuid(raw_id), body.number, body_hash(body), requested, cancel=False)


async def cancel(caller: Caller, raw_id: str) -> dict[str, Any]:
    """Returns every remaining unit and marks the receipt cancelled; a repeat answers the same."""
    result, _ = await _return(caller, receipt_uuid(raw_id), CANCEL_NUMBER, b"cancel", None, cancel=True)
    return result


async def _return(
    caller: Caller,
    receipt_id: str,
    number: str,
    fingerprint: bytes,
    requested: dict[int, int] | None,
    *,
    cancel: bool,
) -> tuple[dict[str, Any], bool]:
    tenant_id, program = caller.tenant_id, caller.program
    async with caller.db.transaction() as conn:
        head = await store.receipt(conn, tenant_id, receipt_id)
        if head is None:
            raise NotFound("no such receipt", code="receipt_not_found")
        member_id: str | None = head["member_id"]
        if member_id:
            await ledger_store.lock_member(conn, tenant_id, member_id)
        receipt = await store.receipt(conn, tenant_id, receipt_id, lock=True)
        assert receipt is not None
        earlier = await store.return_by_number(conn, tenant_id, receipt_id, number)
        if earlier is not None:
            if bytes(earlier["body_hash"]) != fingerprint:
                raise Conflict(
                    "this return number was used for different lines", code="return_number_conflict"
                )
            return earlier["result"], False
        sold = {
            row["line"]: returns.SoldLine(
                row["line"],
                row["quantity"],
                row["returned"],
                Decimal(row["paid"]),
                row["points_spent"],
                row["points_earned"],
            )
            for row in await store.receipt_lines(conn, tenant_id, receipt_id)
        }
        if requested is None:
            requested = {line: s.quantity - s.returned for line, s in sold.items() if s.quantity > s.returned}
        shares = _shares(sold, requested, program)
        outcome = (
            await _settle_points(conn, caller, receipt_id, member_id, shares) if member_id else _Settled()
        )
        paid = sum((share.paid for share in shares), Decimal(0))
        withhold = Decimal(0)
        if program.return_policy == "withhold" and outcome.shortfall:
            withhold = returns.withhold_money(outcome.shortfall, program.point_value, paid)
        for line, quantity in requested.items():
            sold[line] = returns.SoldLine(
                line,
                sold[line].quantity,
                sold[line].returned + quantity,
                sold[line].paid,
                sold[line].points_spent,
                sold[line].points_earned,
            )
        everything_back = all(s.returned == s.quantity for s in sold.values())
        status = "cancelled" if cancel else ("returned" if everything_back else "partially_returned")
        current = dict(receipt["result"])
        current["status"] = status
        current["lines"] = [
            {**line, "returned_quantity": sold[line["line"]].returned} for line in current["lines"]
        ]
        result = {
            "number": number,
            "refund": format_money(paid - withhold, program.quantum),
            "points_refunded": outcome.refunded,
            "points_reversed": outcome.reversed,
            "shortfall": outcome.shortfall,
            "withhold": format_money(withhold, program.quantum),
            "receipt": current,
        }
        await store.record_return(
            conn,
            tenant_id,
            receipt_id,
            number=number,
            body_hash=fingerprint,
            returned={line: q for line, q in requested.items() if q},
            paid=paid,
            status=status,
            receipt_result=current,
            result=result,
        )
        return result, True


def _shares(
    sold: dict[int, returns.SoldLine], requested: dict[int, int], program: Program
) -> list[returns.LineShare]:
    shares = []
    for position, (line, quantity) in enumerate(requested.items()):
        item = sold.get(line)
        if item is None:
            raise InvalidInput(
                f"lines.{position}.line: the receipt has no line {line}", field=f"lines.{position}.line"
            )
        if item.returned + quantity > item.quantity:
            raise InvalidInput(
                f"lines.{position}.quantity: only {item.quantity - item.returned} units of line {line} remain",
                code="too_many_units",
                field=f"lines.{position}.quantity",
            )
        shares.append(returns.line_share(item, quantity, program.quantum))
    return shares


@dataclass(slots=True)
class _Settled:
    refunded: int = 0
    reversed: int = 0
    shortfall: int = 0


async def _settle_points(
    conn: Connection, caller: Caller, receipt_id: str, member_id: str, shares: list[returns.LineShare]
) -> _Settled:
    """Puts spent points back into their lots, then takes the earned points back."""
    tenant_id, program, now = caller.tenant_id, caller.program, caller.now
    settled = _Settled()
    unrefunded = await store.unrefunded_spend(conn, tenant_id, receipt_id)
    refund_rows: list[tuple[int, int, int]] = []
    for share in shares:
        for lot_id, points in returns.refund_to_lots(share.points_spent, unrefunded.get(share.line, [])):
            refund_rows.append((lot_id, points, share.line))
    if refund_rows:
        settled.refunded = sum(points for _, points, _ in refund_rows)
        entry = await ledger_store.insert_entry(
            conn,
            tenant_id,
            member_id,
            kind="refund",
            points=settled.refunded,
            at=now,
            receipt_id=receipt_id,
            operation="return",
        )
        await ledger_store.insert_allocations(
            conn,
            tenant_id,
            member_id,
            [AllocationRow(entry, lot_id, -points, receipt_id, line) for lot_id, points, line in refund_rows],
        )

    to_reverse = [(share.line, share.points_earned) for share in shares if share.points_earned]
    if not to_reverse:
        return settled
    own = {lot.id: lot for lot in await ledger_store.receipt_lots(conn, tenant_id, member_id, receipt_id)}
    others = [
        lot for lot in await ledger_store.spendable_lots(conn, tenant_id, member_id, now) if lot.id not in own
    ]
    left = {lot.id: lot.remaining for lot in [*own.values(), *others]}
    reverse_rows: list[AllocationRow] = []
    for line, points in to_reverse:
        taken = returns.take_back(
            points,
            [rules.Holding(lot.id, left[lot.id], lot.expires_at) for lot in own.values()],
            [rules.Holding(lot.id, left[lot.id], lot.expires_at) for lot in others],
        )
        for lot_id, part in taken.taken:
            left[lot_id] -= part
            reverse_rows.append(AllocationRow(0, lot_id, part, receipt_id, line))
        settled.shortfall += taken.shortfall
    settled.reversed = sum(row.points for row in reverse_rows)
    new_debt = settled.shortfall if program.return_policy == "debt" else 0
    entry = await ledger_store.insert_entry(
        conn,
        tenant_id,
        member_id,
        kind="reverse",
        points=-settled.reversed,
        debt=new_debt,
        at=now,
        receipt_id=receipt_id,
        operation="return",
    )
    await ledger_store.insert_allocations(
        conn,
        tenant_id,
        member_id,
        [AllocationRow(entry, r.lot_id, r.points, r.receipt_id, r.line) for r in reverse_rows],
    )
    if new_debt:
        await ledger_store.add_debt(conn, tenant_id, member_id, new_debt)
    return settled
