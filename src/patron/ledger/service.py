"""Ledger use cases: credits (which pay recorded debt first), debits, adjustments, balances.

Every function that changes points expects the member to be locked by the caller's transaction
(``store.lock_member``), so that one member's changes are serialized."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patron import clock
from patron.backoffice import outbox
from patron.db.pool import Connection
from patron.errors import InsufficientPoints, InvalidInput
from patron.ledger import rules, store
from patron.ledger.store import AllocationRow
from patron.program.settings import Program


@dataclass(frozen=True, slots=True)
class Credit:
    entry_id: int
    lot_id: int
    debt_paid: int


async def credit(
    conn: Connection,
    tenant_id: int,
    member_id: str,
    debt: int,
    *,
    kind: str,
    points: int,
    at: datetime,
    window: rules.Window,
    spend_condition: str | None = None,
    source: dict[str, Any] | None = None,
    receipt_id: str | None = None,
    operation: str | None = None,
    key: str | None = None,
    reason: str | None = None,
    returning: bool = True,
) -> Credit:
    """A new lot; if the member owes points, the lot pays that debt first. Without ``returning``
    (and with no debt) the ids are not read back, so the statement can be pipelined."""
    entry_id, lot_id = await store.insert_credit(
        conn,
        tenant_id,
        member_id,
        kind=kind,
        points=points,
        at=at,
        available_from=window.available_from,
        expires_at=window.expires_at,
        spend_condition=spend_condition,
        source=source,
        receipt_id=receipt_id,
        operation=operation,
        key=key,
        reason=reason,
        returning=returning or debt > 0,
    )
    paid = min(debt, points)
    if paid > 0:
        # paid in the name of the receipts whose returns recorded the debt, oldest first: their
        # recorded debt stays what they still owe, and a later refill of their lots gives this
        # lot its points back (checkout.returns.restore_lent); beyond them, in this credit's name
        debtors = rules.split_debt(paid, await store.receipts_owing_debt(conn, tenant_id, member_id))
        rest = paid - sum(part for _, part in debtors)
        await store.insert_debit(
            conn,
            tenant_id,
            member_id,
            kind="debt_paid",
            points=-paid,
            debt=-paid,
            at=at,
            allocations=[AllocationRow(0, lot_id, part, debtor) for debtor, part in debtors]
            + ([AllocationRow(0, lot_id, rest, receipt_id)] if rest else []),
            receipt_id=receipt_id,
            operation=operation,
        )
        await store.pay_receipts_debt(conn, tenant_id, debtors)
        await store.add_debt(conn, tenant_id, member_id, -paid)
    return Credit(entry_id, lot_id, paid)


async def adjust(
    conn: Connection,
    tenant_id: int,
    program: Program,
    member_id: str,
    *,
    key: str,
    points: int,
    reason: str,
    valid_days: int | None,
    spend_condition: str | None,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """A manual credit or debit, idempotent by ``key``; returns (result, created)."""
    debt = await store.lock_member(conn, tenant_id, member_id)
    request = {
        "points": points,
        "reason": reason,
        "valid_days": valid_days,
        "spend_condition": spend_condition,
    }
    earlier = await store.adjustment_by_key(conn, tenant_id, member_id, key)
    if earlier is not None:
        # Contract 5: the same key again answers with the first result, whatever else it carries.
        return earlier["result"], False
    if points == 0:
        raise InvalidInput("points: must not be zero", field="points")
    if key.startswith(rules.BIRTHDAY_KEY_PREFIX):
        raise InvalidInput(
            f"key: {rules.BIRTHDAY_KEY_PREFIX!r} begins the keys of birthday gifts; choose another",
            field="key",
        )
    tz = clock.zone(program.timezone)
    if points > 0:
        window = rules.immediate_window(now, tz, valid_days or program.points_valid_days)
        made = await credit(
            conn,
            tenant_id,
            member_id,
            debt,
            kind="adjustment",
            points=points,
            at=now,
            window=window,
            spend_condition=spend_condition,
            source={"adjustment": key, "timezone": program.timezone},
            operation="adjustment",
            key=key,
            reason=reason,
        )
        result: dict[str, Any] = {
            "entry_id": made.entry_id,
            "lot_id": made.lot_id,
            "debt_paid": made.debt_paid,
        }
        entry_id = made.entry_id
    else:
        if valid_days is not None or spend_condition is not None:
            field = "valid_days" if valid_days is not None else "spend_condition"
            raise InvalidInput(f"{field}: valid_days and spend_condition apply to credits only", field=field)
        lots = await store.spendable_lots(conn, tenant_id, member_id, now)
        holdings = [rules.Holding(lot.id, lot.remaining, lot.expires_at) for lot in lots]
        taken = rules.take_soonest_first(holdings, -points)
        if rules.total(taken) < -points:
            raise InsufficientPoints(-points, rules.total(taken))
        entry_id = await store.insert_entry(
            conn,
            tenant_id,
            member_id,
            kind="adjustment",
            points=points,
            at=now,
            operation="adjustment",
            key=key,
            reason=reason,
        )
        await store.insert_allocations(
            conn, tenant_id, member_id, [AllocationRow(entry_id, lot_id, part) for lot_id, part in taken]
        )
        result = {"entry_id": entry_id, "lots": [{"lot_id": lot_id, "points": p} for lot_id, p in taken]}
    result |= {"member_id": member_id, "key": key, "points": points, "reason": reason}
    result["balance"] = await store.balance(conn, tenant_id, member_id, now, now, program.timezone)
    await store.insert_adjustment(conn, tenant_id, member_id, key, entry_id, request, result)
    await outbox.emit(conn, tenant_id, "points.adjusted", member_id=member_id, data=result)
    return result, True
