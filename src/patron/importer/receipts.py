"""Importing historical receipts: one row per receipt line, the receipt's own columns repeated on
each of its lines, and the lines of one receipt on consecutive rows. Pure.

A receipt loads whole or not at all: when one line is bad, every line of that receipt goes to the
rejects (the bad one with its reason, the others pointing at it).

What gets written, for a receipt (``status`` confirmed; no ``result``: ``GET /v1/receipts/{id}``
builds its answer from the stored figures, with ``balance`` null, since the old system's balance
at that moment is unknown, and ``"imported": true``, see ``checkout.imported``):

- ``receipts`` and ``receipt_lines`` rows, ``paid`` = amount - discount - points_spent x point_value;
- for a member's receipt, ledger entries that record its points without changing the member's
  balance today: the balance comes from the opening lots (import ``lots``), which already reflect
  everything earned and spent before the cut-over.
  - points earned E: an ``earn`` entry (+E) and its lot (kind ``earn``, source {"receipt": id},
    window from the program's activation delay and validity in the store's time zone), and an
    ``import_used`` entry (-E) taking them back out of that lot by an allocation;
  - points spent S: an ``import`` entry (+S) and its lot (available at the purchase, valid
    ``points_valid_days``), and a ``spend`` entry (-S) whose allocations take each line's points
    from that lot, per line, as a spend through the API does.
  A later return of an imported receipt then works as for any receipt: spent points go back into
  the spend's lot, and earned points are taken back from the member's available points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from patron import clock
from patron.fields import unfit_number
from patron.importer import copytext, values
from patron.importer.batch import (
    MEMBER_COLUMNS,
    Context,
    DashboardDays,
    Header,
    MemberRef,
    Prepared,
    Reject,
    Unique,
    parse,
    taken_where,
    unknown_member,
)
from patron.importer.ids import Uuids
from patron.importer.reader import Row
from patron.importer.values import Bad
from patron.ledger import rules

KIND = "receipts"
COLUMNS = {
    "store": True,
    "number": True,
    "at": True,
    **MEMBER_COLUMNS,
    "tier": False,
    "sku": True,
    "quantity": True,
    "price": True,
    "discount": False,
    "points_spent": False,
    "points_earned": False,
}
# The receipt's own columns: each line must write them exactly as its first line does (store and
# number too: lines are grouped by them without surrounding spaces, but `R2 ` is not `R2`).
HEAD_COLUMNS = ("store", "number", "at", "member_id", "member_phone", "member_card", "tier")
MAX_LINES = 1000  # below reader.batches(longest=...), so a cut receipt is always one too long
MAX_AMOUNT = Decimal("1e12")
BODY_HASH = "\\x" + b"import".hex()  # a till that re-sends an imported number gets a 409, never a repeat
RECEIPTS = (
    "tenant_id",
    "id",
    "store",
    "number",
    "member_id",
    "at",
    "body_hash",
    "tier",
    "amount",
    "discount",
    "points_spent",
    "paid",
    "paid_net",
    "points_earned",
)  # no ``result``: an imported receipt's answer is built when asked (checkout.imported)
LINES = (
    "tenant_id",
    "receipt_id",
    "line",
    "sku",
    "quantity",
    "price",
    "amount",
    "discount",
    "points_spent",
    "paid",
    "points_earned",
)
ENTRIES = ("tenant_id", "id", "member_id", "kind", "points", "at", "receipt_id", "operation", "reason")
LOTS = (
    "tenant_id",
    "id",
    "member_id",
    "entry_id",
    "kind",
    "points",
    "available_from",
    "expires_at",
    "source",
)
ALLOCATIONS = ("tenant_id", "entry_id", "lot_id", "member_id", "points", "receipt_id", "line")


@dataclass(slots=True)
class Line:
    sku: str
    quantity: int
    price: Decimal
    amount: Decimal
    discount: Decimal
    points_spent: int
    paid: Decimal
    points_earned: int


@dataclass(slots=True)
class Receipt:
    sources: list[tuple[int, Sequence[object]]]
    store: str
    number: str
    at: datetime
    ref: tuple[str, str] | None
    tier: str | None
    lines: list[Line] = field(default_factory=list)
    member_id: str | None = None

    @property
    def line(self) -> int:
        return self.sources[0][0]


def quantity(value: object) -> int | None:
    return values.integer(value, minimum=1, maximum=1_000_000)


def points(value: object) -> int | None:
    return values.integer(value, minimum=0, maximum=10**12)


def number(value: object) -> str | None:
    """A receipt's number, stripped, refused as the API refuses it (``fields.unfit_number``)."""
    out = values.text(value, max_length=64)
    if out is not None and unfit_number(out):
        raise Bad("contains a control or invisible character")
    return out


@lru_cache(maxsize=values.CACHE)
def _midnight_after(zone: str, day: date, days: int) -> datetime:
    """00:00 in ``zone`` on ``day`` plus ``days``: ``clock.midnight_after_days``, remembered."""
    return clock.local_midnight(day + timedelta(days=days), clock.zone(zone))


class Receipts:
    kind = KIND
    grouped = True

    def __init__(self, header: Header, ctx: Context) -> None:
        self.ctx = ctx
        program = ctx.program
        self.quantum = program.quantum
        self.zero = Decimal(0).quantize(self.quantum)
        self.point_value = program.point_value
        self.tiers = {tier.code for tier in program.effective_tiers}
        self.member = MemberRef(header, program.phone_region)
        self.stores = ctx.lookup.stores()
        self._store = header.cell("store")
        self._number = header.cell("number")
        self._at = header.cell("at")
        self._tier = header.cell("tier")
        self._sku = header.cell("sku")
        self._quantity = header.cell("quantity")
        self._price = header.cell("price")
        self._discount = header.cell("discount")
        self._spent = header.cell("points_spent")
        self._earned = header.cell("points_earned")
        self._head = [(name, header.index[name]) for name in HEAD_COLUMNS if name in header.index]
        self._key = (header.index["store"], header.index["number"])
        self._oversized: object = None  # the key of a receipt too long, cut at the end of a batch

    def group_key(self, row: Row) -> object:
        """The receipt a row belongs to: its store and number cells, without surrounding spaces
        (as they are read). A row that cannot be read whole still belongs to its receipt when
        those two cells can be found, so that the receipt is rejected whole rather than loaded
        without it (and could then never be completed)."""
        line, cells, _ = row
        store, num = self._key
        if len(cells) <= max(store, num):
            return ("", line)
        s, n = cells[store], cells[num]
        return (s.strip() if type(s) is str else s, n.strip() if type(n) is str else n)

    # --- validation ------------------------------------------------------------------------

    def prepare(self, rows: list[Row]) -> Prepared[Receipt]:
        parsed: list[Receipt] = []
        rejects: list[Reject] = []
        seen: set[tuple[str, str]] = set()
        carried, self._oversized = self._oversized, None
        start = 0
        while start < len(rows):
            key = self.group_key(rows[start])
            end = start + 1
            while end < len(rows) and self.group_key(rows[end]) == key:
                end += 1
            group, first = rows[start:end], start == 0
            start = end
            try:
                if len(group) > MAX_LINES or (first and key == carried):
                    if end == len(rows):
                        self._oversized = key  # its other lines may start the next batch
                    raise _Whole(f"a receipt has at most {MAX_LINES} lines")
                receipt = self._receipt(group)
                if (receipt.store, receipt.number) in seen:
                    raise _Whole(
                        f"number: receipt {receipt.number!r} of store {receipt.store!r} appears earlier in the file"
                    )
            except _Whole as exc:
                rejects.extend(Reject(line, exc.reason, cells) for line, cells, _ in group)
                continue
            except _Lines as exc:
                bad = min(exc.reasons)
                for line, cells, _ in group:
                    reason = exc.reasons.get(line) or f"line {bad} of this receipt was rejected"
                    rejects.append(Reject(line, reason, cells))
                continue
            seen.add((receipt.store, receipt.number))
            parsed.append(receipt)

        found = self.member.resolve(self.ctx.lookup, [r.ref for r in parsed if r.ref is not None])
        records: list[Receipt] = []
        taken = Unique("receipt")
        for receipt in parsed:
            if receipt.ref is not None:
                receipt.member_id = found.get(receipt.ref)
                if receipt.member_id is None:
                    reason = unknown_member(receipt.ref)
                    rejects.extend(Reject(line, reason, cells) for line, cells in receipt.sources)
                    continue
            taken.add((receipt.store, receipt.number), len(records))
            records.append(receipt)
        return Prepared(len(rows), records, rejects, [taken])

    def _receipt(self, group: list[Row]) -> Receipt:
        line0, cells0, problem0 = group[0]
        try:
            if problem0:
                raise Bad(problem0)
            receipt = Receipt(
                [(line, cells) for line, cells, _ in group],
                parse("store", values.code, self._store(cells0), required=True),
                parse("number", number, self._number(cells0), required=True),
                parse("at", values.timestamp, self._at(cells0), required=True),
                self.member.read(cells0),
                parse("tier", values.text, self._tier(cells0)),
            )
            if receipt.at > self.ctx.now:
                raise Bad(f"at: {receipt.at.isoformat()} is in the future (an import brings history)")
            if receipt.store not in self.stores:
                raise Bad(f"store: no store {receipt.store!r}")
            if receipt.tier is not None and receipt.tier not in self.tiers:
                raise Bad(f"tier: the program has no tier {receipt.tier!r}")
        except Bad as exc:
            raise _Lines({line0: str(exc)}) from None
        reasons: dict[int, str] = {}
        for line, cells, problem in group:
            try:
                if problem:
                    raise Bad(problem)
                for name, position in self._head:
                    if cells[position] != cells0[position]:
                        raise Bad(f"{name}: differs from the receipt's first line")
                receipt.lines.append(self._line(cells, receipt.ref is not None))
            except Bad as exc:
                reasons[line] = str(exc)
        if reasons:
            raise _Lines(reasons)
        if sum(line.amount for line in receipt.lines) >= MAX_AMOUNT:
            raise _Lines({line0: f"price: the receipt's lines come to {MAX_AMOUNT:f} or more"})
        return receipt

    def _line(self, cells: Sequence[object], member: bool) -> Line:
        """One line, checked; the hot loop of a receipts import, so it names the field itself
        rather than wrapping each cell in ``parse``."""
        field = "quantity"
        try:
            q = quantity(self._quantity(cells))
            if q is None:
                raise Bad("missing")
            field = "price"
            price = values.money(self._price(cells), self.quantum)
            if price is None:
                raise Bad("missing")
            field = "discount"
            discount = values.money(self._discount(cells), self.quantum) or self.zero
            field = "points_spent"
            spent = points(self._spent(cells)) or 0
            field = "points_earned"
            earned = points(self._earned(cells)) or 0
            field = "sku"
            code = values.sku(self._sku(cells))
            if code is None:
                raise Bad("missing")
        except Bad as exc:
            raise Bad(f"{field}: {exc}") from None
        amount = price * q
        if amount >= MAX_AMOUNT:
            raise Bad("price: price x quantity is too large")
        if discount > amount:
            raise Bad(f"discount: {discount} is more than the line's amount {amount}")
        if (spent or earned) and not member:
            column = "points_spent" if spent else "points_earned"
            raise Bad(f"{column}: an anonymous receipt earns and spends no points")
        paid = amount - discount - spent * self.point_value if spent else amount - discount
        if paid < 0:
            raise Bad(f"points_spent: {spent} points are worth more than the line's {amount - discount}")
        if spent:
            exact = paid.quantize(self.quantum)
            if exact != paid:
                raise Bad("points_spent: their value is not a whole amount of the currency")
            paid = exact
        return Line(code, q, price, amount, discount, spent, paid, earned)

    def taken_reason(self, what: str, key: object, *, in_file: bool) -> str:
        assert isinstance(key, tuple)
        store, num = key
        return f"number: receipt {num!r} of store {store!r} {taken_where(in_file)}"

    # --- rows to write ---------------------------------------------------------------------

    def tables(self, prepared: Prepared[Receipt]) -> list[copytext.Table]:
        """COPY text for the receipts, their lines and their ledger rows. Lines are written with
        f-strings: every value is a number, a date, a UUID or a checked code, except the SKU, the
        receipt number and the result's JSON, which are escaped."""
        ctx, program = self.ctx, self.ctx.program
        receipts = copytext.Table("receipts", RECEIPTS)
        lines = copytext.Table("receipt_lines", LINES)
        entries = copytext.Table("entries", ENTRIES)
        lots = copytext.Table("lots", LOTS)
        allocations = copytext.Table("allocations", ALLOCATIONS)
        earning = spending = 0
        for r in prepared.records:
            if r.member_id is not None:
                earning += any(line.points_earned for line in r.lines)
                spending += any(line.points_spent for line in r.lines)
        entry_ids = iter(ctx.lookup.reserve("entries", 2 * (earning + spending)))
        lot_ids = iter(ctx.lookup.reserve("lots", earning + spending))
        uuids = Uuids()
        marks = DashboardDays(ctx.now)
        t, null, esc = ctx.tenant_id, copytext.NULL, copytext.escape
        delay, valid, tag = program.activation_delay_days, program.points_valid_days, ctx.tag
        for r in prepared.records:
            rid = uuids.next()
            at = r.at.isoformat()
            marks.at(r.at)  # the receipt's and its entries' day
            amount = discount = paid = self.zero
            spent = earned = 0
            for n, ln in enumerate(r.lines, start=1):
                amount += ln.amount
                discount += ln.discount
                paid += ln.paid
                spent += ln.points_spent
                earned += ln.points_earned
                lines.add_text(
                    f"{t}\t{rid}\t{n}\t{esc(ln.sku)}\t{ln.quantity}\t{ln.price}\t{ln.amount}\t{ln.discount}\t"
                    f"{ln.points_spent}\t{ln.paid}\t{ln.points_earned}\n"
                )
            member = r.member_id
            receipts.add_text(
                f"{t}\t{rid}\t{r.store}\t{esc(r.number)}\t{member or null}\t{at}\t{BODY_HASH}\t{r.tier or null}\t"
                f"{amount}\t{discount}\t{spent}\t{paid}\t{paid}\t{earned}\n"
            )
            if member is None:
                continue
            zone = self.stores.get(r.store) or program.timezone
            if earned:
                earn, used, lot = next(entry_ids), next(entry_ids), next(lot_ids)
                window = self._earned_window(r.at, zone, delay, valid)
                marks.expiry(window.expires_at)
                entries.add_text(f"{t}\t{earn}\t{member}\tearn\t{earned}\t{at}\t{rid}\timport\t{null}\n")
                lots.add_text(
                    f"{t}\t{lot}\t{member}\t{earn}\tearn\t{earned}\t{window.available_from.isoformat()}\t"
                    f'{window.expires_at.isoformat()}\t{{"receipt": "{rid}", "import": "{tag}"}}\n'
                )
                entries.add_text(
                    f"{t}\t{used}\t{member}\timport_used\t{-earned}\t{at}\t{rid}\timport\tearned before the import\n"
                )
                allocations.add_text(f"{t}\t{used}\t{lot}\t{member}\t{earned}\t{rid}\t{null}\n")
            if spent:
                credit, spend, lot = next(entry_ids), next(entry_ids), next(lot_ids)
                spent_until = _midnight_after(zone, r.at.astimezone(clock.zone(zone)).date(), valid)
                marks.expiry(spent_until)
                expires = spent_until.isoformat()
                entries.add_text(
                    f"{t}\t{credit}\t{member}\timport\t{spent}\t{at}\t{rid}\timport\tspent before the import\n"
                )
                lots.add_text(
                    f"{t}\t{lot}\t{member}\t{credit}\timport\t{spent}\t{at}\t{expires}\t"
                    f'{{"import": "{tag}", "spent_on": "{rid}"}}\n'
                )
                entries.add_text(f"{t}\t{spend}\t{member}\tspend\t{-spent}\t{at}\t{rid}\timport\t{null}\n")
                for n, ln in enumerate(r.lines, start=1):
                    if ln.points_spent:
                        allocations.add_text(
                            f"{t}\t{spend}\t{lot}\t{member}\t{ln.points_spent}\t{rid}\t{n}\n"
                        )
        prepared.days = marks.days
        return [receipts, lines, entries, lots, allocations]

    @staticmethod
    def _earned_window(at: datetime, zone: str, delay: int, valid: int) -> rules.Window:
        """As the API computes it (``rules.earned_window``), with local midnights cached."""
        day = at.astimezone(clock.zone(zone)).date()
        if delay == 0:
            return rules.Window(at, _midnight_after(zone, day, valid))
        start = _midnight_after(zone, day, delay)
        return rules.Window(start, _midnight_after(zone, day, delay + valid))


class _Whole(Exception):
    """Every line of the receipt is rejected for one reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Lines(Exception):
    """Some lines are bad (line number -> reason); the receipt's other lines go with them."""

    def __init__(self, reasons: dict[int, str]) -> None:
        super().__init__(reasons)
        self.reasons = reasons
