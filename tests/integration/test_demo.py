"""``patron demo`` as a newcomer runs it: real processes on a fresh database.

The first run loads everything and replays a sample; the second reuses what is there, replays
nothing twice, and serves the API, where the admin key it printed works."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import httpx
import psycopg
import pytest

from patron.db.pool import Database
from patron.demo import data, replay
from patron.demo import run as demo_run
from tests.integration.conftest import Tenant
from tests.integration.test_cli import (
    PATRON,
    base_env,
    drop_database,
    free_port,
    new_database,
    patron,
    wait_until,
)

SAMPLE = 300
KEY = re.compile(r"ptr_[A-Za-z0-9_-]{20,}")


@pytest.fixture(scope="module")
def demo_database(database_url: str) -> Iterator[str]:
    url = new_database(database_url, migrated=False)
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def env(demo_database: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return base_env(PATRON_DATABASE_URL=demo_database, PATRON_DATA_DIR=str(tmp_path_factory.mktemp("unused")))


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT id FROM tenants WHERE slug = 'demo'",
        ).fetchone()
        assert row is not None
        tenant = row[0]
        result = {}
        tables = (
            "stores",
            "products",
            "members",
            "cards",
            "campaigns",
            "receipts",
            "receipt_returns",
            "lots",
        )
        for table in (*tables, "receipt_campaigns", "dashboard_state", "dashboard_days"):
            found = conn.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", (tenant,)).fetchone()
            assert found is not None
            result[table] = int(found[0])
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT number FROM receipts WHERE tenant_id = %s"
            " GROUP BY number HAVING count(*) > 1) d",
            (tenant,),
        ).fetchone()
        assert duplicates is not None
        result["duplicate_numbers"] = int(duplicates[0])
        return result


def expected_returns() -> int:
    year = data.Year()
    return sum(e.kind == replay.RETURN for q in replay.plan(year, SAMPLE, 1) for e in q)


def assert_admin_login_works(base: str, output: str) -> None:
    """The sign-in the demo printed opens the admin UI's dashboard."""
    found = re.search(r"admin UI sign-in: (\S+) / (\S+)", output)
    assert found, output
    with httpx.Client(base_url=base, timeout=30) as browser:
        form = browser.get("/admin/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        answer = browser.post(
            "/admin/login",
            data={"email": found[1], "password": found[2], "csrf_token": token[1], "next": "/admin/"},
        )
        assert answer.status_code in (302, 303), answer.text
        dashboard = browser.get("/admin/")
        assert dashboard.status_code == 200 and "Sign in" not in dashboard.text


def test_demo_loads_replays_a_sample_then_reuses_it_and_serves(
    demo_database: str, env: dict[str, str], tmp_path: Path
) -> None:
    first = patron("demo", "--sample", str(SAMPLE), "--no-serve", env=env, timeout=240)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    key = first.stdout.strip().splitlines()[-1]
    assert KEY.fullmatch(key), first.stdout
    assert "/admin" in first.stderr and "/docs" in first.stderr

    loaded = counts(demo_database)
    year = data.Year()
    assert loaded["stores"] == len(year.stores())
    assert loaded["products"] == 92_331
    assert loaded["members"] == loaded["cards"] == 2_469
    assert loaded["receipts"] == SAMPLE
    assert loaded["receipt_returns"] == expected_returns()
    assert loaded["lots"] > 0
    assert loaded["duplicate_numbers"] == 0
    assert loaded["campaigns"] >= 12
    assert loaded["receipt_campaigns"] > 0
    assert loaded["dashboard_state"] == 1 and loaded["dashboard_days"] > 0  # added up before serving

    verified = patron("verify", "--tenant", "demo", env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # A second run reuses everything, replays nothing twice, and serves with a new admin key.
    port = free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        served = subprocess.Popen(
            [str(PATRON), "demo", "--sample", str(SAMPLE), "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:

            def healthy() -> bool:
                assert served.poll() is None, log_path.read_text()
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            assert wait_until(healthy, 120, 0.25), log_path.read_text()
            assert served.stdout is not None
            second_key = served.stdout.readline().strip()
            assert KEY.fullmatch(second_key) and second_key != key
            output = log_path.read_text()
            assert "reused" in output and f"{SAMPLE:,} were there already" in output

            base = f"http://127.0.0.1:{port}"
            for used in (key, second_key):
                auth = {"Authorization": f"Bearer {used}"}
                program = httpx.get(f"{base}/v1/program", headers=auth, timeout=10)
                assert program.status_code == 200, program.text
                assert program.json()["currency"] == "USD"
                assert [t["code"] for t in program.json()["tiers"]] == ["base", "silver", "gold"]
            auth = {"Authorization": f"Bearer {second_key}"}
            first_sale = year.sale(0)
            member = httpx.get(
                f"{base}/v1/members",
                params={"card": data.card_of(first_sale.household_id)},
                headers=auth,
                timeout=10,
            )
            assert member.status_code == 200, member.text
            assert member.json()["phone"] == data.phone_of(first_sale.household_id)
            balance = httpx.get(f"{base}/v1/members/{member.json()['id']}/balance", headers=auth, timeout=10)
            assert balance.status_code == 200, balance.text
            store = httpx.get(f"{base}/v1/stores/{first_sale.store}", headers=auth, timeout=10)
            assert store.status_code == 200 and store.json()["timezone"] == "America/Chicago"
            assert httpx.get(f"{base}/v1/program", timeout=10).status_code == 401
            assert_admin_login_works(base, output)
        finally:
            served.send_signal(signal.SIGTERM)
            try:
                served.wait(timeout=30)
            except subprocess.TimeoutExpired:
                served.kill()
                served.wait(timeout=10)

    again = counts(demo_database)
    assert again == loaded


async def test_the_run_marks_every_day_from_the_years_start_to_tomorrow(tenant: Tenant, db: Database) -> None:
    """What the replay's rows no longer mark one by one, the run marks at once: every UTC day a
    replayed row can fall on, from the day before the year's first basket to tomorrow (a lot may
    expire up to then), so that the rollup adds up again the days it had closed."""

    class Year:
        def sale(self, index: int) -> SimpleNamespace:
            assert index == 0
            return SimpleNamespace(at=datetime(2026, 1, 1, 3, 0, tzinfo=timezone(timedelta(hours=5))))

    await demo_run.mark_the_year(db, tenant.tenant_id, cast(data.Year, Year()))
    async with db.read() as conn:
        rows = await (
            await conn.execute(
                "SELECT day FROM dashboard_marks WHERE tenant_id = %s ORDER BY day", (tenant.tenant_id,)
            )
        ).fetchall()
    days = [row["day"] for row in rows]
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    assert days[0] == date(2025, 12, 30)  # 1 January 03:00 at +05 is 31 December in UTC; a day before
    assert days[-1] == tomorrow
    assert len(days) == (tomorrow - date(2025, 12, 30)).days + 1  # every day, once
