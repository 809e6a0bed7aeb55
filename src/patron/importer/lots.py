"""Importing opening lots: the points each member holds at the cut-over. Pure.

A lot row carries its original ``points`` and, optionally, what is ``remaining`` of them. The
ledger's guards make every new lot start full (remaining := points) and change a remainder only
through allocations, so a partly used lot is written as the ledger would have written it:

- an ``import`` entry crediting ``points``, which creates the lot;
- when ``remaining < points``, an ``import_used`` entry debiting ``points - remaining`` with one
  allocation against the lot (the allocations trigger then sets the lot's remainder).

So the member's balance gains exactly ``remaining``, and ``patron verify`` holds. Opening lots do
not pay a debt the member may already have (there is none for a member imported just before).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from patron.importer import copytext, values
from patron.importer.batch import (
    MEMBER_COLUMNS,
    Context,
    DashboardDays,
    Header,
    HeaderError,
    MemberRef,
    Prepared,
    Reject,
    Unique,
    parse,
    taken_where,
    unknown_member,
)
from patron.importer.reader import Row
from patron.importer.values import Bad

KIND = "lots"
COLUMNS = {
    **MEMBER_COLUMNS,
    "points": True,
    "remaining": False,
    "available_from": False,
    "expires_at": True,
    "spend_condition": False,
    "kind": False,
    "key": False,
}
MAX_POINTS = 10**12
ENTRIES = ("tenant_id", "id", "member_id", "kind", "points", "at", "operation", "reason")
LOTS = (
    "tenant_id",
    "id",
    "member_id",
    "entry_id",
    "kind",
    "points",
    "available_from",
    "expires_at",
    "spend_condition",
    "source",
)
ALLOCATIONS = ("tenant_id", "entry_id", "lot_id", "member_id", "points")


@dataclass(slots=True)
class Lot:
    line: int
    values: Sequence[object]
    ref: tuple[str, str]
    points: int
    remaining: int
    available_from: datetime
    expires_at: datetime
    spend_condition: str | None
    kind: str
    key: str | None  # the file's own (the old system's id of the lot), if it has one
    given_start: datetime | None  # as the file gives it: absent, the import's time, which differs each run
    member_id: str = ""
    import_key: str = ""

    def same_lot_key(self) -> str:
        """Without a key of its own, a lot is the member's lot of these points, dates, condition
        and kind (not ``remaining``: a later export of the same lot may have less left)."""
        parts = (
            self.member_id,
            str(self.points),
            self.given_start.astimezone(UTC).isoformat() if self.given_start else "",
            self.expires_at.astimezone(UTC).isoformat(),
            self.spend_condition or "",
            self.kind,
        )
        return "same:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def lot_kind(value: object) -> str | None:
    out = values.text(value, max_length=32)
    if out is not None and not values.KIND.fullmatch(out):
        raise Bad(f"{out!r} is not a kind (lowercase letters, digits and _, at most 32)")
    return out


def points(value: object) -> int | None:
    return values.integer(value, minimum=1, maximum=MAX_POINTS)


def remaining(value: object) -> int | None:
    return values.integer(value, minimum=0, maximum=MAX_POINTS)


class Lots:
    kind = KIND
    grouped = False

    def __init__(self, header: Header, ctx: Context) -> None:
        self.ctx = ctx
        self.member = MemberRef(header, ctx.program.phone_region)
        if not self.member.columns:
            raise HeaderError("missing column: one of member_id, member_phone, member_card")
        self._points = header.cell("points")
        self._remaining = header.cell("remaining")
        self._from = header.cell("available_from")
        self._expires = header.cell("expires_at")
        self._condition = header.cell("spend_condition")
        self._kind = header.cell("kind")
        self._key = header.cell("key")

    def group_key(self, row: Row) -> object:
        return None

    def prepare(self, rows: list[Row]) -> Prepared[Lot]:
        parsed: list[Lot] = []
        rejects: list[Reject] = []
        for line, cells, problem in rows:
            try:
                if problem:
                    raise Bad(problem)
                ref = self.member.read(cells)
                if ref is None:
                    raise Bad("member: give member_id, member_phone or member_card")
                total = parse("points", points, self._points(cells), required=True)
                left = parse("remaining", remaining, self._remaining(cells))
                if left is not None and left > total:
                    raise Bad(f"remaining: {left} is more than points {total}")
                given_start = parse("available_from", values.timestamp, self._from(cells))
                start = given_start or self.ctx.now
                end = parse("expires_at", values.timestamp, self._expires(cells), required=True)
                if end <= start:
                    # without available_from the lot starts at the import: say so, not name a cell it lacks
                    absent = "" if given_start is not None else " (absent: the time of the import)"
                    raise Bad(f"expires_at: not after available_from{absent}")
                lot = Lot(
                    line,
                    cells,
                    ref,
                    total,
                    total if left is None else left,
                    start,
                    end,
                    parse("spend_condition", values.condition, self._condition(cells)),
                    parse("kind", lot_kind, self._kind(cells)) or "import",
                    parse("key", values.text, self._key(cells)),
                    given_start,
                )
            except Bad as exc:
                rejects.append(Reject(line, str(exc), cells))
                continue
            parsed.append(lot)
        found = self.member.resolve(self.ctx.lookup, [lot.ref for lot in parsed])
        records: list[Lot] = []
        taken = Unique("lot")
        first_line: dict[str, int] = {}
        for lot in parsed:
            member_id = found.get(lot.ref)
            if member_id is None:
                rejects.append(Reject(lot.line, unknown_member(lot.ref), lot.values))
                continue
            lot.member_id = member_id
            lot.import_key = f"key:{lot.key}" if lot.key is not None else lot.same_lot_key()
            if lot.import_key in first_line:
                where = f"appears earlier in the file (line {first_line[lot.import_key]})"
                rejects.append(Reject(lot.line, _twice(lot.import_key, where), lot.values))
                continue
            first_line[lot.import_key] = lot.line
            taken.add(lot.import_key, len(records))
            records.append(lot)
        return Prepared(len(rows), records, rejects, [taken])

    def taken_reason(self, what: str, key: object, *, in_file: bool) -> str:
        return _twice(str(key), taken_where(in_file))

    def tables(self, prepared: Prepared[Lot]) -> list[copytext.Table]:
        entries = copytext.Table("entries", ENTRIES)
        lots = copytext.Table("lots", LOTS)
        allocations = copytext.Table("allocations", ALLOCATIONS)
        records = prepared.records
        used = sum(1 for lot in records if lot.remaining < lot.points)
        entry_ids = iter(self.ctx.lookup.reserve("entries", len(records) + used))
        lot_ids = iter(self.ctx.lookup.reserve("lots", len(records)))
        tenant = self.ctx.tenant_id
        marks = DashboardDays(self.ctx.now)
        for lot in records:
            marks.expiry(lot.expires_at)
            # Dated when the lot began to count (not after the import): a balance for a moment
            # since then rebuilds it, as a quote for that moment counts it.
            since = min(lot.available_from, self.ctx.now)
            marks.at(since)
            at = since.isoformat()
            credit, lot_id = next(entry_ids), next(lot_ids)
            entries.add((tenant, credit, lot.member_id, "import", lot.points, at, "import", "opening lot"))
            source = orjson.dumps(
                {"import": self.ctx.tag, "line": lot.line, "import_key": lot.import_key}
            ).decode()
            lots.add(
                (
                    tenant,
                    lot_id,
                    lot.member_id,
                    credit,
                    lot.kind,
                    lot.points,
                    lot.available_from.isoformat(),
                    lot.expires_at.isoformat(),
                    lot.spend_condition,
                    source,
                )
            )
            if lot.remaining < lot.points:
                debit, taken = next(entry_ids), lot.points - lot.remaining
                entries.add(
                    (
                        tenant,
                        debit,
                        lot.member_id,
                        "import_used",
                        -taken,
                        at,
                        "import",
                        "used before the import",
                    )
                )
                allocations.add((tenant, debit, lot_id, lot.member_id, taken))
        prepared.days = marks.days
        return [entries, lots, allocations]


def _twice(import_key: str, where: str) -> str:
    """Why a lot is rejected as one loaded already: ``where`` says where the other one is."""
    if import_key.startswith("key:"):
        return f"key: lot {import_key.removeprefix('key:')!r} {where}"
    return (
        f"the same lot (member, points, dates, condition and kind) {where}; give a key column to load"
        " lots that are alike"
    )
