"""What PostgreSQL spends a message on, in two layouts of the message log (issue 5).

``today``: one ``messages`` table, as in migration 0004; ``status`` is in the due index and the
broadcast index, so marking a message sent is never a HOT update.
``queue``: the log with ``fillfactor`` 60 and no index on ``status`` (its updates can be HOT),
plus a queue table of the due messages that a send deletes from.

Each run expands a broadcast into the log in pages of 1,000 members, then claims the messages
90 at a time (``FOR UPDATE SKIP LOCKED``, joined with the member, as the sender does) and marks
them sent, on one connection. It reports the backend's CPU (from /proc, so the server must run on
this machine) per message for each part. It creates and drops a scratch database.

``--growth`` asks instead whether a message costs more as the log grows without a vacuum (each
sent message leaves a dead entry at the old end of the due index, which every claim starts
from): one broadcast of ``--messages`` expanded a page at a time while fewer than 3,000 are
queued, as a worker does, claimed and marked sent; the cost of each tenth of the messages.

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/message_layout.py [--messages 20000] [--runs 2] [--growth]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid

import psycopg
from psycopg import sql

from patron.db.url import with_database

SCRATCH = "patron_message_layout"
PAGE = 1000
BATCH = 90  # what a sender claims at 1,000 a second (0.1 s at 90% headroom)
BODY = "Our winter sale starts on Friday: 20% off all produce, and double points on dairy."

COLUMNS = """
    tenant_id bigint NOT NULL, id uuid NOT NULL DEFAULT gen_random_uuid(), member_id uuid NOT NULL,
    trigger text NOT NULL, channel text NOT NULL, locale text, subject text, body text NOT NULL,
    timezone text NOT NULL, status text NOT NULL DEFAULT 'queued', attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL, created_at timestamptz NOT NULL, sent_at timestamptz,
    recipient text, error text, broadcast_id uuid, dedup_key text,
    PRIMARY KEY (tenant_id, id), FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)"""

SCHEMA = f"""
CREATE TABLE members (tenant_id bigint, id uuid, phone text, PRIMARY KEY (tenant_id, id));
CREATE TABLE today ({COLUMNS});
CREATE UNIQUE INDEX ON today (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX ON today (tenant_id, channel, next_attempt_at) WHERE status = 'queued';
CREATE INDEX ON today (tenant_id, member_id, created_at DESC);
CREATE INDEX ON today (tenant_id, broadcast_id, status) WHERE broadcast_id IS NOT NULL;
CREATE TABLE queue_log ({COLUMNS}) WITH (fillfactor = 60);
CREATE UNIQUE INDEX ON queue_log (tenant_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX ON queue_log (tenant_id, member_id, created_at DESC);
CREATE INDEX ON queue_log (tenant_id, broadcast_id) WHERE broadcast_id IS NOT NULL;
CREATE TABLE queue (tenant_id bigint NOT NULL, id uuid NOT NULL, channel text NOT NULL,
                    next_attempt_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, id));
CREATE INDEX ON queue (tenant_id, channel, next_attempt_at);
"""

_INSERT = """
INSERT INTO {log} (tenant_id, member_id, trigger, channel, locale, body, timezone, next_attempt_at,
                   created_at, broadcast_id, dedup_key)
SELECT 1, m, 'broadcast', 'sms', 'en', %(body)s, 'UTC', now(), now(), %(b)s::uuid, 'b:' || %(b)s || ':' || m
  FROM unnest(%(members)s::uuid[]) AS m
"""
EXPAND_TODAY = _INSERT.format(log="today")
EXPAND_QUEUE = (
    "WITH added AS ("
    + _INSERT.format(log="queue_log")
    + " RETURNING tenant_id, id, channel, next_attempt_at)"
    " INSERT INTO queue SELECT * FROM added"
)
CLAIM_TODAY = """
SELECT g.id, m.phone FROM today g JOIN members m ON m.tenant_id = g.tenant_id AND m.id = g.member_id
 WHERE g.tenant_id = 1 AND g.channel = 'sms' AND g.status = 'queued' AND g.next_attempt_at <= now()
 ORDER BY g.next_attempt_at LIMIT %s FOR UPDATE OF g SKIP LOCKED
"""
CLAIM_QUEUE = """
SELECT q.id, m.phone FROM queue q
  JOIN queue_log g ON g.tenant_id = q.tenant_id AND g.id = q.id
  JOIN members m ON m.tenant_id = g.tenant_id AND m.id = g.member_id
 WHERE q.tenant_id = 1 AND q.channel = 'sms' AND q.next_attempt_at <= now()
 ORDER BY q.next_attempt_at LIMIT %s FOR UPDATE OF q SKIP LOCKED
"""
MARK_SENT = """
UPDATE {log} g SET status = 'sent', attempts = g.attempts + 1, sent_at = now(), recipient = u.phone
  FROM unnest(%s::uuid[], %s::text[]) AS u(id, phone) WHERE g.tenant_id = 1 AND g.id = u.id
"""


def backend_cpu(conn: psycopg.Connection[tuple[object, ...]]) -> float:
    """Seconds of CPU the connection's backend has used (user and system)."""
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    with open(f"/proc/{row[0]}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def send_batch(conn: psycopg.Connection[tuple[object, ...]], layout: str) -> int:
    """Claims up to ``BATCH`` due messages and marks them sent, in one transaction; how many."""
    log = "today" if layout == "today" else "queue_log"
    with conn.transaction():
        rows = conn.execute(CLAIM_TODAY if layout == "today" else CLAIM_QUEUE, (BATCH,)).fetchall()
        if rows:
            ids, phones = [r[0] for r in rows], [r[1] for r in rows]
            conn.execute(sql.SQL(MARK_SENT).format(log=sql.Identifier(log)), (ids, phones))
            if layout == "queue":
                conn.execute("DELETE FROM queue WHERE tenant_id = 1 AND id = ANY(%s)", (ids,))
    return len(rows)


def run(url: str, layout: str, members: list[str]) -> dict[str, float]:
    log = "today" if layout == "today" else "queue_log"
    broadcast = str(uuid.uuid4())
    with psycopg.connect(url, autocommit=True) as conn:
        before = backend_cpu(conn)
        for start in range(0, len(members), PAGE):
            page = {"body": BODY, "b": broadcast, "members": members[start : start + PAGE]}
            with conn.transaction():
                conn.execute(EXPAND_TODAY if layout == "today" else EXPAND_QUEUE, page)
        expanded = backend_cpu(conn)
        sent = 0
        while claimed := send_batch(conn, layout):
            sent += claimed
        done = backend_cpu(conn)
        assert sent == len(members), (sent, len(members))
        conn.execute(
            sql.SQL("TRUNCATE {}").format(sql.Identifier(log))
            + sql.SQL(", queue" if layout == "queue" else "")
        )
    n = len(members)
    return {"expand_us": 1e6 * (expanded - before) / n, "send_us": 1e6 * (done - expanded) / n}


def growth(url: str, layout: str, members: list[str]) -> list[float]:
    """Backend CPU a message (µs) for each tenth of a broadcast sent with no vacuum in between."""
    log = "today" if layout == "today" else "queue_log"
    broadcast = str(uuid.uuid4())
    tenth = len(members) // 10
    costs: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for table in (log, "queue"):
            conn.execute(
                sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(sql.Identifier(table))
            )
        expanded = sent = 0
        started = backend_cpu(conn)
        while True:
            while expanded < len(members) and expanded - sent < 3 * PAGE:
                page = {"body": BODY, "b": broadcast, "members": members[expanded : expanded + PAGE]}
                conn.execute(EXPAND_TODAY if layout == "today" else EXPAND_QUEUE, page)
                expanded += PAGE
                if expanded == PAGE:  # statistics once, as the keeper or autovacuum would take them
                    conn.execute(sql.SQL("ANALYZE {}, queue").format(sql.Identifier(log)))
            claimed = send_batch(conn, layout)
            if not claimed:
                break
            sent += claimed
            if sent >= (len(costs) + 1) * tenth:
                now = backend_cpu(conn)
                costs.append(1e6 * (now - started) / tenth)
                started = now
        conn.execute(sql.SQL("TRUNCATE {}, queue").format(sql.Identifier(log)))
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=2, help="interleaved runs of each layout")
    parser.add_argument("--growth", action="store_true", help="the cost of each tenth of one long send")
    args = parser.parse_args()
    server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("PATRON_TEST_DATABASE_URL")
    if not server:
        sys.exit("set BENCH_DATABASE_URL to a PostgreSQL server on this machine")
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(SCRATCH)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SCRATCH)))
    url = with_database(server, SCRATCH)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SCHEMA.encode())
            conn.execute(
                "INSERT INTO members SELECT 1, gen_random_uuid(), '+1555' || lpad(i::text, 7, '0')"
                " FROM generate_series(1, %s) AS i",
                (args.messages,),
            )
            conn.execute("ANALYZE members")
            members = [str(r[0]) for r in conn.execute("SELECT id FROM members ORDER BY id").fetchall()]
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        if args.growth:
            print(
                f"one broadcast of {args.messages} messages, no vacuum, {started}, load {os.getloadavg()[0]:.2f}"
            )
            print("| layout | backend CPU a message, expansion included, by tenth of the send (µs) |")
            print("| --- | --- |")
            for _ in range(args.runs):
                for layout in ("today", "queue"):
                    tenths = " ".join(f"{cost:.0f}" for cost in growth(url, layout, members))
                    print(f"| {layout} | {tenths} |", flush=True)
            return
        print(
            f"{args.messages} messages a run, {started}, load {os.getloadavg()[0]:.2f}; backend CPU a message:"
        )
        print("| layout | insert (µs) | claim and mark sent (µs) | together (µs) |")
        print("| --- | ---: | ---: | ---: |")
        for _ in range(args.runs):
            for layout in ("today", "queue"):
                cost = run(url, layout, members)
                together = cost["expand_us"] + cost["send_us"]
                print(f"| {layout} | {cost['expand_us']:.1f} | {cost['send_us']:.1f} | {together:.1f} |")
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(SCRATCH)))


if __name__ == "__main__":
    main()
