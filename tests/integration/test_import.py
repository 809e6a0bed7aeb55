"""``patron import``: every kind of bad row goes to the rejects file with its line and reason, the
good rows load, the ledger stays verifiable, and imported data works through the API."""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from patron import verify
from patron.db.pool import Database
from patron.importer import reader, runner
from patron.importer import store as importer_store
from patron.importer.batch import IN_FILE_OR_BEFORE
from patron.web import report_store as reports
from tests.integration.conftest import Tenant


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(rows)
    return path


async def load(database_url: str, tenant: Tenant, kind: str, path: Path, **options: Any) -> runner.Report:
    return await asyncio.to_thread(runner.run, database_url, tenant.slug, kind, path, **options)


def rejects(report: runner.Report) -> dict[int, str]:
    """Line -> reason, from the rejects file."""
    if report.rejects_file is None:
        return {}
    with report.rejects_file.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][:2] == ["_line", "_reason"]
    return {int(row[0]): row[1] for row in rows[1:]}


async def verified(db: Database, tenant: Tenant) -> None:
    async with db.read() as conn:
        await conn.execute("SET LOCAL enable_nestloop = off")
        failures = await verify.run(conn, tenant.tenant_id)
    assert not failures, [(f.check.name, f.rows) for f in failures]


async def count(db: Database, tenant: Tenant, table: str) -> int:
    async with db.read() as conn:
        row = await (
            await conn.execute(f"SELECT count(*) AS n FROM {table} WHERE tenant_id = %s", (tenant.tenant_id,))
        ).fetchone()
    assert row is not None
    return int(row["n"])


async def shop(database_url: str, tenant: Tenant, folder: Path) -> None:
    """Two stores and three members (with cards), through the importer itself."""
    stores = write_csv(
        folder / "stores.csv",
        ["code", "name", "country", "city", "timezone"],
        [
            ["MSK", "Moscow", "RU", "Moscow", "Europe/Moscow"],
            ["VVO", "Vladivostok", "RU", "", "Asia/Vladivostok"],
        ],
    )
    members = write_csv(
        folder / "members.csv",
        ["phone", "name", "cards"],
        [["+79001000001", "Anna", "A1|A2"], ["89001000002", "Boris", "B1"], ["+7 900 100-00-03", "Vera", ""]],
    )
    assert (await load(database_url, tenant, "stores", stores)).loaded == 2
    assert (await load(database_url, tenant, "members", members)).loaded == 3


async def member_id(tenant: Tenant, phone: str) -> str:
    response = await tenant.call("GET", "/v1/members", params={"phone": phone})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


# --- stores and products -------------------------------------------------------------------------


async def test_stores(database_url: str, tenant: Tenant, db: Database, tmp_path: Path) -> None:
    assert (await tenant.call("PUT", "/v1/stores/OLD", {"name": "Old"})).status_code == 201
    path = write_csv(
        tmp_path / "stores.csv",
        ["code", "name", "country", "city", "timezone"],
        [
            ["S1", "First", "ru", "Moscow", "Europe/Moscow"],  # 2
            ["S2", "Second", "", "", ""],  # 3
            ["S1", "Again", "RU", "", ""],  # 4 duplicate in the file
            ["S3", "", "RU", "", ""],  # 5 missing value
            ["S4", "Mars", "RU", "", "Mars/Base"],  # 6 bad time zone
            ["S5", "Nowhere", "XX", "", ""],  # 7 bad country
            ["OLD", "Exists", "", "", ""],  # 8 in the database already
            ["bad code", "Spaces", "", "", ""],  # 9 bad code
            ["S6", "Short"],  # 10 missing columns
        ],
    )
    report = await load(database_url, tenant, "stores", path)
    assert (report.loaded, report.rejected) == (2, 7)
    reasons = rejects(report)
    assert set(reasons) == {4, 5, 6, 7, 8, 9, 10}
    assert "appears earlier" in reasons[4]
    assert reasons[5] == "name: missing"
    assert "time zone" in reasons[6]
    assert "country" in reasons[7]
    assert "exists already" in reasons[8]
    assert reasons[9].startswith("code:")
    assert reasons[10] == "expected 5 values, got 2"
    store = (await tenant.call("GET", "/v1/stores/S1")).json()
    assert store == {
        "code": "S1",
        "name": "First",
        "country": "RU",
        "city": "Moscow",
        "timezone": "Europe/Moscow",
    }
    assert await count(db, tenant, "stores") == 3

    # The rejects file, once corrected, imports as it is (its _line and _reason columns are skipped).
    assert report.rejects_file is not None
    fixed = report.rejects_file.read_text().replace("S3,,RU", "S3,Third,RU")
    (tmp_path / "fixed.csv").write_text(fixed)
    again = await load(database_url, tenant, "stores", tmp_path / "fixed.csv")
    assert (again.loaded, again.rejected) == (1, 6)
    assert (
        rejects(again)[2]
        == "code: store 'S1' exists already (earlier in this file or already in the program)"
    )
    assert (await tenant.call("GET", "/v1/stores/S3")).json()["name"] == "Third"


async def test_products_attributes_from_extra_columns(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    assert (await tenant.call("PUT", "/v1/products/OLD", {"name": "Old"})).status_code == 200
    path = write_csv(
        tmp_path / "products.csv",
        ["sku", "name", "brand", "size"],
        [
            ["SKI-1", "Skis", "Atomic", "170"],
            ["TEE", "", "", ""],
            ["SKI-1", "Again", "", ""],
            ["no\tgood", "x", "", ""],  # a SKU as a basket takes it: no control character
            ["OLD", "Exists", "", ""],
            ["", "No sku", "", ""],
        ],
    )
    report = await load(database_url, tenant, "products", path)
    assert (report.loaded, report.rejected) == (2, 4)
    assert set(rejects(report)) == {4, 5, 6, 7}
    assert rejects(report)[7] == "sku: missing"
    product = (await tenant.call("GET", "/v1/products/SKI-1")).json()
    assert product["attributes"] == {"brand": "Atomic", "size": "170"}
    assert (await tenant.call("GET", "/v1/products/TEE")).json()["attributes"] == {}


# --- members ------------------------------------------------------------------------------------


async def test_members(database_url: str, tenant: Tenant, db: Database, tmp_path: Path) -> None:
    taken = {"phone": "+79002000000", "email": "taken@example.com", "cards": ["TAKEN"]}
    assert (await tenant.call("POST", "/v1/members", taken)).status_code == 201
    header = ["phone", "email", "name", "birthday", "cards", "consent_sms", "consent_email"]
    path = write_csv(
        tmp_path / "members.csv",
        header,
        [
            ["8 (900) 200-00-01", "anna@example.com", "Anna", "1990-05-17", "C1|C2", "yes", "false"],  # 2
            ["+79002000002", "", "Boris", "", "", "", ""],  # 3
            ["+79002000001", "", "Same phone", "", "", "", ""],  # 4 duplicate phone in the file
            ["12", "", "Bad phone", "", "", "", ""],  # 5
            ["+79002000000", "", "Phone taken", "", "", "", ""],  # 6 phone of a member in the database
            ["+79002000006", "ANNA@example.com", "Same email", "", "", "", ""],  # 7 (emails ignore case)
            ["+79002000007", "taken@EXAMPLE.com", "Email taken", "", "", "", ""],  # 8
            ["+79002000008", "", "Same card", "", "C2", "", ""],  # 9
            ["+79002000009", "", "Card taken", "", "X1|TAKEN", "", ""],  # 10
            ["+79002000010", "", "Card twice", "", "Z1|Z1", "", ""],  # 11
            ["+79002000011", "not-an-email", "Bad email", "", "", "", ""],  # 12
            ["+79002000012", "", "Bad date", "1990-02-30", "", "", ""],  # 13
            ["+79002000013", "", "Bad consent", "", "", "maybe", ""],  # 14
            ["", "", "No phone", "", "", "", ""],  # 15
        ],
    )
    report = await load(database_url, tenant, "members", path)
    assert (report.loaded, report.rejected) == (2, 12)
    reasons = rejects(report)
    assert set(reasons) == set(range(4, 16))
    assert "appears earlier" in reasons[4] and reasons[4].startswith("phone:")
    assert "not a phone number" in reasons[5]
    assert (
        reasons[6]
        == "phone: +79002000000 belongs to another member (earlier in this file or already in the program)"
    )
    assert reasons[7].startswith("email:") and "appears earlier" in reasons[7]
    assert "belongs to another member" in reasons[8]
    assert reasons[9].startswith("cards:") and "appears earlier" in reasons[9]
    assert (
        reasons[10]
        == "cards: card TAKEN belongs to another member (earlier in this file or already in the program)"
    )
    assert "twice" in reasons[11]
    assert reasons[12].startswith("email:")
    assert reasons[13].startswith("birthday:")
    assert reasons[14].startswith("consent_sms:")
    assert reasons[15] == "phone: missing"
    anna = (await tenant.call("GET", "/v1/members", params={"card": "C1"})).json()
    assert anna["phone"] == "+79002000001"  # normalised with the program's country (RU), as the API does
    assert anna["cards"] == ["C1", "C2"]
    assert anna["birthday"] == "1990-05-17"
    assert anna["consents"] == {"sms": True, "email": False}
    assert await count(db, tenant, "members") == 3
    assert await count(db, tenant, "cards") == 3
    joined = write_csv(
        tmp_path / "joined.csv",
        ["phone", "created_at"],
        [["+79002000020", "2020-01-01T00:00:00Z"], ["+79002000021", "2099-01-01T00:00:00Z"]],
    )
    report = await load(database_url, tenant, "members", joined)
    assert (report.loaded, rejects(report)) == (
        1,
        {3: "created_at: 2099-01-01T00:00:00+00:00 is in the future (an import brings history)"},
    )
    # stored as the API stores them, so that lookups find them and the API's uniqueness holds
    forms = write_csv(
        tmp_path / "forms.csv",
        ["phone", "email", "cards"],
        [["+79002000030", "hans@xn--bcher-kva.de", ""], ["+79002000031", "", "C\u200b1004"]],
    )
    report = await load(database_url, tenant, "members", forms)
    assert report.loaded == 1 and rejects(report)[3].endswith(
        "a card has no spaces, control or invisible characters"
    )
    found = await tenant.call("GET", "/v1/members", params={"email": "hans@bücher.de"})
    assert found.status_code == 200 and found.json()["email"] == "hans@bücher.de"
    again = await tenant.call("POST", "/v1/members", {"phone": "+79002000032", "email": "hans@bücher.de"})
    assert again.status_code == 409


async def test_an_imported_birthday_is_at_most_today_in_the_programs_time_zone(
    database_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    """In UTC-11 tomorrow is always today or earlier in UTC+14, the bound the import had."""
    program = {"currency": "RUB", "timezone": "Pacific/Pago_Pago", "country": "RU"}
    assert (await tenant.call("PUT", "/v1/program", program)).status_code == 200
    today = datetime.now(ZoneInfo("Pacific/Pago_Pago")).date()
    rows = [["+79002000040", today.isoformat()], ["+79002000041", (today + timedelta(days=1)).isoformat()]]
    report = await load(
        database_url, tenant, "members", write_csv(tmp_path / "born.csv", ["phone", "birthday"], rows)
    )
    assert report.loaded == 1
    assert rejects(report) == {3: f"birthday: '{today + timedelta(days=1)}' is in the future"}


async def test_emails_equal_only_to_postgresql_are_rejected_row_by_row(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    """ "İx@" and "ix@" (and "ΣΑΣ@" and "σασ@") differ as Python lowers them but are one address to
    the unique index on lower(email): the batch's COPY failed on the index, and every rerun stopped
    at the same batch, in one file or across two."""
    header = ["phone", "email"]
    one = write_csv(
        tmp_path / "one.csv",
        header,
        [
            ["+79004000001", "İx@example.com"],  # 2
            ["+79004000002", "ix@example.com"],  # 3: the same address to PostgreSQL
            ["+79004000003", "ok@example.com"],  # 4
            ["+79004000004", "σασ@example.com"],  # 5
            ["+79004000005", "ΣΑΣ@example.com"],  # 6
        ],
    )
    report = await load(database_url, tenant, "members", one)
    assert (report.loaded, rejects(report)) == (
        3,
        {
            3: "email: ix@example.com appears earlier in the file",
            6: "email: ΣΑΣ@example.com appears earlier in the file",
        },
    )
    # in the next batch of the same file, and in another file
    split = write_csv(
        tmp_path / "split.csv",
        header,
        [["+79004000011", "ΑΣ@example.com"], ["+79004000012", "ασ@example.com"]],
    )
    report = await load(database_url, tenant, "members", split, batch_rows=1)
    assert (report.loaded, rejects(report)) == (
        1,
        {3: f"email: ασ@example.com belongs to another member ({IN_FILE_OR_BEFORE})"},
    )
    other = write_csv(
        tmp_path / "other.csv",
        header,
        [
            ["+79004000021", "IX@example.com"],
            ["+79004000022", "ΣΑΣ@example.com"],
            ["+79004000023", "new@example.com"],
        ],
    )
    report = await load(database_url, tenant, "members", other)
    assert (report.loaded, rejects(report)) == (
        1,
        {
            2: f"email: ix@example.com belongs to another member ({IN_FILE_OR_BEFORE})",
            3: f"email: σασ@example.com belongs to another member ({IN_FILE_OR_BEFORE})",
        },
    )
    assert await count(db, tenant, "members") == 5


# --- lots -----------------------------------------------------------------------------------------


async def test_lots_partly_used_keep_the_ledger_whole(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    await shop(database_url, tenant, tmp_path)
    header = [
        "member_phone",
        "member_card",
        "points",
        "remaining",
        "available_from",
        "expires_at",
        "spend_condition",
        "kind",
    ]
    path = write_csv(
        tmp_path / "lots.csv",
        header,
        [
            [
                "+79001000001",
                "",
                "100",
                "",
                "2025-01-01T00:00:00+03:00",
                "2099-01-01T00:00:00+03:00",
                "",
                "",
            ],  # 2
            [
                "",
                "B1",
                "500",
                "120",
                "2025-01-01T00:00:00Z",
                "2099-01-01T00:00:00Z",
                "brand = 'Atomic'",
                "gift",
            ],  # 3
            ["", "A2", "70", "0", "", "2099-01-01T00:00:00Z", "", ""],  # 4 used up
            ["+79009999999", "", "10", "", "", "2099-01-01T00:00:00Z", "", ""],  # 5 unknown member
            ["", "NOPE", "10", "", "", "2099-01-01T00:00:00Z", "", ""],  # 6 unknown card
            ["", "A1", "ten", "", "", "2099-01-01T00:00:00Z", "", ""],  # 7 bad number
            ["", "A1", "10", "11", "", "2099-01-01T00:00:00Z", "", ""],  # 8 remaining above points
            ["", "A1", "10", "", "2099-01-02T00:00:00Z", "2099-01-01T00:00:00Z", "", ""],  # 9 expires first
            ["", "A1", "10", "", "", "2099-01-01T00:00:00Z", "brand = ", ""],  # 10 bad condition
            ["", "A1", "10", "", "", "2099-01-01T00:00:00", "", ""],  # 11 no offset
            ["+79001000001", "A1", "10", "", "", "2099-01-01T00:00:00Z", "", ""],  # 12 two members
            ["", "", "10", "", "", "2099-01-01T00:00:00Z", "", ""],  # 13 no member
            ["", "A1", "0", "", "", "2099-01-01T00:00:00Z", "", ""],  # 14 no points
            ["", "A1", "10", "", "", "", "", ""],  # 15 no expiry
            ["", "A1", "10", "", "", "2099-01-01T00:00:00Z", "", "Bad Kind"],  # 16
            ["", "A1", "10", "", "", "2020-01-01T00:00:00Z", "", ""],  # 17 expired before the import
        ],
    )
    report = await load(database_url, tenant, "lots", path)
    assert (report.loaded, report.rejected) == (3, 13)
    reasons = rejects(report)
    assert set(reasons) == set(range(5, 18))
    assert reasons[5] == "member_phone: no member with phone '+79009999999'"
    assert reasons[6] == "member_card: no member with card 'NOPE'"
    assert reasons[7].startswith("points:")
    assert reasons[8] == "remaining: 11 is more than points 10"
    assert reasons[9] == "expires_at: not after available_from"
    assert reasons[17] == "expires_at: not after available_from (absent: the time of the import)"
    assert reasons[10].startswith("spend_condition: invalid condition")
    assert "offset" in reasons[11]
    assert "only one" in reasons[12]
    assert reasons[13].startswith("member:")
    assert reasons[14].startswith("points:")
    assert reasons[15] == "expires_at: missing"
    assert reasons[16].startswith("kind:")

    anna, boris = await member_id(tenant, "+79001000001"), await member_id(tenant, "+79001000002")
    balance = (await tenant.call("GET", f"/v1/members/{anna}/balance")).json()
    assert balance["available"] == 100  # the used-up lot adds nothing
    lots = (await tenant.call("GET", f"/v1/members/{boris}/lots")).json()
    items = lots["items"] if isinstance(lots, dict) else lots
    assert [(lot["points"], lot["remaining"], lot["kind"], lot["spend_condition"]) for lot in items] == [
        (500, 120, "gift", "brand = 'Atomic'")
    ]
    await verified(db, tenant)


async def test_lots_imported_again_from_a_changed_file_load_nothing_twice(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    """A probe: lots had no key, so only a byte-identical file was recognised; the same rows saved
    with CRLF, or with one row added, loaded every lot again and doubled the balances."""
    await shop(database_url, tenant, tmp_path)
    header = ["member_card", "points", "remaining", "available_from", "expires_at"]
    rows = [
        ["A1", "100", "", "2025-01-01T00:00:00Z", "2099-01-01T00:00:00Z"],
        ["B1", "500", "120", "2025-01-01T00:00:00Z", "2099-01-01T00:00:00Z"],
        ["B1", "500", "", "2025-01-01T00:00:00Z", "2099-01-01T00:00:00Z"],  # 4: as line 3
    ]
    first = await load(database_url, tenant, "lots", write_csv(tmp_path / "lots.csv", header, rows))
    assert first.loaded == 2
    assert "appears earlier in the file (line 3); give a key column" in rejects(first)[4]
    changed = tmp_path / "lots-again.csv"
    changed.write_bytes(
        (tmp_path / "lots.csv").read_bytes().replace(b"\r\n", b"\n") + b"A2,7,,,2099-01-01T00:00:00Z\n"
    )
    again = await load(database_url, tenant, "lots", changed)
    assert again.loaded == 1  # only the row added
    assert set(rejects(again)) == {2, 3, 4} and "exists already" in rejects(again)[2]
    anna, boris = await member_id(tenant, "+79001000001"), await member_id(tenant, "+79001000002")
    assert (await tenant.call("GET", f"/v1/members/{anna}/balance")).json()["available"] == 107
    assert (await tenant.call("GET", f"/v1/members/{boris}/balance")).json()["available"] == 120

    # with the old system's ids, lots that are alike load, and once
    keyed = write_csv(
        tmp_path / "keyed.csv",
        ["key", "member_card", "points", "expires_at"],
        [
            ["L-1", "A1", "5", "2099-01-01T00:00:00Z"],
            ["L-2", "A1", "5", "2099-01-01T00:00:00Z"],
            ["L-1", "A2", "9", "2099-01-01T00:00:00Z"],
        ],
    )
    report = await load(database_url, tenant, "lots", keyed)
    assert (report.loaded, rejects(report)) == (2, {4: "key: lot 'L-1' appears earlier in the file (line 2)"})
    keyed.write_text(keyed.read_text() + "L-3,A1,1,,\n")  # no expiry: rejected, the rest exists
    report = await load(database_url, tenant, "lots", keyed)
    assert (
        report.loaded == 0
        and rejects(report)[2]
        == "key: lot 'L-1' exists already (earlier in this file or already in the program)"
    )
    assert (await tenant.call("GET", f"/v1/members/{anna}/balance")).json()["available"] == 117

    # without available_from (the import's time, another each run) the same lot is still the same
    undated = write_csv(
        tmp_path / "undated.csv",
        ["member_card", "points", "expires_at"],
        [["B1", "30", "2099-01-01T00:00:00Z"]],
    )
    assert (await load(database_url, tenant, "lots", undated)).loaded == 1
    undated.write_bytes(undated.read_bytes().replace(b"\r\n", b"\n"))
    assert (await load(database_url, tenant, "lots", undated)).loaded == 0
    assert (await tenant.call("GET", f"/v1/members/{boris}/balance")).json()["available"] == 150

    # a balance for a moment after a lot began to count has it, as a quote for that moment does
    then = (
        await tenant.call("GET", f"/v1/members/{boris}/balance", params={"at": "2026-01-01T00:00:00Z"})
    ).json()
    assert then["available"] == 120
    await verified(db, tenant)


# --- receipts -------------------------------------------------------------------------------------

RECEIPT_HEADER = [
    "store",
    "number",
    "at",
    "member_phone",
    "member_card",
    "tier",
    "sku",
    "quantity",
    "price",
    "discount",
    "points_spent",
    "points_earned",
]
AT = "2025-03-01T12:00:00+03:00"


async def test_receipts(database_url: str, tenant: Tenant, db: Database, tmp_path: Path) -> None:
    await shop(database_url, tenant, tmp_path)
    opening = write_csv(
        tmp_path / "lots.csv",
        ["member_card", "points", "expires_at"],
        [["A1", "1000", "2099-01-01T00:00:00Z"]],
    )
    await load(database_url, tenant, "lots", opening)
    anna = await member_id(tenant, "+79001000001")
    assert (await tenant.call("PUT", "/v1/products/SKI", {"name": "Skis"})).status_code == 200
    sold = {"store": "MSK", "number": "API-1", "lines": [{"sku": "SKI", "quantity": 1, "price": "10.00"}]}
    assert (await tenant.call("POST", "/v1/receipts", sold)).status_code == 201
    path = write_csv(
        tmp_path / "receipts.csv",
        RECEIPT_HEADER,
        [
            ["MSK", "R1", AT, "+79001000001", "", "", "SKI", "2", "49.90", "", "10", "4"],  # 2
            ["MSK", "R1", AT, "+79001000001", "", "", "TEE", "1", "100", "5.50", "0", "4"],  # 3
            ["VVO", "R2", AT, "", "", "", "TEE", "1", "10", "", "", ""],  # 4 anonymous
            ["MSK", "R3", AT, "", "", "", "TEE", "1", "10", "", "", "2"],  # 5 anonymous with points
            ["NOPE", "R4", AT, "", "", "", "TEE", "1", "10", "", "", ""],  # 6 unknown store
            ["MSK", "R5", AT, "", "B1", "", "TEE", "1", "10.001", "", "", ""],  # 7 too many decimals
            ["MSK", "R5", AT, "", "B1", "", "SKI", "1", "10", "", "", ""],  # 8 ... so its receipt goes
            ["MSK", "R6", AT, "", "B1", "", "TEE", "1", "10", "", "", ""],  # 9
            [
                "MSK",
                "R6",
                "2025-03-01T13:00:00+03:00",
                "",
                "B1",
                "",
                "SKI",
                "1",
                "10",
                "",
                "",
                "",
            ],  # 10 other time
            ["MSK", "R1", AT, "+79001000001", "", "", "SKI", "1", "1", "", "", ""],  # 11 number again
            ["MSK", "R7", AT, "", "NOPE", "", "TEE", "1", "10", "", "", ""],  # 12 unknown member
            ["MSK", "R8", AT, "", "B1", "gold", "TEE", "1", "10", "", "", ""],  # 13 unknown tier
            ["MSK", "R9", AT, "", "B1", "", "TEE", "3", "10", "", "100", ""],  # 14 spends more than paid
            ["MSK", "API-1", AT, "", "", "", "SKI", "1", "10", "", "", ""],  # 15 in the database already
            ["MSK", "R10", AT, "", "B1", "", "TEE", "x", "10", "", "", ""],  # 16 bad quantity
            ["MSK", "R11", "yesterday", "", "B1", "", "TEE", "1", "10", "", "", ""],  # 17 bad time
            ["MSK", "R12", AT, "", "B1", "", "TEE", "1", "10", "20", "", ""],  # 18 discount above amount
            ["MSK", "R13", AT, "", "B1", "", "", "1", "10", "", "", ""],  # 19 no sku
            ["MSK", "R14", AT, "", "B1", "base", "TEE", "1", "10", "", "", "1"],  # 20
        ],
    )
    report = await load(database_url, tenant, "receipts", path)
    assert (report.loaded, report.records, report.rejected) == (4, 3, 15)
    reasons = rejects(report)
    assert set(reasons) == set(range(5, 20))
    assert (
        reasons[5] == "points_earned: an anonymous receipt earns and spends no points"
    )  # the column at fault
    assert reasons[6] == "store: no store 'NOPE'"
    assert reasons[7] == "price: '10.001' has more decimals than the currency"
    assert reasons[8] == "line 7 of this receipt was rejected"
    assert reasons[9] == "line 10 of this receipt was rejected"
    assert reasons[10] == "at: differs from the receipt's first line"
    assert "appears earlier" in reasons[11]
    assert reasons[12] == "member_card: no member with card 'NOPE'"
    assert reasons[13] == "tier: the program has no tier 'gold'"
    assert reasons[14].startswith("points_spent: 100 points are worth more")
    assert (
        reasons[15]
        == "number: receipt 'API-1' of store 'MSK' exists already (earlier in this file or already in the program)"
    )
    assert reasons[16].startswith("quantity:")
    assert reasons[17].startswith("at:")
    assert reasons[18].startswith("discount:")
    assert reasons[19] == "sku: missing"

    # The receipt reads like one the API confirmed; a till that knows only its store and number
    # (the old system's paper copy) finds it.
    found = await tenant.call("GET", "/v1/receipts", params={"store": "MSK", "number": "R1"})
    assert found.status_code == 200, found.text
    row = {"id": found.json()["id"]}
    result = (await tenant.call("GET", f"/v1/receipts/{row['id']}")).json()
    assert result == found.json()
    missing = await tenant.call("GET", "/v1/receipts", params={"store": "MSK", "number": "R404"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "receipt_not_found"
    assert (await tenant.call("GET", "/v1/receipts", params={"store": "MSK"})).status_code == 422
    assert result["status"] == "confirmed"
    assert result["member"] == {"id": anna, "tier": None}
    assert [
        (ln["line"], ln["amount"], ln["discount"], ln["points_spent"], ln["paid"]) for ln in result["lines"]
    ] == [
        (1, "99.80", "0.00", 10, "89.80"),
        (2, "100.00", "5.50", 0, "94.50"),
    ]
    assert result["totals"] == {
        "amount": "199.80",
        "discount": "5.50",
        "points_spent": 10,
        "points_spent_value": "10.00",
        "paid": "184.30",
        "points_earned": 8,
    }
    assert result["imported"] is True and result["balance"] is None and result["optimal"] is True
    assert datetime.fromisoformat(result["at"]) == datetime.fromisoformat(AT)
    assert [ln["returned_quantity"] for ln in result["lines"]] == [0, 0]
    # Patron never answered it, so it keeps no answer: the one above is built from its figures.
    async with db.read() as conn:
        stored = await (
            await conn.execute(
                "SELECT result FROM receipts WHERE tenant_id = %s AND id = %s", (tenant.tenant_id, row["id"])
            )
        ).fetchone()
    assert stored is not None and stored["result"] is None
    # History does not move the balance: that comes from the opening lots.
    assert (await tenant.call("GET", f"/v1/members/{anna}/balance")).json()["available"] == 1000
    await verified(db, tenant)

    # Returning an imported line: its spent points come back, its earned points are taken back.
    response = await tenant.call(
        "POST",
        f"/v1/receipts/{row['id']}/returns",
        {"number": "RET-1", "lines": [{"line": 1, "quantity": 2}]},
    )
    assert response.status_code == 201, response.text
    back = response.json()
    assert (back["points_refunded"], back["points_reversed"], back["refund"]) == (10, 4, "89.80")
    assert back["receipt"]["status"] == "partially_returned" and back["receipt"]["imported"] is True
    after = (await tenant.call("GET", f"/v1/receipts/{row['id']}")).json()
    assert after == back["receipt"]
    assert [ln["returned_quantity"] for ln in after["lines"]] == [2, 0]
    assert after["totals"] == result["totals"]
    await verified(db, tenant)


async def test_a_growing_tenant_is_analyzed_during_the_import_too(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new tenant's statistics say it has no receipts; planned on them, each batch's probe of its
    receipt numbers read all of the tenant's receipts (20 s more every batch, autovacuum off)."""
    await shop(database_url, tenant, tmp_path)
    analyzed: list[list[str]] = []
    real = runner.store.analyze

    def counted(conn: Any, tables: list[str]) -> None:
        analyzed.append(tables)
        real(conn, tables)

    monkeypatch.setattr(runner.store, "analyze", counted)
    lines = [
        ["MSK", f"G{n}", "2025-03-02T02:00:00+03:00", "", "", "", "TEE", "1", "10", "", "", ""]
        for n in range(6)
    ]
    report = await load(
        database_url, tenant, "receipts", write_csv(tmp_path / "g.csv", RECEIPT_HEADER, lines), batch_rows=1
    )
    assert report.batches == 6 and report.loaded == 6
    # after the first batch, after the fourth, and at the end
    assert analyzed == [runner.TABLES["receipts"]] * 3
    await verified(db, tenant)


async def test_imported_history_marks_the_dashboards_days_in_one_statement_a_batch(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    """The import's rows skip the per-row mark triggers (migration 0015); each batch marks the
    same UTC days itself: its receipts' and entries' days, and the last day of each lot that has
    expired (a day ahead at most may be marked too: a day not closed yet is skipped)."""
    await shop(database_url, tenant, tmp_path)
    path = write_csv(
        tmp_path / "receipts.csv",
        RECEIPT_HEADER,
        [
            ["MSK", "D1", "2025-03-01T23:30:00+03:00", "+79001000001", "", "", "SKI", "1", "50", "", "", "5"],
            ["MSK", "D2", "2025-03-02T02:00:00+03:00", "", "", "", "TEE", "1", "10", "", "", ""],
            ["VVO", "D3", "2025-06-10T05:00:00+10:00", "", "B1", "", "TEE", "2", "10", "", "4", "1"],
            ["MSK", "D4", "2026-01-15T12:00:00+03:00", "+79001000001", "", "", "SKI", "1", "70", "", "", "7"],
        ],
    )
    report = await load(database_url, tenant, "receipts", path, batch_rows=2)
    assert report.loaded == 4
    # where the loader's time went, step by step, within its time in the database
    assert set(report.load_steps) == {
        "keys",
        "receipts",
        "receipt_lines",
        "entries",
        "lots",
        "allocations",
        "finish",
    }
    assert 0 < sum(report.load_steps.values()) <= report.load_seconds
    async with db.read() as conn:
        marked = {
            row["day"]
            for row in await (
                await conn.execute(
                    "SELECT day FROM dashboard_marks WHERE tenant_id = %s", (tenant.tenant_id,)
                )
            ).fetchall()
        }
        # what the triggers of migration 0008 would have marked, row by row
        would = {
            row["day"]
            for row in await (
                await conn.execute(
                    "SELECT (at AT TIME ZONE 'UTC')::date AS day FROM receipts"
                    " WHERE tenant_id = %(t)s AND at < now() - interval '1 day'"
                    " UNION SELECT (at AT TIME ZONE 'UTC')::date FROM entries"
                    " WHERE tenant_id = %(t)s AND at < now() - interval '1 day'"
                    " UNION SELECT ((expires_at - interval '1 microsecond') AT TIME ZONE 'UTC')::date FROM lots"
                    " WHERE tenant_id = %(t)s AND expires_at < now() - interval '1 day'",
                    {"t": tenant.tenant_id},
                )
            ).fetchall()
        }
    # D1 and D2 fall on one UTC day; D3 is 9 June in UTC; D1's and D3's lots have expired
    assert {date(2025, 3, 1), date(2025, 6, 9), date(2026, 1, 15)} <= would
    assert len(would) > 3
    assert would <= marked
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert all(day >= yesterday for day in marked - would)
    # points issued are what the receipts earned (5 + 1 + 7), not the lot D3's 4 spent points were
    # taken from (it had counted them as issued too)
    async with db.read() as conn:
        moved = await reports.points_by_day(
            conn, tenant.tenant_id, datetime(2025, 1, 1, tzinfo=UTC), datetime.now(UTC), "UTC"
        )
    assert (sum(row["issued"] for row in moved), sum(row["spent"] for row in moved)) == (13, 4)


def test_the_loaders_connections_are_skipped_by_the_mark_triggers(database_url: str) -> None:
    """What makes the triggers of migration 0015 leave the import's rows alone: every loader
    connection is in the mode where the writer marks its own days."""
    with importer_store.loader(database_url) as conn:
        row = conn.execute("SELECT current_setting('patron.dashboard_marks', true)").fetchone()
    assert row is not None and row[0] == "by_writer"
    with importer_store.connect(database_url) as conn:  # the run's other connections are not
        row = conn.execute("SELECT current_setting('patron.dashboard_marks', true)").fetchone()
    assert row is not None and row[0] in (None, "")


async def test_parquet_with_typed_columns(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    await shop(database_url, tenant, tmp_path)
    moscow = datetime.fromisoformat(AT)
    table = pa.table(
        {
            "store": ["MSK", "MSK", "MSK", "MSK"],
            "number": ["P1", "P1", "P2", "P3"],
            "at": pa.array([moscow, moscow, moscow, moscow], pa.timestamp("us", tz="Europe/Moscow")),
            "member_phone": ["+79001000002", "+79001000002", None, None],
            "sku": ["SKI", "TEE", "TEE", "TEE"],
            "quantity": pa.array([1, 2, 1, 0], pa.int64()),
            "price": pa.array(
                [Decimal("10.50"), Decimal("3.00"), Decimal("7.25"), Decimal("1.00")], pa.decimal128(12, 2)
            ),
            "points_earned": pa.array([1, 0, None, None], pa.int32()),
        }
    )
    path = tmp_path / "receipts.parquet"
    pq.write_table(table, path, row_group_size=2)
    report = await load(database_url, tenant, "receipts", path)
    assert (report.loaded, report.records, report.rejected) == (3, 2, 1)
    assert rejects(report) == {4: "quantity: 0 is below 1"}
    async with db.read() as conn:
        rows = await (
            await conn.execute(
                "SELECT number, amount, points_earned, at FROM receipts WHERE tenant_id = %s ORDER BY number",
                (tenant.tenant_id,),
            )
        ).fetchall()
    assert [(r["number"], r["amount"], r["points_earned"]) for r in rows] == [
        ("P1", Decimal("16.5000"), 1),
        ("P2", Decimal("7.2500"), 0),
    ]
    assert rows[0]["at"] == moscow
    members = pa.table(
        {
            "phone": ["+79003000001", "bad"],
            "birthday": pa.array([date(1990, 1, 2), None], pa.date32()),
            "consent_sms": pa.array([True, None], pa.bool_()),
        }
    )
    pq.write_table(members, tmp_path / "members.parquet")
    report = await load(database_url, tenant, "members", tmp_path / "members.parquet")
    assert (report.loaded, report.rejected) == (1, 1)
    assert rejects(report)[2].startswith("phone:")
    found = (await tenant.call("GET", "/v1/members", params={"phone": "+79003000001"})).json()
    assert (found["birthday"], found["consents"]["sms"]) == ("1990-01-02", True)
    # values that are not one scalar were once stored as their Python spelling (b'x', [1, 2], nan)
    cases = {
        "weights": pa.table({"sku": ["OK", "NAN"], "name": ["Fine", "Nan"], "weight": [1.5, float("nan")]}),
        "binary": pa.table({"sku": ["BIN"], "name": pa.array([b"x"], pa.binary())}),
        "listed": pa.table(
            {"sku": ["L1"], "name": ["Listed"], "size": pa.array([[1, 2]], pa.list_(pa.int64()))}
        ),
    }
    cases["naive"] = pa.table(
        {
            "sku": ["N1", "N2"],
            "launched": pa.array([datetime(2020, 1, 1, 12), None], pa.timestamp("us")),  # no time zone
        }
    )
    outcomes = {}
    for name, table in cases.items():
        pq.write_table(table, tmp_path / f"{name}.parquet")
        report = await load(database_url, tenant, "products", tmp_path / f"{name}.parquet")
        outcomes[name] = (report.loaded, rejects(report))
    assert outcomes["weights"] == (
        1,
        {2: "weight: nan (a float) is not a number"},
    )  # Parquet counts rows from 1
    assert outcomes["binary"] == (0, {1: "name: 78 (1 byte of binary data, in hex) is not text"})
    assert outcomes["naive"] == (
        1,
        {1: "launched: 2020-01-01T12:00:00 (a timestamp) has no time zone (Patron never guesses one)"},
    )
    assert outcomes["listed"] == (0, {1: "size: [1, 2] (a list) is not a single value"})
    await verified(db, tenant)


async def test_parquet_numbers_and_timestamps_in_text_columns_are_stored_as_written(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    """SKUs from a float column were stored as ``1e+16``, ``12345.0`` and ``1e-05``, a naive
    timestamp in a store's name as ``2025-01-01 12:00:00`` and a duration as ``3:00:00``."""
    table = pa.table(
        {
            "sku": pa.array([1e16, 12345.0, 1e-05, 7.0], pa.float64()),
            "shelf_time": pa.array(
                [None, None, None, timedelta(hours=3)], pa.duration("s")
            ),  # a product's attribute
        }
    )
    pq.write_table(table, tmp_path / "products.parquet")
    report = await load(database_url, tenant, "products", tmp_path / "products.parquet")
    assert (report.loaded, rejects(report)) == (3, {4: "shelf_time: 3:00:00 (a duration) is not text"})
    async with db.read() as conn:
        rows = await (
            await conn.execute(
                "SELECT sku FROM products WHERE tenant_id = %s ORDER BY sku", (tenant.tenant_id,)
            )
        ).fetchall()
    assert [r["sku"] for r in rows] == ["0.00001", "10000000000000000", "12345"]
    noon = datetime(2025, 1, 1, 12)
    zoned = pa.table(
        {"code": ["Z1"], "name": pa.array([noon.replace(tzinfo=UTC)], pa.timestamp("s", tz="UTC"))}
    )
    naive = pa.table({"code": ["N1"], "name": pa.array([noon], pa.timestamp("s"))})
    pq.write_table(zoned, tmp_path / "zoned.parquet")
    pq.write_table(naive, tmp_path / "naive.parquet")
    report = await load(database_url, tenant, "stores", tmp_path / "zoned.parquet")
    assert (report.loaded, report.rejected) == (1, 0)
    report = await load(database_url, tenant, "stores", tmp_path / "naive.parquet")
    assert (report.loaded, rejects(report)) == (
        0,
        {1: "name: 2025-01-01T12:00:00 (a timestamp) has no time zone (Patron never guesses one)"},
    )
    async with db.read() as conn:
        row = await (
            await conn.execute("SELECT name FROM stores WHERE tenant_id = %s", (tenant.tenant_id,))
        ).fetchone()
    assert row is not None and row["name"] == "2025-01-01T12:00:00+00:00"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["code", "city"], "missing column(s): name"),
        (["code", "name", "colour"], "unknown column 'colour'"),
        (["code", "name", "Name"], "appears twice"),
    ],
)
async def test_a_header_that_does_not_fit_loads_nothing(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path, header: list[str], message: str
) -> None:
    path = write_csv(tmp_path / "stores.csv", header, [["S1"] * len(header)])
    with pytest.raises(runner.ImportFailed, match=re.escape(message)):
        await load(database_url, tenant, "stores", path)
    assert await count(db, tenant, "stores") == 0


async def test_two_loaders_commit_in_order_and_never_load_a_key_twice(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    await shop(database_url, tenant, tmp_path)
    rows = []
    for n in range(60):
        member, points = ("+79001000001", "1") if n % 2 else ("", "")
        rows.append(["MSK", f"N{n}", AT, member, "", "", "TEE", "1", "10", "", points, points])
    # The same numbers again in the next batch: rejected, whether that batch is committed yet or not.
    rows += [["MSK", f"N{n}", AT, "", "", "", "TEE", "1", "10", "", "", ""] for n in (50, 51, 52)]
    path = write_csv(tmp_path / "receipts.csv", RECEIPT_HEADER, rows)
    report = await load(database_url, tenant, "receipts", path, batch_rows=7, workers=2)
    assert (report.loaded, report.rejected, report.batches) == (60, 3, 9)
    assert all("receipt 'N" in reason for reason in rejects(report).values())
    assert set(rejects(report)) == {62, 63, 64}
    assert await count(db, tenant, "receipts") == 60
    async with db.read() as conn:
        row = await (
            await conn.execute(
                "SELECT position, line, batches FROM import_runs WHERE tenant_id = %s AND kind = 'receipts'",
                (tenant.tenant_id,),
            )
        ).fetchone()
    assert row is not None and (row["position"], row["line"], row["batches"]) == (path.stat().st_size, 65, 9)
    await verified(db, tenant)


async def test_rows_beyond_what_the_api_accepts_are_rejected_and_stop_nothing(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    """Each of these once loaded and then made its member unusable at the till (a moment near
    the year 1 or 10000), or stopped the import for good on every rerun (a NUL in a rejected
    row, a receipt whose lines overflow its total), or crashed it (a receipt in the year 9999)."""
    stores = write_csv(
        tmp_path / "stores.csv",
        ["code", "name", "country", "city", "timezone"],
        [["N1", "a\x00b", "RU", "", ""], ["MSK", "Moscow", "RU", "Moscow", "Europe/Moscow"]],
    )
    report = await load(database_url, tenant, "stores", stores)
    assert (report.loaded, report.rejected) == (1, 1)
    assert "control character" in rejects(report)[2]
    members = write_csv(
        tmp_path / "members.csv",
        ["phone", "birthday", "created_at"],
        [
            ["+79001000001", "1990-05-17", "2024-01-01T10:00:00+03:00"],  # 2
            ["+79001000002", "2999-12-07", ""],  # 3 a birthday to come
            ["+79001000003", "0001-12-07", ""],  # 4
            ["+79001000004", "20200101", ""],  # 5 not YYYY-MM-DD
            ["+79001000005", "", "0001-01-01T00:00:00+05:00"],  # 6
            ["+79001000006", "", "9999-12-31T23:59:59-05:00"],  # 7
        ],
    )
    report = await load(database_url, tenant, "members", members)
    assert (report.loaded, set(rejects(report))) == (1, {3, 4, 5, 6, 7})
    assert all(reason.startswith(("birthday:", "created_at:")) for reason in rejects(report).values())
    lots = write_csv(
        tmp_path / "lots.csv",
        ["member_phone", "points", "available_from", "expires_at"],
        [
            ["+79001000001", "100", "", "2099-01-01T00:00:00Z"],  # 2
            ["+79001000001", "100", "", "9999-12-31T23:59:59-05:00"],  # 3
            ["+79001000001", "100", "0001-01-01T00:00:00+05:00", "2099-01-01T00:00:00Z"],  # 4
        ],
    )
    report = await load(database_url, tenant, "lots", lots)
    assert (report.loaded, set(rejects(report))) == (1, {3, 4})
    huge = "999999999999.99"
    receipts = write_csv(
        tmp_path / "receipts.csv",
        RECEIPT_HEADER,
        [
            ["MSK", "R1", AT, "+79001000001", "", "", "TEE", "1", "10", "", "", "5"],  # 2
            ["MSK", "R2", AT, "", "", "", "TEE", "1", huge, "", "", ""],  # 3 lines that overflow the total
            ["MSK", "R2", AT, "", "", "", "SKI", "1", huge, "", "", ""],  # 4
            ["MSK", "R3", "9999-12-31T23:00:00+00:00", "+79001000001", "", "", "TEE", "1", "10", "", "", "5"],
            ["MSK", "R4", "2999-01-01T00:00:00+00:00", "", "", "", "TEE", "1", "10", "", "", ""],  # 6 to come
        ],
    )
    report = await load(database_url, tenant, "receipts", receipts)
    assert (report.loaded, set(rejects(report))) == (1, {3, 4, 5, 6})
    again = await load(database_url, tenant, "stores", stores)  # a rerun finishes too
    assert again.loaded == 0
    member = await member_id(tenant, "+79001000001")
    assert (await tenant.call("GET", f"/v1/members/{member}/balance")).status_code == 200
    await verified(db, tenant)


async def test_a_receipt_with_an_unreadable_line_is_rejected_whole_and_rejects_import_again(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    """A line with a value too many, or a number written with a trailing space, split its receipt:
    the rest loaded, and the corrected rejects could then never complete it."""
    await shop(database_url, tenant, tmp_path)
    path = tmp_path / "receipts.csv"
    good = ["MSK", "R2", AT, "", "", "", "TEE", "1", "10", "", "", ""]
    rows = [
        ",".join(RECEIPT_HEADER),
        ",".join(good),
        ",".join([*good[:6], "SKI", *good[7:]]) + ",EXTRA",  # 3: one value too many
        ",".join([*good[:6], "POLE", *good[7:]]),
        "   ",  # 5: spaces only: skipped like a blank line
        ",".join(["MSK", "W1", *good[2:]]),
        ",".join(["MSK", "W1 ", *good[2:]]),  # 7: grouped with W1, but written differently: W1 rejected
        ",".join(["MSK", "OK", *good[2:]]),
        ",".join(["MSK", "B1", *good[2:]]) + ",EXTRA",  # 9: bad, and left bad for a second round
        ",".join(["MSK", "B1", *good[2:]]),
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = await load(database_url, tenant, "receipts", path)
    assert (report.records, report.rejected) == (1, 7)
    reasons = rejects(report)
    assert reasons[3].startswith("expected 12 values") and 5 not in reasons
    assert reasons[2] == reasons[4] == "line 3 of this receipt was rejected"
    assert (reasons[6], reasons[7]) == (
        "line 7 of this receipt was rejected",
        "number: differs from the receipt's first line",
    )
    assert reasons[10] == "line 9 of this receipt was rejected"
    async with db.read() as conn:
        cur = await conn.execute(
            "SELECT r.number, count(*) AS lines FROM receipts r JOIN receipt_lines l"
            " ON l.tenant_id = r.tenant_id AND l.receipt_id = r.id WHERE r.tenant_id = %s GROUP BY 1 ORDER BY 1",
            (tenant.tenant_id,),
        )
        assert [(row["number"], row["lines"]) for row in await cur.fetchall()] == [("OK", 1)]

    # the rejects, corrected, import again; and their own rejects again (their header not doubled)
    assert report.rejects_file is not None
    with report.rejects_file.open(newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    corrected = [[*row[:2], *good[:6], "SKI", *good[7:]] if row[0] == "3" else row for row in table[1:]]
    corrected = [[*row[:3], "W1", *row[4:]] if row[0] == "7" else row for row in corrected]
    fixed = write_csv(
        tmp_path / "fixed.csv", table[0], [row for row in corrected if row[0] not in ("9", "10")]
    )
    second = await load(database_url, tenant, "receipts", fixed)
    assert (second.records, second.loaded, second.rejected) == (2, 5, 0)  # R2 whole (three lines), W1 (two)
    # the uncorrected rejects again: R2 exists now, and B1 is still bad
    third = await load(database_url, tenant, "receipts", report.rejects_file)
    assert third.rejects_file is not None and (third.records, third.rejected) == (0, 7)
    with third.rejects_file.open(newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == ["_line", "_reason", *RECEIPT_HEADER]
    fourth = await load(database_url, tenant, "receipts", third.rejects_file)
    assert (fourth.records, fourth.rejected) == (0, 7)
    await verified(db, tenant)


async def test_parquet_values_python_cannot_hold_or_lists_reject_their_rows_only(
    database_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    """A date beyond the year 9999 stopped every run at the same batch; a list of cards was
    stored as the card "['P1']"."""
    days = pa.array([-1_000_000, 7000, 3_000_000], pa.int32()).cast(pa.date32())
    table = pa.table({"phone": ["+79003100001", "+79003100002", "+79003100003"], "birthday": days})
    pq.write_table(table, tmp_path / "dates.parquet")
    report = await load(database_url, tenant, "members", tmp_path / "dates.parquet")
    assert (report.loaded, rejects(report)) == (
        1,
        {
            1: "birthday: -0768-02-04 (date32[day]) is beyond what Python can read (date value out of range)",
            3: "birthday: 10183-09-21 (date32[day]) is beyond what Python can read (date value out of range)",
        },
    )
    # the value as Arrow writes it, not an empty cell: imported again, the row is refused again
    # (it had loaded the member without a birthday)
    assert report.rejects_file is not None
    with report.rejects_file.open(newline="", encoding="utf-8") as f:
        assert [row[2:] for row in csv.reader(f)][1:] == [
            ["+79003100001", "-0768-02-04"],
            ["+79003100003", "10183-09-21"],
        ]
    again = await load(database_url, tenant, "members", report.rejects_file)
    assert (again.loaded, rejects(again)) == (
        0,
        {
            2: "birthday: '-0768-02-04' is not a date (YYYY-MM-DD)",
            3: "birthday: '10183-09-21' is not a date (YYYY-MM-DD)",
        },
    )
    moments = pa.array([300_000_000_000], pa.int64()).cast(pa.timestamp("s", tz="UTC"))  # stored in ms
    pq.write_table(pa.table({"phone": ["+79003100004"], "created_at": moments}), tmp_path / "late.parquet")
    report = await load(database_url, tenant, "members", tmp_path / "late.parquet")
    assert (report.loaded, rejects(report)) == (
        0,
        {
            1: "created_at: 11476-08-15 05:20:00.000Z (timestamp[ms, tz=UTC]) is beyond what Python can read"
            " (date value out of range)"
        },
    )
    listed = pa.table(
        {
            "phone": pa.array([["+79003200001"], ["+79003200002"]], pa.list_(pa.string())),
            "cards": pa.array([None, ["P1"]], pa.list_(pa.string())),
        }
    )
    pq.write_table(listed, tmp_path / "listed.parquet")
    report = await load(database_url, tenant, "members", tmp_path / "listed.parquet")
    assert (report.loaded, report.rejected) == (0, 2)
    assert all(reason.startswith("phone:") for reason in rejects(report).values())
    carded = pa.table({"phone": ["+79003300001"], "cards": pa.array([["P1"]], pa.list_(pa.string()))})
    pq.write_table(carded, tmp_path / "carded.parquet")
    report = await load(database_url, tenant, "members", tmp_path / "carded.parquet")
    assert (report.loaded, list(rejects(report).values())) == (
        0,
        ["cards: [P1] (a list) is not a single value"],
    )


async def test_parquet_values_are_named_as_written_and_binary_uuids_are_ids(
    database_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    """Reasons and the rejects file once showed Python's spelling (``datetime.datetime(1980, ...)``,
    ``b'\\x15...'``), and a binary(16) id, common in exports, was refused."""
    kept, other = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c"
    table = pa.table(
        {
            "id": pa.array([UUID(kept).bytes, UUID(other).bytes], pa.binary(16)),
            "phone": ["+79003400001", "+79003400002"],
            "birthday": pa.array([datetime(1980, 1, 2, tzinfo=UTC), None], pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, tmp_path / "members.parquet")
    report = await load(database_url, tenant, "members", tmp_path / "members.parquet")
    assert (report.loaded, rejects(report)) == (
        1,
        {1: "birthday: 1980-01-02T00:00:00+00:00 (a timestamp) is not a date"},
    )
    found = (await tenant.call("GET", "/v1/members", params={"phone": "+79003400002"})).json()
    assert found["id"] == other
    assert report.rejects_file is not None
    with report.rejects_file.open(newline="", encoding="utf-8") as f:
        table_rows = list(csv.reader(f))
    assert table_rows[1] == [
        "1",
        rejects(report)[1],
        UUID(kept).hex,
        "+79003400001",
        "1980-01-02T00:00:00+00:00",
    ]
    # corrected, the rejects file imports as it is: the id in hex is the same UUID
    fixed = write_csv(tmp_path / "fixed.csv", table_rows[0], [[*table_rows[1][:4], "1980-01-02"]])
    assert (await load(database_url, tenant, "members", fixed)).loaded == 1
    found = (await tenant.call("GET", "/v1/members", params={"phone": "+79003400001"})).json()
    assert (found["id"], found["birthday"]) == (kept, "1980-01-02")


async def test_a_phone_longer_than_e164_is_a_rejected_row(
    database_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    """The table's check refused a 17-digit number the phone library takes as valid: the whole
    batch stopped, on every rerun, and the good row with it."""
    path = write_csv(
        tmp_path / "members.csv",
        ["phone", "name"],
        [["+49301234567890123", "long"], ["+4915112399999", "ok"]],
    )
    report = await load(database_url, tenant, "members", path)
    assert (report.loaded, rejects(report)) == (
        1,
        {
            2: "phone: '+49301234567890123' is longer than a phone number may be (15 digits with the country code)"
        },
    )
    assert (await tenant.call("GET", "/v1/members", params={"phone": "+4915112399999"})).status_code == 200


async def test_a_parquet_phone_column_of_numbers_is_refused_row_by_row(
    database_url: str, other_tenant: Tenant, tmp_path: Path
) -> None:
    """4915200000012 (int64) loaded as +494915200000012: a national number of the program's
    country (DE), the + lost with the number type."""
    tenant = other_tenant
    table = pa.table({"phone": pa.array([4915200000012, None], pa.int64()), "name": ["Digits", "None"]})
    pq.write_table(table, tmp_path / "members.parquet")
    report = await load(database_url, tenant, "members", tmp_path / "members.parquet")
    assert (report.loaded, rejects(report)) == (
        0,
        {
            1: "phone: 4915200000012 (an integer) is not text: write a phone number as text,"
            " with its + and country code",
            2: "phone: missing",
        },
    )
    assert report.rejects_file is not None
    with report.rejects_file.open(newline="", encoding="utf-8") as f:
        assert list(csv.reader(f))[1][2:] == ["4915200000012", "Digits"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "products.csv: the file is empty"),
        (
            b"sku,name\rQ1,a\r",
            "products.csv: the header line holds a carriage return (CR): if the file's lines",
        ),
        (b'sku,"name\nQ1,a\n', "products.csv: the header line has a quote left open"),
        (b"\xef\xbb\xbf", "products.csv: the file is empty"),  # a byte order mark alone
        (b"\xffsku,name\n", "products.csv: the header line is not UTF-8 text"),
    ],
)
async def test_a_file_that_cannot_be_read_says_why_and_names_itself(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path, content: bytes, message: str
) -> None:
    """An empty file said "missing column(s): sku", lines ended by CR alone got Python's advice
    on universal-newline mode, and the reader's messages lacked the file's name; a quote left
    open in the header was named in the csv module's words ("unexpected end of data"), and a
    byte order mark alone was a blank header line."""
    path = tmp_path / "products.csv"
    path.write_bytes(content)
    with pytest.raises(runner.ImportFailed) as caught:
        await load(database_url, tenant, "products", path)
    assert str(caught.value).startswith(message)
    assert await count(db, tenant, "products") == 0


async def test_a_quote_never_closed_rejects_its_row_saying_what_it_took(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "products.csv"
    path.write_text('sku,name\nQ1,ok\nQ2,"Jacket 5\nQ3,x\nQ4,y\nQ5,z\n', encoding="utf-8")
    report = await load(database_url, tenant, "products", path)
    assert (report.loaded, rejects(report)) == (
        1,
        {3: "a quote opened at line 3 is never closed: the 3 lines after it were read into one value"},
    )
    assert report.rejects_file is not None
    with report.rejects_file.open(newline="", encoding="utf-8") as f:
        assert list(csv.reader(f))[1][2:] == ["Q2", "Jacket 5\nQ3,x\nQ4,y\nQ5,z\n"]


async def test_a_quote_open_past_the_field_limit_loses_no_row(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a quote left open more than the field limit (16 MiB) before the end of the file, the
    csv module stopped inside the value and read on from there: of 700,000 stores 92,877 loaded,
    one row was rejected with no cells, and the rest were neither loaded nor rejected (exit 0)."""
    before = csv.field_size_limit()
    monkeypatch.setattr(reader, "FIELD_LIMIT", 1000)
    csv.field_size_limit(1000)
    try:
        path = tmp_path / "stores.csv"
        stores = "".join(f"B{i},Store number {i}\n" for i in range(300))
        path.write_text(f'code,name\nA1,"Alpha\n{stores}', encoding="utf-8")
        report = await load(database_url, tenant, "stores", path, batch_rows=100)
    finally:
        csv.field_size_limit(before)
    reason = "a quote opened at line 2 is not closed within 1,000 bytes: the lines after it are read as rows"
    assert (report.loaded, rejects(report)) == (300, {2: reason})
    assert await count(db, tenant, "stores") == 300
    assert report.rejects_file is not None
    with report.rejects_file.open(newline="", encoding="utf-8") as f:
        assert list(csv.reader(f))[1] == ["2", reason, 'A1,"Alpha']


async def test_a_row_the_csv_module_cannot_read_is_kept_whole_in_the_rejects_file(
    database_url: str, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    """A bare CR inside a row put "2,unreadable CSV: ..." in the rejects file and nothing else:
    the three stores on that line vanished, and the row could not be corrected from there."""
    path = tmp_path / "stores.csv"
    path.write_bytes(b"code,name\nS1,One\rS2,Two\rS3,Three\nS4,Four\n")
    report = await load(database_url, tenant, "stores", path)
    reason = "unreadable CSV: a carriage return (CR) inside a value that is not quoted"
    assert (report.loaded, rejects(report)) == (1, {2: reason})
    assert report.rejects_file is not None
    with report.rejects_file.open(newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == [
            ["_line", "_reason", "code", "name"],
            ["2", reason, "S1,One\rS2,Two\rS3,Three"],
        ]
    # corrected in place (the raw text written out as rows), the rejects file loads as it is
    fixed = report.rejects_file.read_bytes().decode("utf-8")
    fixed = fixed.replace(
        f'2,{reason},"S1,One\rS2,Two\rS3,Three"', f"2,{reason},S1,One\n2,,S2,Two\n2,,S3,Three"
    )
    report.rejects_file.write_bytes(fixed.encode("utf-8"))
    again = await load(database_url, tenant, "stores", report.rejects_file)
    assert (again.loaded, again.rejected) == (3, 0)
    assert await count(db, tenant, "stores") == 4


async def test_a_key_repeated_in_a_later_batch_is_named_for_where_it_may_be(
    database_url: str, tenant: Tenant, tmp_path: Path
) -> None:
    """A phone repeated ten rows on, in a batch after the first one's commit, was said to belong
    to another member, as if the program had it before the import."""
    phones = [f"+790035000{n:02}" for n in range(12)]
    phones[10] = phones[0]
    path = write_csv(tmp_path / "members.csv", ["phone"], [[phone] for phone in phones])
    report = await load(database_url, tenant, "members", path, batch_rows=3)
    assert (report.loaded, rejects(report)) == (
        11,
        {
            12: "phone: +79003500000 belongs to another member (earlier in this file or already in the program)"
        },
    )
