"""Receipts import without a database: grouping lines into receipts, rejecting whole receipts, and
the rows written for the ledger (balance-neutral history), and the answer built from them (shaped
like the API's)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime
from itertools import count
from pathlib import Path
from typing import Any

from patron.checkout import imported
from patron.importer import reader, receipts, runner
from patron.importer.batch import Context, Header, MemberRef, Members, Prepared, Reject, Unique, drop
from patron.importer.reader import Row
from patron.program.settings import Program

HEADER = [
    "store",
    "number",
    "at",
    "member_card",
    "sku",
    "quantity",
    "price",
    "discount",
    "points_spent",
    "points_earned",
]
AT = "2025-03-01T23:30:00+03:00"
ANNA = "00000000-0000-7000-8000-000000000001"


class FakeLookup:
    def __init__(self) -> None:
        self.ids = count(100)

    def members(self, ids: set[str], phones: set[str], cards: set[str]) -> Members:
        return Members(set(), {}, {card: ANNA for card in cards if card == "A1"})

    def stores(self) -> dict[str, str | None]:
        return {"MSK": "Europe/Moscow", "VVO": None}

    def reserve(self, table: str, count_: int) -> list[int]:
        return [next(self.ids) for _ in range(count_)]

    def lowered(self, texts: set[str]) -> dict[str, str]:
        return {text: text.lower() for text in texts}


def importer(**program: Any) -> receipts.Receipts:
    settings = Program(currency="RUB", timezone="Asia/Vladivostok", country="RU", **program)
    ctx = Context(1, settings, datetime(2026, 1, 1, tzinfo=UTC), FakeLookup(), "receipts:test")
    return receipts.Receipts(Header.check(HEADER, receipts.COLUMNS), ctx)


def rows(*cells: list[str]) -> list[Row]:
    return [(line, values, None) for line, values in enumerate(cells, start=2)]


def table_rows(prepared: Prepared[receipts.Receipt], kind: receipts.Receipts) -> dict[str, list[list[str]]]:
    out = {}
    for table in kind.tables(prepared):
        text = table.payload().decode()
        out[table.name] = [line.split("\t") for line in text.splitlines()]
        assert all(len(row) == len(table.columns) for row in out[table.name])
    return out


def test_a_bad_line_rejects_its_whole_receipt_and_only_it() -> None:
    kind = importer()
    prepared = kind.prepare(
        rows(
            ["MSK", "1", AT, "A1", "SKI", "1", "100", "", "", "5"],
            ["MSK", "1", AT, "A1", "POLE", "x", "10", "", "", ""],
            ["MSK", "1", AT, "A1", "TEE", "1", "10", "", "", ""],
            ["MSK", "2", AT, "", "TEE", "1", "10", "", "", ""],
            ["MSK", "2", AT, "", "TEE", "1", "10", "", "", ""],
            ["MSK", "3", AT, "", "TEE", "1", "10", "", "", ""],
            ["MSK", "2", AT, "", "TEE", "1", "10", "", "", ""],
        )
    )
    assert [(r.store, r.number, len(r.lines)) for r in prepared.records] == [("MSK", "2", 2), ("MSK", "3", 1)]
    assert [(r.line, r.reason) for r in prepared.rejects] == [
        (2, "line 3 of this receipt was rejected"),
        (3, "quantity: 'x' is not a whole number"),
        (4, "line 3 of this receipt was rejected"),
        (8, "number: receipt '2' of store 'MSK' appears earlier in the file"),
    ]
    assert prepared.loaded_rows == 3
    assert prepared.unique[0].keys == [("MSK", "2"), ("MSK", "3")]


def test_a_line_whose_store_or_number_is_written_with_spaces_rejects_its_receipt() -> None:
    """Grouped with the receipt (the cells without spaces are alike), such a line was loaded into
    it; as with any other of the receipt's columns written differently, the receipt is rejected."""
    kind = importer()
    prepared = kind.prepare(
        rows(
            ["MSK", "G1", AT, "", "A", "1", "1", "", "", ""],
            ["MSK", "G1", AT, "", "B", "1", "1", "", "", ""],
            ["MSK", "G1 ", AT, "", "C", "1", "1", "", "", ""],
            [" MSK", "G2", AT, "", "A", "1", "1", "", "", ""],
            ["MSK", "G2", AT, "", "B", "1", "1", "", "", ""],
            ["MSK", "G3", AT, "", "A", "1", "1", "", "", ""],
        )
    )
    assert [(r.number, len(r.lines)) for r in prepared.records] == [("G3", 1)]
    assert [(r.line, r.reason) for r in prepared.rejects] == [
        (2, "line 4 of this receipt was rejected"),
        (3, "line 4 of this receipt was rejected"),
        (4, "number: differs from the receipt's first line"),
        (5, "line 6 of this receipt was rejected"),
        (6, "store: differs from the receipt's first line"),
    ]


def test_history_moves_no_balance_and_each_spend_is_allocated_per_line() -> None:
    kind = importer(activation_delay_days=1, points_valid_days=30)
    prepared = kind.prepare(
        rows(
            ["MSK", "1", AT, "A1", "SKI", "2", "49.90", "", "10", "4"],
            ["MSK", "1", AT, "A1", "POLE", "1", "100", "5.50", "3", "4"],
            ["VVO", "2", AT, "", "TEE", "1", "10", "", "", ""],
        )
    )
    assert not prepared.rejects
    written = table_rows(prepared, kind)
    receipt_ids = [row[1] for row in written["receipts"]]
    assert len(set(receipt_ids)) == 2 and receipt_ids == sorted(receipt_ids)  # time-ordered ids

    by_entry: dict[str, int] = defaultdict(int)
    lots = {row[1]: row for row in written["lots"]}
    for row in written["entries"]:
        assert row[2] == ANNA and row[6] == receipt_ids[0]
        by_entry[row[3]] += int(row[4])
    assert dict(by_entry) == {"earn": 8, "import_used": -8, "import": 13, "spend": -13}
    taken: dict[str, int] = defaultdict(int)
    for row in written["allocations"]:
        taken[row[2]] += int(row[4])
    assert {lots[lot][4]: points for lot, points in taken.items()} == {"earn": 8, "import": 13}
    assert [(row[4], row[6]) for row in written["allocations"] if lots[row[2]][4] == "import"] == [
        ("10", "1"),
        ("3", "2"),
    ]
    earn = next(row for row in written["lots"] if row[4] == "earn")
    # Earned at 23:30 Moscow time on 1 March: available at the next local midnight, for 30 days.
    assert (earn[6], earn[7]) == ("2025-03-02T00:00:00+03:00", "2025-04-01T00:00:00+03:00")
    assert json.loads(earn[8]) == {"receipt": receipt_ids[0], "import": "receipts:test"}
    spend_lot = next(row for row in written["lots"] if row[4] == "import")
    assert "receipt" not in json.loads(spend_lot[8])  # only the earn lot counts as the receipt's credit

    receipt = written["receipts"][0]
    assert receipt[8:14] == ["199.80", "5.50", "13", "181.30", "181.30", "8"]
    assert len(receipt) == len(receipts.RECEIPTS) == 14  # no stored answer: it is built when asked
    # The dashboard's days: both receipts' (1 March, 20:30 UTC), the earn lot's last day (1 April
    # at midnight Moscow is 31 March in UTC) and the spend lot's (30 days after 1 March's midnight
    # after the purchase, 31 March Moscow: 30 March in UTC); the import runs on 1 January 2026.
    assert prepared.days == {date(2025, 3, 1), date(2025, 3, 31), date(2025, 3, 30)}

    # GET /v1/receipts/{id} builds the answer from what was written, as the database gives it back.
    def figures(row: list[str], names: tuple[str, ...]) -> dict[str, Any]:
        values = dict(zip(names, row, strict=True))
        return {k: None if v == "\\N" else v for k, v in values.items()}

    head = figures(receipt, receipts.RECEIPTS)
    head.update(
        status="confirmed",
        at=datetime.fromisoformat(head["at"]),
        points_spent=int(head["points_spent"]),
        points_earned=int(head["points_earned"]),
    )
    lines = [
        {
            **figures(row, receipts.LINES),
            "returned": 0,
            "points_spent": int(row[8]),
            "points_earned": int(row[10]),
        }
        for row in written["receipt_lines"]
        if row[1] == receipt[1]
    ]
    result = imported.present(head, lines, kind.ctx.program)
    assert result["status"] == "confirmed" and result["id"] == receipt_ids[0]
    assert result["member"] == {"id": ANNA, "tier": None}
    assert result["balance"] is None and result["imported"] is True
    assert result["at"] == AT
    assert result["totals"] == {
        "amount": "199.80",
        "discount": "5.50",
        "points_spent": 13,
        "points_spent_value": "13.00",
        "paid": "181.30",
        "points_earned": 8,
    }
    assert [line["paid"] for line in result["lines"]] == ["89.80", "91.50"]
    assert [line["points_spent"] for line in result["lines"]] == [10, 3]
    assert set(result["lines"][0]) == {
        "line",
        "sku",
        "quantity",
        "amount",
        "discount",
        "points_spent",
        "paid",
        "points_earned",
        "campaigns",
        "returned_quantity",
    }
    assert written["receipts"][1][4] == "\\N"  # the anonymous receipt names no member


def test_dropping_records_keeps_the_uniqueness_keys_in_step() -> None:
    prepared: Prepared[Any] = Prepared(3, ["a", "b", "c"], [], [Unique("x", ["ka", "kb", "kc"], [0, 1, 2])])

    class Rec:
        def __init__(self, line: int) -> None:
            self.line, self.values = line, [str(line)]

    prepared.records = [Rec(2), Rec(3), Rec(4)]
    drop(prepared, {1: "taken"})
    assert [r.line for r in prepared.records] == [2, 4]
    assert prepared.rejects == [Reject(3, "taken", ["3"])]
    assert (prepared.unique[0].keys, prepared.unique[0].owners) == (["ka", "kc"], [0, 1])
    assert prepared.loaded_rows == 2


def test_a_phone_that_only_looks_normalised_is_found_as_the_api_would_find_it() -> None:
    asked: list[set[str]] = []

    class Phones(FakeLookup):
        def members(self, ids: set[str], phones: set[str], cards: set[str]) -> Members:
            asked.append(set(phones))
            return Members(set(), {p: ANNA for p in phones if p == "+442079460000"}, {})

    header = Header.check(["member_phone"], {"member_phone": False})
    ref = MemberRef(header, "GB")
    written = ref.read(["+4402079460000"])  # E.164 in form, with the UK trunk 0 left in
    assert written == ("phone", "+4402079460000")
    assert ref.resolve(Phones(), [written]) == {written: ANNA}
    assert asked == [{"+4402079460000"}, {"+442079460000"}]


def test_a_receipt_too_long_for_a_batch_is_rejected_in_every_batch(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    line = "MSK,1,2025-03-01T12:00:00+03:00,,TEE,1,10,,,\n"
    path.write_text(",".join(HEADER) + "\n" + line * 1500 + line.replace("MSK,1,", "MSK,2,"))
    kind = importer()
    source = reader.CsvSource(path, None)
    prepared = [kind.prepare(rows) for rows, _ in reader.batches(source, 100, kind.group_key, longest=1200)]
    assert [p.rows for p in prepared] == [1300, 200, 1]  # the long receipt is cut: memory stays bounded
    assert [len(p.records) for p in prepared] == [0, 0, 1]
    assert {r.reason for p in prepared for r in p.rejects} == {"a receipt has at most 1000 lines"}
    assert sum(len(p.rejects) for p in prepared) == 1500


def test_a_number_in_a_batch_still_loading_appears_earlier_in_the_file() -> None:
    """With several loaders, a receipt whose number a batch still in flight holds was said to exist
    already: it is this file's own."""
    kind = importer()
    order = runner._Order()
    first = kind.prepare(rows(["MSK", "1", AT, "", "TEE", "1", "10", "", "", ""]))
    order.claim(0, first, kind)
    second = kind.prepare(rows(["MSK", "1", AT, "", "TEE", "1", "10", "", "", ""]))
    order.claim(1, second, kind)
    assert (len(first.records), second.records) == (1, [])
    assert [(r.line, r.reason) for r in second.rejects] == [
        (2, "number: receipt '1' of store 'MSK' appears earlier in the file")
    ]
    assert kind.taken_reason("receipt", ("MSK", "1"), in_file=False) == (
        "number: receipt '1' of store 'MSK' exists already (earlier in this file or already in the program)"
    )
