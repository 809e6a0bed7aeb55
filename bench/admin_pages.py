"""How fast the admin web app's pages answer on the demo data (issue 7: each under 300 ms).

    .venv/bin/patron demo --no-serve          # once: loads and replays the demo year
    .venv/bin/python bench/admin_pages.py     # about a minute

The dashboard is timed twice: with ``fresh=1``, which recomputes its figures on every request
(what the first visitor of a range waits for), and as people load it, with the figures it keeps
for a minute. It uses the database ``patron`` uses (PATRON_DATABASE_URL, else the embedded one in
PATRON_DATA_DIR), makes or resets the user ``bench-admin@example.com`` in the tenant (``--tenant``,
default ``demo``) with a random password, starts ``patron serve`` on a free port, signs in, and
times each page over loopback: a few warm-up requests, then ``--runs`` timed ones, one at a time.
The what-if preview of a broad draft is timed twice: its answer (the figures, or their progress
when the replay needs longer) and the time until its figures are complete. Prints a table and
writes bench/out/admin_pages-<time>.json. Not a test: figures depend on the machine;
BENCHMARKS.md and docs/admin.md quote them.

The dashboard's ``first`` time of a range is what its first visitor waits for; the very first
load after the migration or a bulk load also sums every closed day into the daily rollup (about
1.5 s on the demo year, once).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PATRON = Path(sys.executable).parent / "patron"
EMAIL = "bench-admin@example.com"
TARGET_MS = 300.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def prepare(url: str, slug: str, password: str) -> dict[str, Any]:
    """The bench user, and ids of things worth showing (the busiest member, a receipt, a campaign)."""
    from patron.db.pool import Database
    from patron.tenants import store as tenants
    from patron.web import store as web_store
    from patron.web import users

    db = Database(url, min_size=1, max_size=2, name="bench")
    await db.open()
    try:
        async with db.transaction() as conn:
            tenant_id = await tenants.tenant_id_by_slug(conn, slug)
            found = await web_store.user_for_login(conn, EMAIL)
            if found is None:
                await users.create_in(conn, tenant_id, EMAIL, password, "admin")
            elif found["tenant_id"] != tenant_id:
                raise SystemExit(f"{EMAIL} belongs to another tenant")
            else:
                await users.set_password(conn, tenant_id, found["id"], password)
            ids: dict[str, Any] = {}
            for name, sql in (
                (
                    "member",
                    "SELECT member_id::text AS id FROM receipts WHERE tenant_id = %s AND member_id IS NOT NULL"
                    " GROUP BY member_id ORDER BY count(*) DESC LIMIT 1",
                ),
                (
                    "receipt",
                    "SELECT id::text AS id FROM receipts WHERE tenant_id = %s ORDER BY at DESC LIMIT 1",
                ),
                (
                    "campaign",
                    "SELECT id::text AS id FROM campaigns WHERE tenant_id = %s AND deleted_at IS NULL"
                    " ORDER BY created_at LIMIT 1",
                ),
                (
                    "card",
                    "SELECT c.card AS id FROM cards c WHERE c.tenant_id = %s ORDER BY c.card LIMIT 1",
                ),
                (
                    "broadcast",
                    "SELECT id::text AS id FROM broadcasts WHERE tenant_id = %s ORDER BY created_at DESC LIMIT 1",
                ),
                (
                    "webhook",
                    "SELECT id::text AS id FROM webhooks WHERE tenant_id = %s ORDER BY created_at DESC LIMIT 1",
                ),
                (
                    "phone",
                    "SELECT m.phone AS id FROM members m WHERE m.tenant_id = %s ORDER BY m.phone LIMIT 1",
                ),
            ):
                row = await (await conn.execute(sql, (tenant_id,))).fetchone()
                ids[name] = row["id"] if row else None
            counts = await (
                await conn.execute(
                    "SELECT (SELECT count(*) FROM receipts WHERE tenant_id = %(t)s) AS receipts,"
                    " (SELECT count(*) FROM members WHERE tenant_id = %(t)s) AS members,"
                    " (SELECT count(*) FROM products WHERE tenant_id = %(t)s) AS products,"
                    " (SELECT count(*) FROM lots WHERE tenant_id = %(t)s) AS lots,"
                    " (SELECT count(*) FROM entries WHERE tenant_id = %(t)s) AS entries",
                    {"t": tenant_id},
                )
            ).fetchone()
            ids["counts"] = dict(counts or {})
        return ids
    finally:
        await db.close()


def serve(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PATRON_DATABASE_URL": url}
    process = subprocess.Popen(
        [str(PATRON), "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("patron serve did not start")


def sign_in(client: httpx.Client, password: str) -> str:
    page = client.get("/admin/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no sign-in form"
    done = client.post(
        "/admin/login", data={"email": EMAIL, "password": password, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303, f"sign-in failed: {done.status_code}"
    home = client.get("/admin/members")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert csrf, "no CSRF token on the dashboard"
    return csrf.group(1)


def server_cpu_ms(pid: int) -> float:
    """CPU time (user + system) the server process has used so far, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def timed(
    client: httpx.Client, method: str, path: str, runs: int, warmup: int, data: Any = None
) -> dict[str, Any]:
    times = []
    status = 0
    for n in range(warmup + runs):
        start = time.perf_counter()
        response = client.request(method, path, data=data)
        elapsed = (time.perf_counter() - start) * 1000
        status = response.status_code
        if status >= 400:
            raise SystemExit(f"{method} {path} answered {status}: {response.text[:300]}")
        if n >= warmup:
            times.append(elapsed)
    times.sort()
    return {
        "path": path,
        "method": method,
        "status": status,
        "median_ms": round(statistics.median(times), 1),
        "p90_ms": round(times[max(0, int(len(times) * 0.9) - 1)], 1),
        "max_ms": round(times[-1], 1),
        "first_ms": None,
    }


def time_preview(client: httpx.Client, campaign: str, csrf: str, runs: int) -> dict[str, Any]:
    """The what-if preview of a broad draft (``department = 'PRODUCE'``, every day, everyone):
    how long its answer takes (the figures, or their progress when the replay needs longer) and
    how long until the figures are complete, polling as the page does (every second; here every
    50 ms, to measure)."""
    page = client.get(f"/admin/campaigns/{campaign}")
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
    fields = {
        k: v for k, v in fields.items() if k not in {"weekdays", "tiers", "stores", "cities", "countries"}
    }
    fields |= {
        "csrf_token": csrf,
        "condition": "department = 'PRODUCE'",
        "effect_type": "discount_percent",
        "effect_value": "10",
        "name": "bench preview",
    }
    answers: list[float] = []
    totals: list[float] = []
    polls: list[float] = []
    figures = ""
    for _ in range(max(3, runs // 3)):
        start = time.perf_counter()
        response = client.post("/admin/campaigns/preview", data=fields)
        answers.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"preview answered {response.status_code}: {response.text[:300]}")
        text = response.text
        while 'data-preview="done"' not in text:
            found = re.search(r'hx-post="([^"]+/campaigns/preview/[^"]+)"', text)
            assert found, "a running preview without its progress address"
            time.sleep(0.05)
            polled = time.perf_counter()
            text = client.post(found.group(1), data=fields).text  # the page posts its form
            polls.append((time.perf_counter() - polled) * 1000)
        totals.append((time.perf_counter() - start) * 1000)
        figures = ", ".join(f"{k} {v}" for k, v in re.findall(r'data-preview-figure="(\w+)">([^<]+)<', text))
    answers.sort()
    totals.sort()
    answer = {
        "path": "/admin/campaigns/preview (answer)",
        "method": "POST",
        "status": 200,
        "median_ms": round(statistics.median(answers), 1),
        "p90_ms": round(answers[max(0, int(len(answers) * 0.9) - 1)], 1),
        "max_ms": round(answers[-1], 1),
        "first_ms": round(answers[0], 1),
    }
    print(
        f"POST /admin/campaigns/preview: answer median {answer['median_ms']:.0f} ms; figures complete after"
        f" median {statistics.median(totals):.0f} ms (max {totals[-1]:.0f}); its progress answers in median"
        f" {statistics.median(polls or [0]):.0f} ms (max {max(polls or [0]):.0f}); {figures}",
        flush=True,
    )
    return {
        "answer": answer,
        "complete_ms": [round(t, 1) for t in totals],
        "progress_median_ms": round(statistics.median(polls or [0]), 1),
        "progress_max_ms": round(max(polls or [0]), 1),
        "figures": figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tenant", default="demo")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    from patron.cli import database_url

    url = database_url()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    password = secrets.token_urlsafe(18)
    ids = asyncio.run(prepare(url, args.tenant, password))
    port = free_port()
    process = serve(url, port)
    results: list[dict[str, Any]] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            csrf = sign_in(client, password)
            phone = ids["phone"] or ""
            pages: list[tuple[str, str, Any]] = [
                # fresh=1 recomputes the figures on every request (what the first visitor waits
                # for); without it the dashboard serves figures computed in the last minute
                ("GET", "/admin/?days=30&fresh=1", None),
                ("GET", "/admin/?days=90&fresh=1", None),
                ("GET", "/admin/?days=365&fresh=1", None),
                ("GET", "/admin/?days=90", None),
                ("GET", "/admin/members", None),
                ("GET", f"/admin/members?q={phone[-7:]}", None),
                ("GET", f"/admin/members?q={ids['card']}", None),
                ("GET", "/admin/members?q=zz", None),
                ("GET", f"/admin/members/{ids['member']}", None),
                ("GET", f"/admin/members/{ids['member']}/history?before=9000000000000000000", None),
                ("GET", f"/admin/receipts/{ids['receipt']}", None),
                ("GET", "/admin/campaigns", None),
                ("GET", "/admin/campaigns/new", None),
                (
                    "GET",
                    f"/admin/campaigns/{ids['campaign']}" if ids["campaign"] else "/admin/campaigns",
                    None,
                ),
                (
                    "POST",
                    "/admin/campaigns/condition",
                    {"csrf_token": csrf, "condition": "brand = 'National' and department = 'GROCERY'"},
                ),
                ("GET", "/admin/program", None),
                ("GET", "/admin/stores", None),
                ("GET", "/admin/communications", None),
                ("GET", "/admin/communications/messages", None),
                ("GET", "/admin/communications/templates/receipt", None),
                *(
                    [
                        ("GET", f"/admin/communications/broadcasts/{ids['broadcast']}", None),
                        ("GET", f"/admin/communications/broadcasts/{ids['broadcast']}/progress", None),
                    ]
                    if ids["broadcast"]
                    else []
                ),
                ("GET", "/admin/webhooks", None),
                *([("GET", f"/admin/webhooks/{ids['webhook']}", None)] if ids["webhook"] else []),
                ("GET", "/admin/api-keys", None),
                ("GET", "/admin/users", None),
            ]
            for method, path, data in pages:
                # the first request of each page, before any warm-up, is the one a person waits for
                start = time.perf_counter()
                client.request(method, path, data=data)
                first = round((time.perf_counter() - start) * 1000, 1)
                cpu_before = server_cpu_ms(process.pid)
                warmup = args.warmup - 1 if args.warmup else 0
                result = timed(client, method, path, args.runs, warmup, data)
                result["first_ms"] = first
                result["server_cpu_ms"] = round(
                    (server_cpu_ms(process.pid) - cpu_before) / (args.runs + warmup), 1
                )
                results.append(result)
                print(
                    f"{method:4} {path[:70]:70} median {result['median_ms']:7.1f} ms  p90 {result['p90_ms']:7.1f}"
                    f"  max {result['max_ms']:7.1f}  first {first:7.1f}  server CPU {result['server_cpu_ms']:6.1f}",
                    flush=True,
                )
            preview: dict[str, Any] | None = None
            if ids["campaign"]:
                preview = time_preview(client, ids["campaign"], csrf, args.runs)
                results.append(preview["answer"])
    finally:
        process.terminate()
        process.wait(timeout=30)

    slowest = max(results, key=lambda r: r["median_ms"])
    over = [r["path"] for r in results if r["median_ms"] > TARGET_MS]
    summary = {
        "when": datetime.now(UTC).isoformat(),
        "load_average": os.getloadavg(),
        "tenant": args.tenant,
        "data": ids["counts"],
        "runs": args.runs,
        "pages": results,
        "preview": preview,
        "slowest": slowest,
        "over_target": over,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"admin_pages-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(summary, indent=2, default=str))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"data: {ids['counts']}")
    print(
        f"slowest page: {slowest['path']} median {slowest['median_ms']} ms; over {TARGET_MS:.0f} ms: {over or 'none'}"
    )
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
