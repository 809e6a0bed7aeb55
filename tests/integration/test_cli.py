"""The ``patron`` command as a user runs it: real processes on a real PostgreSQL.

The database tests run on a fresh database on the test server (PATRON_TEST_DATABASE_URL's, else the
embedded one the ``database_url`` fixture starts); the ``serve`` test runs on its own embedded server
in a temporary data folder, as ``patron`` does with no PATRON_DATABASE_URL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest
from psycopg import sql

from patron.api import processes
from patron.db import migrate
from patron.db.url import with_database

PATRON = Path(sys.executable).parent / "patron"
CREATE = ("tenants", "create")
RUB_MOSCOW = ("--currency", "RUB", "--timezone", "Europe/Moscow", "--json")


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PATRON_DATABASE_URL", "PATRON_DATA_DIR")}
    env["COLUMNS"] = "200"  # rich: no wrapped lines in what we match
    env.update(extra)
    return env


def patron(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    assert PATRON.exists(), f"the console script is missing: {PATRON}"
    return subprocess.run([str(PATRON), *args], env=env, capture_output=True, text=True, timeout=timeout)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped has stopped)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def postmasters(pgdata: Path) -> list[int]:
    """Running postgres servers started on ``pgdata`` (backends rewrite their command line)."""
    found = []
    for proc in psutil.process_iter(attrs=("pid", "name", "cmdline")):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pgdata) in cmdline and alive(proc.info["pid"]):
            found.append(proc.info["pid"])
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def new_database(server_url: str, *, migrated: bool) -> str:
    admin = with_database(server_url, "postgres")
    name = f"patron_cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server_url, name)
    if migrated:
        migrate.upgrade(url)
    return url


def drop_database(url: str) -> None:
    name = url.split("?")[0].rsplit("/", 1)[-1]
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def cli_database(database_url: str) -> Iterator[str]:
    """A migrated database of this module's own: ``patron verify`` checks every tenant in it, so
    other modules' deliberate corruptions in the shared test database must not reach it."""
    url = new_database(database_url, migrated=True)
    yield url
    drop_database(url)


@pytest.fixture
def cli_env(cli_database: str, tmp_path: Path) -> dict[str, str]:
    return base_env(PATRON_DATABASE_URL=cli_database, PATRON_DATA_DIR=str(tmp_path / "unused"))


def slug() -> str:
    return "cli-" + uuid.uuid4().hex[:10]


def test_tenants_create_prints_one_json_object_and_refuses_bad_input(cli_env: dict[str, str]) -> None:
    name = slug()
    made = patron(*CREATE, name, *RUB_MOSCOW, env=cli_env)
    assert made.returncode == 0, made.stderr
    lines = made.stdout.strip().splitlines()
    assert len(lines) == 1, made.stdout
    body = json.loads(lines[0])
    assert isinstance(body, dict)
    assert body["tenant"] == name
    assert isinstance(body["api_key"], str) and len(body["api_key"]) >= 20

    again = patron(*CREATE, name, *RUB_MOSCOW, env=cli_env)
    assert again.returncode != 0
    assert "already exists" in again.stderr and name in again.stderr
    assert again.stdout.strip() == ""
    assert "Traceback" not in again.stderr

    for option, value in (("--currency", "XYZQ"), ("--currency", "RUR"), ("--timezone", "localtime")):
        bad = patron("tenants", "create", slug(), option, value, "--json", env=cli_env)
        assert bad.returncode != 0
        assert option.strip("-") in bad.stderr
        assert bad.stdout.strip() == ""
        assert "Traceback" not in bad.stderr


def test_tenants_key_issues_a_new_key_when_the_last_admin_key_is_gone(
    cli_env: dict[str, str], cli_database: str
) -> None:
    name = slug()
    made = json.loads(patron(*CREATE, name, *RUB_MOSCOW, env=cli_env).stdout)
    with psycopg.connect(cli_database, autocommit=True) as conn:
        conn.execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s", (made["key_id"],))
    issued = patron("tenants", "key", name, "--json", env=cli_env)
    assert issued.returncode == 0, issued.stderr
    body = json.loads(issued.stdout)
    assert (body["tenant"], body["role"]) == (name, "admin") and body["api_key"] != made["api_key"]
    with psycopg.connect(cli_database, autocommit=True) as conn:
        row = conn.execute(
            "SELECT k.role, k.revoked_at, t.slug FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = %s",
            (body["key_id"],),
        ).fetchone()
    assert row == ("admin", None, name)
    for args, message in (((name, "--role", "boss"), "either admin or pos"), (("no-such",), "no tenant")):
        refused = patron("tenants", "key", *args, "--json", env=cli_env)
        assert (refused.returncode, refused.stdout) == (2, ""), refused.stderr
        assert message in refused.stderr


def test_an_operators_mistake_is_one_line_and_exit_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    """Never a traceback, and never 1, which verify and import keep for a ledger that fails."""
    down = {**cli_env, "PATRON_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"}
    mistakes = [
        (("verify",), down, "the database cannot be used"),
        (("tenants", "list"), down, "the database cannot be used"),
        (("tenants", "list"), {**cli_env, "PATRON_DATABASE_URL": "mysql://u@h/db"}, "postgresql://"),
        (("tenants", "list"), {**cli_env, "PATRON_POOL_MAX": "abc"}, "PATRON_POOL_MAX"),
        (("worker", "--tenant", "nope"), cli_env, "no tenant 'nope'"),
        (("serve", "--port", "70000"), cli_env, "65535"),
        (("tenants", "list"), {**cli_env, "PATRON_DATABASE_URL": "postgresql://u@h:notaport/x"}, "port"),
        (("tenants", "list"), {**cli_env, "PATRON_DATABASE_URL": "postgresql://u@h/x?foo=bar"}, '"foo"'),
        (("serve",), {**cli_env, "PATRON_POOL_MIN": "20", "PATRON_POOL_MAX": "5"}, "PATRON_POOL_MIN (20)"),
        (("tenants", "create", "x", "--timezone", "Not/" + "Z" * 100), cli_env, "Z" * 100),  # never wrapped
        (("verify", "--tenant", ""), cli_env, "no tenant ''"),  # it checked every tenant, for minutes
        (("import", "widgets", __file__, "--tenant", "x"), cli_env, "unknown kind 'widgets'"),  # no bar first
        (("tenants", "create", "x", "--currency", "eur"), cli_env, "written in capitals: EUR"),
    ]
    for args, env, said in mistakes:
        done = patron(*args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert said in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
        if not done.stderr.startswith("Usage:"):  # the argument parser's own box aside
            assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, (args, done.stderr)
    # the rejects' folder is checked before anything loads
    stores = tmp_path / "stores.csv"
    stores.write_text("code,name\nNEW1,n\nbad!,x\n")
    name = slug()
    assert patron(*CREATE, name, *RUB_MOSCOW, env=cli_env).returncode == 0
    missing_folder = tmp_path / "no such folder" / "r.csv"  # not /nonexistent: root may have made it
    nowhere = patron(
        "import", "stores", str(stores), "--tenant", name, "--rejects", str(missing_folder), env=cli_env
    )
    assert nowhere.returncode == 2 and "rejects" in nowhere.stderr
    itself = patron("import", "stores", str(stores), "--tenant", name, "--rejects", str(stores), env=cli_env)
    assert itself.returncode == 2 and "would be overwritten" in itself.stderr
    folder = patron(
        "import", "stores", str(stores), "--tenant", name, "--rejects", str(tmp_path), env=cli_env
    )
    assert folder.returncode == 2 and "names a folder" in folder.stderr
    assert stores.read_text() == "code,name\nNEW1,n\nbad!,x\n"
    with psycopg.connect(cli_env["PATRON_DATABASE_URL"]) as conn:
        count = conn.execute(
            "SELECT count(*) FROM stores s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = %s", (name,)
        ).fetchone()
    assert count == (0,)


def test_users_create_reads_a_piped_password(cli_env: dict[str, str]) -> None:
    name = slug()
    assert patron(*CREATE, name, *RUB_MOSCOW, env=cli_env).returncode == 0

    def create(email: str, piped: str) -> subprocess.CompletedProcess[str]:
        command = [str(PATRON), "users", "create", email, "--tenant", name]
        return subprocess.run(command, input=piped, env=cli_env, capture_output=True, text=True, timeout=60)

    made = create("ops@example.com", "a-long-password-1\n")
    assert made.returncode == 0, made.stderr
    short = create("ops2@example.com", "short\n")
    assert short.returncode == 2 and "10 characters" in short.stderr and "Traceback" not in short.stderr


def test_db_upgrade_is_idempotent(database_url: str, tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    url = new_database(database_url, migrated=False)
    try:
        head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
        assert head
        env = base_env(PATRON_DATABASE_URL=url, PATRON_DATA_DIR=str(tmp_path / "unused"))
        for _ in range(2):
            done = patron("db", "upgrade", env=env)
            assert done.returncode == 0, done.stderr
            assert re.search(rf"revision {re.escape(head)}\b", done.stdout + done.stderr), done.stderr
        assert migrate.current(url) == head
    finally:
        drop_database(url)


async def test_verify_passes_then_names_a_corrupted_lot_and_scopes_to_a_tenant(
    cli_database: str, cli_env: dict[str, str]
) -> None:
    from patron.api.app import create_app

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return patron(*args, env=cli_env)

    keys = {}
    for name in (clean := slug(), broken := slug()):
        made = await asyncio.to_thread(run, "tenants", "create", name, "--currency", "RUB", "--json")
        assert made.returncode == 0, made.stderr
        keys[name] = json.loads(made.stdout)["api_key"]

    lots: dict[str, int] = {}
    app = create_app(cli_database, pool_min=1, pool_max=2)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://patron.test") as http:
            for name, key in keys.items():
                auth = {"Authorization": f"Bearer {key}"}
                member = await http.post("/v1/members", json={"phone": "+79001234567"}, headers=auth)
                assert member.status_code == 201, member.text
                mid = member.json()["id"]
                for points, idem in ((10, "a"), (-4, "b")):
                    adjusted = await http.post(
                        f"/v1/members/{mid}/adjustments",
                        json={"key": idem, "points": points, "reason": "cli test"},
                        headers=auth,
                    )
                    assert adjusted.status_code == 201, adjusted.text
                listed = (await http.get(f"/v1/members/{mid}/lots", headers=auth)).json()
                assert [lot["remaining"] for lot in listed] == [6]
                lots[name] = listed[0]["id"]

    fine = await asyncio.to_thread(run, "verify")
    assert fine.returncode == 0, fine.stderr
    assert "ok" in fine.stdout + fine.stderr

    with psycopg.connect(cli_database) as conn, conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        changed = conn.execute(
            "UPDATE lots SET remaining = remaining - 1"
            " WHERE tenant_id = (SELECT id FROM tenants WHERE slug = %s) AND id = %s",
            (broken, lots[broken]),
        ).rowcount
        assert changed == 1

    everything = await asyncio.to_thread(run, "verify")
    assert everything.returncode == 1, everything.stderr
    assert "lot_remaining_matches_allocations" in everything.stdout + everything.stderr
    # the report on stdout: how many rows fail, then each as one JSON line naming the tenant's slug
    failed = [line for line in everything.stdout.splitlines() if line.startswith("FAILED")]
    assert failed and all(line.endswith("(1 rows)") for line in failed), everything.stdout
    shown = [json.loads(line) for line in everything.stdout.splitlines() if line.startswith("    {")]
    assert shown and {row["tenant"] for row in shown} == {broken}
    # figures are numbers, sums as well as columns (a sum was the text "21" beside the number 20)
    lot_row = next(row for row in shown if "remaining" in row and "expected" in row)
    assert isinstance(lot_row["expected"], int) and isinstance(lot_row["remaining"], int), lot_row

    scoped_clean = await asyncio.to_thread(run, "verify", "--tenant", clean)
    assert scoped_clean.returncode == 0, scoped_clean.stderr
    assert "ok" in scoped_clean.stdout + scoped_clean.stderr
    assert "lot_remaining_matches_allocations" not in scoped_clean.stdout + scoped_clean.stderr

    scoped_broken = await asyncio.to_thread(run, "verify", "--tenant", broken)
    assert scoped_broken.returncode == 1, scoped_broken.stderr
    assert "lot_remaining_matches_allocations" in scoped_broken.stdout + scoped_broken.stderr


def test_a_database_migrated_by_a_newer_patron_is_one_line_and_exit_2(
    database_url: str, tmp_path: Path
) -> None:
    """A revision this code does not know gave a 98-line traceback and exit 1 from every command
    (which for verify says the ledger is broken)."""
    url = new_database(database_url, migrated=True)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE alembic_version SET version_num = '0999'")
        env = base_env(PATRON_DATABASE_URL=url, PATRON_DATA_DIR=str(tmp_path / "unused"))
        for args in (("verify",), ("tenants", "list")):
            done = patron(*args, env=env)
            assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
            assert done.stderr.startswith("error: ") and "0999" in done.stderr, done.stderr
        with psycopg.connect(url, autocommit=True) as conn:  # a stamp Alembic cannot even read
            conn.execute("UPDATE alembic_version SET version_num = ''")
        done = patron("verify", env=env)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("error: the database's schema could not be brought up to date"), (
            done.stderr
        )
    finally:
        drop_database(url)


def test_serve_on_the_embedded_database_shares_it_and_stops_it_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    pgdata = (data_dir / "pg").resolve()
    env = base_env(PATRON_DATA_DIR=str(data_dir))
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [str(PATRON), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    server_pid: int | None = None
    try:

        def healthy() -> bool:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(healthy, 60, 0.2), (tmp_path / "serve.log").read_text()
        server_pid = postmaster_pid(pgdata)
        assert server_pid is not None and alive(server_pid)
        assert postmasters(pgdata) == [server_pid]

        name = slug()
        made = patron(*CREATE, name, *RUB_MOSCOW, env=env)
        assert made.returncode == 0, made.stderr
        key = json.loads(made.stdout)["api_key"]
        # the second process joined the running server rather than starting one, and leaving did not stop it
        assert postmaster_pid(pgdata) == server_pid
        assert postmasters(pgdata) == [server_pid]

        program = httpx.get(
            f"http://127.0.0.1:{port}/v1/program", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert program.status_code == 200, program.text
        assert program.json()["currency"] == "RUB"

        serve.send_signal(signal.SIGTERM)
        try:
            code = serve.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail("patron serve did not exit within 20 s of SIGTERM")
        output = (tmp_path / "serve.log").read_text()
        assert code == 0, f"patron serve exited with {code} on SIGTERM (0 expected); its output: {output}"
        assert wait_until(lambda: not alive(server_pid), 20), "the embedded PostgreSQL outlived its last user"
        assert postmasters(pgdata) == []
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(timeout=10)
        log.close()
        # never leave a server behind, whatever failed above: fast shutdown of the one we caused
        for pid in {*postmasters(pgdata), *([server_pid] if server_pid and alive(server_pid) else [])}:
            os.kill(pid, signal.SIGINT)
            wait_until(lambda pid=pid: not alive(pid), 10)


@pytest.mark.skipif(not processes.supported(), reason="SO_REUSEPORT spreads connections on Linux only")
def test_serve_workers_each_take_connections_and_a_dead_one_is_replaced(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        serve = subprocess.Popen(
            [str(PATRON), "serve", "--port", str(port), "--workers", "2"],
            env=cli_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def children() -> list[psutil.Process]:
        """The server processes (not multiprocessing's resource tracker, not a zombie being reaped)."""
        found = []
        for child in psutil.Process(serve.pid).children():
            with contextlib.suppress(psutil.Error):
                if "resource_tracker" not in " ".join(child.cmdline()):
                    found.append(child)
        return found

    def serving(count: int) -> bool:
        assert serve.poll() is None, log_path.read_text()
        return len(children()) >= count and all(
            any(c.status == psutil.CONN_LISTEN for c in child.net_connections("tcp")) for child in children()
        )

    try:
        assert wait_until(lambda: serving(2), 60, 0.2), log_path.read_text()
        # 24 tills connect at once (as after a network blip), each keeping its connection open
        tills = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(24)]
        try:
            for till in tills:
                till.sendall(b"GET /health HTTP/1.1\r\nHost: patron\r\n\r\n")
            for till in tills:
                assert till.recv(4096).startswith(b"HTTP/1.1 200")
            accepted = [
                sum(
                    1
                    for c in child.net_connections("tcp")
                    if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
                )
                for child in children()
            ]
        finally:
            for till in tills:
                till.close()
        assert sum(accepted) == 24, accepted
        assert min(accepted) >= 4, f"one process took nearly all connections: {accepted}"

        # a second instance on the same port would share it (SO_REUSEPORT): it is refused, whatever
        # the host is called (the lock file named after "localhost" let one in beside 127.0.0.1)
        for host in ("127.0.0.1", "localhost"):
            second = patron(
                "serve", "--host", host, "--port", str(port), "--workers", "2", env=cli_env, timeout=60
            )
            assert second.returncode == 2 and "cannot listen on" in second.stderr, second.stderr

        first = children()[0]
        first.kill()
        assert wait_until(lambda: first.pid not in {c.pid for c in children()} and serving(2), 60, 0.2)
        assert httpx.get(base + "/health", timeout=10).status_code == 200

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=40) == 0, log_path.read_text()
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(timeout=10)


@pytest.mark.skipif(not processes.supported(), reason="SO_REUSEPORT spreads connections on Linux only")
def test_a_taken_port_is_refused_before_anything_starts(cli_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for args in (
            ("serve",),
            ("serve", "--workers", "2"),
            ("serve", "--host", "localhost", "--workers", "2"),
        ):
            done = patron(*args, "--port", str(port), env=cli_env, timeout=60)
            assert done.returncode == 2, (args, done.stderr)
            assert "cannot listen on" in done.stderr and "Address already in use" in done.stderr, done.stderr
            assert "Patron serves" not in done.stderr
        demo = patron("demo", "--sample", "5", "--port", str(port), env=cli_env, timeout=60)
    assert demo.returncode == 2 and "cannot listen on" in demo.stderr  # before loading anything
    assert "Reading the retailer" not in demo.stderr


@pytest.mark.skipif(not processes.supported(), reason="SO_REUSEPORT spreads connections on Linux only")
def test_serve_workers_die_with_their_supervisor_even_when_it_is_killed(cli_env: dict[str, str]) -> None:
    port = free_port()
    serve = subprocess.Popen(
        [str(PATRON), "serve", "--port", str(port), "--workers", "2"],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: _answers(port), 60, 0.2)
        workers = [
            child
            for child in psutil.Process(serve.pid).children()
            if "resource_tracker" not in " ".join(child.cmdline())
        ]
        assert len(workers) == 2
        serve.kill()  # SIGKILL: no chance to stop them itself
        serve.wait(timeout=10)
        assert wait_until(lambda: not any(alive(w.pid) for w in workers), 30, 0.2)
        assert not _answers(port)  # nothing is left on the port
    finally:
        if serve.poll() is None:
            serve.kill()


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_logs_each_request_when_asked(cli_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        serve = subprocess.Popen(
            [str(PATRON), "serve", "--port", str(port), "--access-log"], env=cli_env, stdout=log, stderr=log
        )
    try:
        assert wait_until(lambda: _answers(port), 60, 0.2), log_path.read_text()
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
    assert '"GET /health HTTP/1.1" 200' in log_path.read_text()


# A command's statement in a process that dies: the CLI's pool and the importer's connections.
_SLEEPERS = {
    "cli": """
import asyncio, sys
from patron.cli import run_with_db
async def work(db):
    async with db.connection() as conn:
        await conn.execute("SELECT set_config('application_name', %s, false)", (sys.argv[2],))
        print("sleeping", flush=True)
        await conn.execute("SELECT pg_sleep(120)")
run_with_db(sys.argv[1], work)
""",
    "import": """
import sys
from patron.importer import store
conn = store.connect(sys.argv[1])
conn.execute("SELECT set_config('application_name', %s, false)", (sys.argv[2],))
print("sleeping", flush=True)
conn.execute("SELECT pg_sleep(120)")
""",
}


@pytest.mark.parametrize("kind", sorted(_SLEEPERS))
def test_a_killed_commands_statement_stops_in_the_database(cli_database: str, kind: str) -> None:
    """A verify stopped with SIGTERM left its query running in PostgreSQL for as long as the
    query took (minutes over a large ledger); the backend now notices the client is gone."""
    marker = f"patron-test-{uuid.uuid4().hex[:12]}"
    sleeper = subprocess.Popen(
        [sys.executable, "-c", _SLEEPERS[kind], cli_database, marker], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sleeper.stdout is not None and sleeper.stdout.readline().strip() == "sleeping"

        def running() -> int:
            with psycopg.connect(cli_database, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND state = 'active'",
                    (marker,),
                ).fetchone()
                assert row is not None
                return int(row[0])

        deadline = time.monotonic() + 10
        while running() == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert running() == 1, "the sleeping statement never started"
        sleeper.kill()
        sleeper.wait(timeout=10)
        deadline = time.monotonic() + 15
        while running() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert running() == 0, "the statement of the killed process still runs"
    finally:
        sleeper.kill()
        sleeper.wait(timeout=10)
