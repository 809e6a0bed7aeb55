"""The answer for a receipt that ``patron import`` loaded, built from its stored figures. Pure.

Patron never answered an imported receipt, so none is kept for it (``receipts.result`` is null):
at a migration's scale a stored copy would be most of the bytes written, about 1.4 KB a receipt
beside its lines. It reads like a receipt the API confirmed, with ``"balance": null`` (the old
system's balance at that moment is unknown) and ``"imported": true``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from patron.money import format_money
from patron.program.settings import Program


def present(head: Mapping[str, Any], lines: Sequence[Mapping[str, Any]], program: Program) -> dict[str, Any]:
    """``head``: the receipt's row; ``lines``: its lines' rows, in line order."""
    quantum = program.quantum

    def money(value: Decimal) -> str:
        return format_money(Decimal(value), quantum)

    member = head["member_id"]
    spent = int(head["points_spent"])
    return {
        "id": head["id"],
        "status": head["status"],
        "store": head["store"],
        "number": head["number"],
        "at": head["at"].isoformat(),
        "member": None if member is None else {"id": member, "tier": head["tier"]},
        "lines": [
            {
                "line": line["line"],
                "sku": line["sku"],
                "quantity": line["quantity"],
                "amount": money(line["amount"]),
                "discount": money(line["discount"]),
                "points_spent": line["points_spent"],
                "paid": money(line["paid"]),
                "points_earned": line["points_earned"],
                "campaigns": [],
                "returned_quantity": line["returned"],
            }
            for line in lines
        ],
        "totals": {
            "amount": money(head["amount"]),
            "discount": money(head["discount"]),
            "points_spent": spent,
            "points_spent_value": money((spent * program.point_value).quantize(quantum)),
            "paid": money(head["paid"]),
            "points_earned": head["points_earned"],
        },
        "balance": None,
        "campaigns": [],
        "optimal": True,
        "imported": True,
    }
