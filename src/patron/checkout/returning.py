"""Returns and cancellations (contract 7): a returned unit gives back exactly its share of what
the line was paid, spent and earned, and of what its campaigns gave."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from patron.backoffice import outbox
from patron.campaigns import store as campaign_store
from patron.checkout import returns, store
from patron.checkout.model import ReturnIn
from patron.checkout.service import CANCEL_NUMBER, Caller, Fingerprint, as_it_stands, receipt_uuid
from patron.db.pool import Connection
from patron.errors import Conflict, InvalidInput, NotFound
from patron.ledger import rules
from patron.ledger import store as ledger_store
from patron.ledger.store import AllocationRow
from patron.money import format_money, share_for_return
from patron.program.settings import Program


async def return_units(caller: Caller, raw_id: str, body: ReturnIn) -> tuple[dict[str, Any], bool]:
    """Returns some units of a receipt; returns (result, created)."""
    if body.number == CANCEL_NUMBER:
        raise InvalidInput(f"number: {CANCEL_NUMBER!r} is reserved for cancellations", field="number")
    requested = {item.line: item.quantity for item in body.lines}
    return await _return(
        caller, receipt_uuid(raw_id), body.number, Fingerprint.of(body), requested, cancel=False
    )


async def cancel(caller: Caller, raw_id: str) -> dict[str, Any]:
    """Returns every remaining unit and marks the receipt cancelled; a repeat answers the same."""
    result, _ = await _return(
        caller, receipt_uuid(raw_id), CANCEL_NUMBER, Fingerprint(b"cancel"), None, cancel=True
    )
    return result


async def _return(
    caller: Caller,
    receipt_id: str,
    number: str,
    fingerprint: Fingerprint,
    requested: dict[int, int] | None,
    *,
    cancel: bool,
) -> tuple[dict[str, Any], bool]:
    tenant_id, program = caller.tenant_id, caller.program
    # Pipeline mode: the writes at the end go out without waiting for each answer.
    # One member's returns and cancellations run one at a time in this process: those waiting
    # for the member's lock do not each hold a connection (see ``Database.transaction``). The
    # member is read first, on a connection given back at once.
    async with caller.db.connection() as conn:
        owner = await store.receipt_member(conn, tenant_id, receipt_id)
    serial = ("member", tenant_id, "id", owner) if owner else ("receipt", tenant_id, receipt_id)
    async with caller.db.transaction(pipeline=True, serial=serial) as conn:
        head = await store.receipt(conn, tenant_id, receipt_id)
        if head is None:
            raise NotFound("no such receipt", code="receipt_not_found")
        member_id: str | None = head["member_id"]
        if member_id:
            await ledger_store.lock_member(conn, tenant_id, member_id)
        receipt = await store.receipt(conn, tenant_id, receipt_id, lock=True)
        assert receipt is not None
        # A till may date a receipt up to 5 minutes ahead (contract 7): its return is never
        # recorded before the sale, or a balance rebuilt for the moment between would count
        # the refund and not the spend.
        caller = replace(caller, now=max(caller.now, receipt["at"]))
        earlier = await store.return_by_number(conn, tenant_id, receipt_id, number)
        if earlier is not None:
            if not fingerprint.matches(bytes(earlier["body_hash"])):
                raise Conflict(
                    "this return number was used for different lines", code="return_number_conflict"
                )
            return earlier["result"], False
        line_rows = await store.receipt_lines(conn, tenant_id, receipt_id)
        sold = {
            row["line"]: returns.SoldLine(
                row["line"],
                row["quantity"],
                row["returned"],
                Decimal(row["paid"]),
                row["points_spent"],
                row["points_earned"],
            )
            for row in line_rows
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
            # What the money kept back could not pay for is absorbed, as under clamp, and recorded
            # as clamp records it, so that points coming back later settle it (a member kept 85
            # points that a cancelled sale had earned, paid for with nothing).
            absorbed = outcome.shortfall - returns.points_paid_for(withhold, program.point_value)
            if absorbed > 0 and member_id:
                await _record_shortfall(conn, tenant_id, member_id, receipt_id, absorbed, "clamp")
        for line, quantity in requested.items():
            sold[line] = returns.SoldLine(
                line,
                sold[line].quantity,
                sold[line].returned + quantity,
                sold[line].paid,
                sold[line].points_spent,
                sold[line].points_earned,
            )
        await _release_campaigns(conn, tenant_id, receipt_id, line_rows, requested, sold, program)
        everything_back = all(s.returned == s.quantity for s in sold.values())
        status = "cancelled" if cancel else ("returned" if everything_back else "partially_returned")
        current = await as_it_stands(conn, tenant_id, program, receipt)
        current["status"] = status
        current["lines"] = [
            {**line, "returned_quantity": sold[line["line"]].returned} for line in current["lines"]
        ]
        result = {
            "number": number,
            "refund": format_money(paid - withhold, program.quantum),
            "points_refunded": outcome.refunded,
            "points_kept_back": outcome.recovered,
            "points_reversed": outcome.reversed,
            "shortfall": outcome.shortfall,
            "withhold": format_money(withhold, program.quantum),
            "receipt": current,
        }
        await store.record_return(
            conn,
            tenant_id,
            receipt_id,
            at=caller.now,
            number=number,
            body_hash=fingerprint.digest,
            returned={line: q for line, q in requested.items() if q},
            paid=paid,
            status=status,
            receipt_result=current,
            result=result,
        )
        kind = "receipt.cancelled" if cancel else "receipt.returned"
        await outbox.emit(conn, tenant_id, kind, member_id=member_id, data=result)
        return result, True


async def _release_campaigns(
    conn: Connection,
    tenant_id: int,
    receipt_id: str,
    line_rows: list[dict[str, Any]],
    requested: dict[int, int],
    sold_after: dict[int, returns.SoldLine],
    program: Program,
) -> None:
    """Gives back to each campaign's budget the returned units' share of what it gave, and its use
    once every unit it touched has come back."""
    released: dict[str, tuple[Decimal, int]] = {}
    touched_lines: dict[str, list[int]] = {}
    for row in line_rows:
        for entry in row["campaigns"] or []:
            touched_lines.setdefault(entry["id"], []).append(row["line"])
        n = requested.get(row["line"], 0)
        if not n:
            continue
        for entry in row["campaigns"] or []:
            money = share_for_return(
                Decimal(entry["discount"]), row["returned"], n, row["quantity"], program.quantum
            )
            points = share_for_return(int(entry["points"]), row["returned"], n, row["quantity"])
            before = released.get(entry["id"], (Decimal(0), 0))
            released[entry["id"]] = (before[0] + money, before[1] + points)
    await campaign_store.release(
        conn,
        tenant_id,
        receipt_id,
        [
            (
                cid,
                money,
                points,
                all(sold_after[line].returned == sold_after[line].quantity for line in touched_lines[cid]),
            )
            for cid, (money, points) in released.items()
        ],
    )


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
            left = item.quantity - item.returned
            said = {0: "no units", 1: "only 1 unit"}.get(left, f"only {left} units")
            raise InvalidInput(
                f"lines.{position}.quantity: {said} of line {line} {'remains' if left == 1 else 'remain'}",
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
    recovered: int = 0  # of ``refunded``: kept back to settle the shortfall of the receipt that earned them


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
        settled.recovered = await _settle_shortfalls(conn, caller, member_id, receipt_id, refund_rows)

    to_reverse = [(share.line, share.points_earned) for share in shares if share.points_earned]
    if not to_reverse:
        return settled
    own = {lot.id: lot for lot in await ledger_store.receipt_lots(conn, tenant_id, member_id, receipt_id)}
    others = [
        lot for lot in await ledger_store.spendable_lots(conn, tenant_id, member_id, now) if lot.id not in own
    ]
    # Under `debt`, points earned but not available yet pay first what the available ones cannot
    # (contract 3: "future earnings pay the debt first"): else a member owed points while holding
    # points that became spendable the next day, which no later earning ever took back.
    later = []
    if program.return_policy == "debt":
        later = [
            lot
            for lot in await ledger_store.pending_lots(conn, tenant_id, member_id, now)
            if lot.id not in own
        ]
    left = {lot.id: lot.remaining for lot in [*own.values(), *others, *later]}
    reverse_rows: list[AllocationRow] = []
    for line, points in to_reverse:
        taken = returns.take_back(
            points,
            [rules.Holding(lot.id, left[lot.id], lot.expires_at) for lot in own.values()],
            [rules.Holding(lot.id, left[lot.id], lot.expires_at) for lot in others],
            [rules.Holding(lot.id, left[lot.id], lot.expires_at) for lot in later],
        )
        for lot_id, part in taken.taken:
            left[lot_id] -= part
            reverse_rows.append(AllocationRow(0, lot_id, part, receipt_id, line))
        settled.shortfall += taken.shortfall
    settled.reversed = sum(row.points for row in reverse_rows)
    new_debt = settled.shortfall if program.return_policy == "debt" else 0
    if program.return_policy in ("debt", "clamp") and settled.shortfall:
        await _record_shortfall(
            conn, tenant_id, member_id, receipt_id, settled.shortfall, program.return_policy
        )
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


async def _record_shortfall(
    conn: Connection, tenant_id: int, member_id: str, receipt_id: str, shortfall: int, policy: str
) -> None:
    """Records the shortfall where points that come back later will settle it: on this receipt
    (refunds into its lots, when the receipts that spent them are returned), except the part that
    other receipts' returns caused by taking this receipt's points, which goes to those receipts
    (``returns.pass_on``): otherwise a chain of three receipts, cancelled in some orders, left the
    member points (``clamp``) or points beside a debt (``debt``)."""
    await _pass_along(conn, tenant_id, member_id, receipt_id, shortfall, policy, frozenset({receipt_id}))


async def _pass_along(
    conn: Connection,
    tenant_id: int,
    member_id: str,
    receipt_id: str,
    shortfall: int,
    policy: str,
    seen: frozenset[str],
) -> None:
    """Places ``shortfall`` where points coming back will settle it (``returns.place_shortfall``):
    on this receipt as far as returns still to come refill its lots, else on the receipts whose
    returns took its points, and on from them in the same way (a chain of four left a point where
    one step stopped short)."""
    went = await store.where_it_went(conn, tenant_id, member_id, receipt_id)
    drains = [(r, p) for r, p in went.drains if r not in seen]
    own, others = returns.place_shortfall(shortfall, went.refillable, went.owed, drains, went.passed)
    if others:
        await store.passed_on(conn, tenant_id, receipt_id, shortfall - own)
    for owner, points in others:
        await _pass_along(conn, tenant_id, member_id, owner, points, policy, seen | {owner})
    if own:
        debt, absorbed = (own, 0) if policy == "debt" else (0, own)
        await store.change_shortfall(conn, tenant_id, receipt_id, debt, absorbed)


# A chain of returned receipts, each repaying the lots its return took in place of its own (the
# points moved into one's lot move on to those it took): at most this many steps.
RESTORE_STEPS = 16


async def _settle_shortfalls(
    conn: Connection, caller: Caller, member_id: str, returned: str, refund_rows: list[tuple[int, int, int]]
) -> int:
    """Where the points just put back go (docs/ledger-and-checkout.md): into a lot of a receipt
    whose return fell short of them, they settle its shortfall (a debt is paid, or what the
    program absorbed is taken back) and then go back to the lots its return took in their place
    (``restore``), where the same happens again; what comes to rest in a lot not expired pays the
    member's debt, as any credit does. Returns the points kept back (settled or paid)."""
    tenant_id, now = caller.tenant_id, caller.now
    incoming: Counter[int] = Counter()
    for lot_id, points, _ in refund_rows:
        incoming[lot_id] += points
    debt = await ledger_store.lock_member(conn, tenant_id, member_id, lock=False)  # held by the caller
    kept = 0
    resting: Counter[int] = Counter()
    live: set[int] = set()
    for _ in range(RESTORE_STEPS):
        if not incoming:
            break
        owing, alive = await store.refilled_lots(conn, tenant_id, sorted(incoming), now)
        live |= alive
        left = Counter(incoming)
        for s in returns.settle_own_shortfalls(dict(incoming), owing, debt) if owing else []:
            await _record_settlement(conn, caller, member_id, returned, s)
            debt -= s.debt_paid
            kept += s.debt_paid + s.absorbed
            left[s.lot_id] -= s.debt_paid + s.absorbed
        moves = await _restore_lent(conn, caller, member_id, {lot: p for lot, p in left.items() if p > 0})
        incoming = Counter()
        for m in moves:
            left[m.from_lot] -= m.points
            incoming[m.to_lot] += m.points
        resting.update({lot: p for lot, p in left.items() if p > 0})
    if incoming:  # the chain went on beyond RESTORE_STEPS: the points rest where they are
        _, alive = await store.refilled_lots(conn, tenant_id, sorted(incoming), now)
        live |= alive
        resting.update(incoming)
    if debt > 0 and resting:
        debts = await ledger_store.receipts_owing_debt(conn, tenant_id, member_id)
        for s in returns.pay_member_debt(dict(resting), live, debt, debts):
            await _record_settlement(conn, caller, member_id, returned, s)
            kept += s.debt_paid
    return kept


async def _record_settlement(
    conn: Connection, caller: Caller, member_id: str, returned: str, s: returns.Settlement
) -> None:
    """A debt paid (`debt_paid`) or what the program absorbed taken back (`reverse`) from a lot,
    in the name of the receipt whose shortfall it settles (else the return's receipt)."""
    for kind, points, debt_change in (("debt_paid", s.debt_paid, -s.debt_paid), ("reverse", s.absorbed, 0)):
        if points:
            await ledger_store.insert_debit(
                conn,
                caller.tenant_id,
                member_id,
                kind=kind,
                points=-points,
                debt=debt_change,
                at=caller.now,
                allocations=[AllocationRow(0, s.lot_id, points, s.receipt_id or returned)],
                receipt_id=s.receipt_id or returned,
                operation="return",
            )
    if s.debt_paid:
        await ledger_store.add_debt(conn, caller.tenant_id, member_id, -s.debt_paid)
    if s.receipt_id is not None:
        await store.change_shortfall(conn, caller.tenant_id, s.receipt_id, -s.debt_paid, -s.absorbed)


async def _restore_lent(
    conn: Connection, caller: Caller, member_id: str, left: dict[int, int]
) -> list[returns.Restore]:
    """Moves points put back into a returned receipt's lots to the lots its return took in their
    place (``returns.restore_lent``): one `restore` entry a receipt, of 0 points (the member's
    total does not change, only which lots hold it). Returns the moves."""
    if not left:
        return []
    owner, lent = await store.lent_to_receipts(conn, caller.tenant_id, sorted(left))
    moves = returns.restore_lent(left, owner, lent)
    for receipt_id in sorted({m.receipt_id for m in moves}):
        rows = []
        for m in (m for m in moves if m.receipt_id == receipt_id):
            rows += [
                AllocationRow(0, m.from_lot, m.points, receipt_id),
                AllocationRow(0, m.to_lot, -m.points, receipt_id),
            ]
        await ledger_store.insert_debit(
            conn,
            caller.tenant_id,
            member_id,
            kind="restore",
            points=0,
            at=caller.now,
            allocations=rows,
            receipt_id=receipt_id,
            operation="return",
        )
    return moves
