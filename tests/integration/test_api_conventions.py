"""Contract 2: auth, roles, the error shape everywhere, OpenAPI."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import orjson
import psycopg
from starlette.requests import Request

from tests.integration.conftest import Tenant


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


async def test_no_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/program")
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"  # RFC 7235


async def test_unknown_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/program", headers={"Authorization": "Bearer ptr_nope"})
    assert_error(response, 401, "invalid_api_key")
    assert response.headers["www-authenticate"] == "Bearer"
    with_body = await client.post(
        "/v1/receipts", json={"bad": 1}, headers={"Authorization": "Bearer ptr_nope"}
    )
    assert with_body.status_code == 401 and with_body.headers["www-authenticate"] == "Bearer"


async def test_pos_key_is_403_outside_checkout_and_members(tenant: Tenant) -> None:
    made = await tenant.call("POST", "/v1/api-keys", {"role": "pos", "name": "till 1"})
    assert made.status_code == 201
    pos = made.json()["api_key"]
    assert_error(await tenant.call("GET", "/v1/program", key=pos), 403, "forbidden")
    assert_error(await tenant.call("PUT", "/v1/stores/S1", {"name": "x"}, key=pos), 403)
    assert_error(await tenant.call("POST", "/v1/api-keys", {"role": "admin"}, key=pos), 403)
    created = await tenant.call("POST", "/v1/members", {"phone": "+79001112233"}, key=pos)
    assert created.status_code == 201
    member_id = created.json()["id"]
    assert (await tenant.call("GET", f"/v1/members/{member_id}/balance", key=pos)).status_code == 200
    adjustment = {"key": "k", "points": 5, "reason": "r"}
    assert_error(await tenant.call("POST", f"/v1/members/{member_id}/adjustments", adjustment, key=pos), 403)


async def test_a_pos_key_on_an_admin_route_is_403_whatever_the_body(tenant: Tenant) -> None:
    """The role was judged after the JSON was parsed: a malformed body answered 400."""
    pos = (await tenant.call("POST", "/v1/api-keys", {"role": "pos", "name": "till"})).json()["api_key"]
    headers = {"Authorization": f"Bearer {pos}", "Content-Type": "application/json"}
    for body in (b"{bad", b"", b'{"name": "a\\u0000"}', b'{"name": 5}', b'{"name": "x"}'):
        answer = await tenant.client.put("/v1/stores/S1", content=body, headers=headers)
        assert_error(answer, 403, "forbidden")
    # a route any key may use still judges the body
    answer = await tenant.client.post("/v1/receipts", content=b"{bad", headers=headers)
    assert_error(answer, 400, "malformed_json")


async def test_a_405_allows_every_method_of_the_path(tenant: Tenant) -> None:
    """RFC 9110: Allow lists the resource's methods; it listed those of the first route only."""
    cases = {
        ("DELETE", "/v1/members/00000000-0000-0000-0000-000000000000"): "GET, HEAD, PATCH",
        ("DELETE", "/v1/program"): "GET, HEAD, PATCH, PUT",
        ("PUT", "/v1/members"): "GET, HEAD, POST",
        ("PUT", "/v1/receipts"): "GET, HEAD, POST",
        ("PUT", "/v1/campaigns"): "GET, HEAD, POST",
        ("POST", "/v1/api-keys/x"): "DELETE",
    }
    for (method, path), allowed in cases.items():
        answer = await tenant.call(method, path)
        assert_error(answer, 405, "method_not_allowed")
        assert answer.headers["allow"] == allowed, (method, path)


async def test_unknown_route_and_method_have_the_error_shape(tenant: Tenant) -> None:
    assert_error(await tenant.call("GET", "/v1/nothing-here"), 404, "not_found")
    assert_error(await tenant.call("DELETE", "/v1/program"), 405, "method_not_allowed")


async def test_malformed_json_is_400(tenant: Tenant) -> None:
    response = await tenant.client.post(
        "/v1/members", content=b'{"phone": ', headers={**tenant.auth, "Content-Type": "application/json"}
    )
    assert_error(response, 400, "malformed_json")
    empty = await tenant.client.post(
        "/v1/members", content=b"", headers={**tenant.auth, "Content-Type": "application/json"}
    )
    assert_error(empty, 400, "malformed_json")


async def test_the_key_is_asked_for_before_the_body_is_judged(client: httpx.AsyncClient) -> None:
    json = {"Content-Type": "application/json"}
    assert_error(await client.post("/v1/members", content=b"{bad", headers=json), 401, "unauthorized")
    assert_error(await client.post("/v1/members", json={"phone": 5}), 401, "unauthorized")
    unknown = {**json, "Authorization": "Bearer ptr_nope"}
    assert_error(await client.post("/v1/receipts", content=b"{}", headers=unknown), 401, "invalid_api_key")


async def test_validation_error_names_the_field(tenant: Tenant) -> None:
    error = assert_error(
        await tenant.call("POST", "/v1/members", {"phone": 79001234567}), 422, "invalid_input"
    )
    assert error["field"] == "phone"
    error = assert_error(await tenant.call("POST", "/v1/members", {"phone": "+79001234567", "x": 1}), 422)
    assert error["field"] == "x"


async def test_keys_revoke_and_isolation(tenant: Tenant, other_tenant: Tenant) -> None:
    made = (await tenant.call("POST", "/v1/api-keys", {"role": "admin", "name": "ops"})).json()
    assert made["api_key"].startswith("ptr_")
    assert (await tenant.call("GET", "/v1/program", key=made["api_key"])).status_code == 200
    listed = (await tenant.call("GET", "/v1/api-keys")).json()["items"]
    assert made["id"] in {k["id"] for k in listed}
    assert all("api_key" not in k and "key_hash" not in k for k in listed)
    assert_error(await other_tenant.call("DELETE", f"/v1/api-keys/{made['id']}"), 404)
    assert_error(await tenant.call("DELETE", "/v1/api-keys/not-a-uuid"), 404)
    assert (await tenant.call("DELETE", f"/v1/api-keys/{made['id']}")).status_code == 204
    assert_error(await tenant.call("GET", "/v1/program", key=made["api_key"]), 401)
    revoked_at = {
        k["id"]: k["revoked_at"] for k in (await tenant.call("GET", "/v1/api-keys")).json()["items"]
    }
    assert (await tenant.call("DELETE", f"/v1/api-keys/{made['id']}")).status_code == 204  # a retry
    again = {k["id"]: k["revoked_at"] for k in (await tenant.call("GET", "/v1/api-keys")).json()["items"]}
    assert again[made["id"]] == revoked_at[made["id"]] is not None  # revoked once, when first asked
    assert_error(await tenant.call("GET", "/v1/program", key=made["api_key"]), 401)
    assert_error(await tenant.call("POST", "/v1/api-keys", {"role": "root"}), 422)


async def test_keys_are_stored_hashed(tenant: Tenant, db: object) -> None:
    from patron.db.pool import Database

    assert isinstance(db, Database)
    made = (await tenant.call("POST", "/v1/api-keys", {"role": "pos"})).json()
    async with db.read() as conn:
        cur = await conn.execute("SELECT key_hash, prefix FROM api_keys WHERE id = %s", (made["id"],))
        row = await cur.fetchone()
    assert row is not None
    assert made["api_key"].encode() not in bytes(row["key_hash"])
    assert len(bytes(row["key_hash"])) == 32


async def test_openapi_describes_the_api(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"]["description"]
    for path in ("/v1/members", "/v1/members/{member_id}/adjustments", "/v1/program", "/v1/api-keys"):
        assert path in spec["paths"]
    post = spec["paths"]["/v1/members"]["post"]
    assert post["summary"]
    schema = spec["components"]["schemas"]["MemberIn"]
    assert schema["examples"]
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert post["security"] == [{"apiKey": []}] and "security" not in spec["paths"]["/health"]["get"]
    assert "404" in spec["paths"]["/v1/messages"]["get"]["responses"]
    assert "409" in spec["paths"]["/v1/broadcasts/{broadcast_id}/cancel"]["post"]["responses"]


async def test_openapi_lists_the_503_of_ready(client: httpx.AsyncClient) -> None:
    """The answer a load balancer acts on was missing: only the 200 was listed."""
    spec = (await client.get("/openapi.json")).json()
    unavailable = spec["paths"]["/ready"]["get"]["responses"]["503"]
    assert "`database_unavailable`" in unavailable["description"]
    reference = unavailable["content"]["application/json"]["schema"]["$ref"]
    assert reference == "#/components/schemas/Error" and "Error" in spec["components"]["schemas"]


async def test_head_answers_as_get_without_a_body(tenant: Tenant) -> None:
    for path in ("/health", "/v1/program"):
        got = await tenant.client.get(path, headers=tenant.auth)
        head = await tenant.client.head(path, headers=tenant.auth)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))


async def test_a_trailing_slash_is_the_same_path(tenant: Tenant) -> None:
    created = await tenant.call("POST", "/v1/members/", {"phone": "+79001230777"})
    assert created.status_code == 201, created.text  # no redirect: a POST answered where it was sent
    member = created.json()["id"]
    assert (await tenant.call("GET", f"/v1/members/{member}/")).json()["id"] == member
    assert_error(await tenant.call("GET", "/v1/nothing-here/"), 404)
    # a path a route's parameter would end was redirected to itself without end
    for path in ("/v1/products", "/v1/products/"):
        assert_error(await tenant.call("GET", path), 404)
    home = await tenant.client.get("/admin")
    assert (home.status_code, home.headers["location"]) == (307, "/admin/")


async def test_a_database_restart_costs_one_retry_not_a_500(app: Any, tenant: Tenant) -> None:
    db = app.state.db
    pids = []
    async with contextlib.AsyncExitStack() as held:  # every connection the pool has, idle after
        for _ in range(max(4, db.pool.get_stats()["pool_size"])):
            pids.append((await held.enter_async_context(db.read())).info.backend_pid)
    async with await psycopg.AsyncConnection.connect(db.url, autocommit=True) as admin:
        for pid in pids:  # as a restart or a failover does to them
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    await asyncio.sleep(0.2)
    statuses = []
    for _ in range(6):
        response = await tenant.call("GET", "/v1/program")
        statuses.append(response.status_code)
        if response.status_code == 503:
            assert response.json()["error"]["code"] == "database_unavailable"
            assert "send the request again" in response.json()["error"]["message"]
            assert response.headers["retry-after"] == "1"
    # The first request meets a dead connection; the pool then tests the others before the next.
    assert statuses == [503, 200, 200, 200, 200, 200], statuses
    assert (await tenant.client.get("/ready")).json() == {"status": "ready"}


async def test_a_deadlock_is_a_409_retry_not_a_lost_database(app: Any) -> None:
    """PostgreSQL rolled the request back and the connection is sound: it was answered as a 503
    "connection lost", and set the pool testing every connection."""
    exc = psycopg.errors.DeadlockDetected("deadlock detected")
    handler = next(app.exception_handlers[k] for k in type(exc).__mro__ if k in app.exception_handlers)
    response = await handler(None, exc)  # the handler Starlette picks: the most specific class's
    assert response.status_code == 409
    assert orjson.loads(response.body)["error"]["code"] == "retry"


async def test_a_field_named_body_is_named(tenant: Tenant) -> None:
    """A template's own field is called body: its error named no field at all."""
    error = assert_error(
        await tenant.call("PUT", "/v1/templates/birthday", {"channel": "sms", "body": ""}), 422
    )
    assert error["field"] == "body" and str(error["message"]).startswith("body: ")


async def test_a_full_disk_is_a_503_database_full_not_a_lost_connection(app: Any) -> None:
    """PostgreSQL answered "No space left on device" and kept the connection: it was a 503 "the
    connection to the database was lost; send the request again", and set the pools testing
    every connection."""
    checking = app.state.db._checking
    request = Request({"type": "http", "app": app, "method": "POST", "path": "/v1/receipts", "headers": []})
    for exc, said in (
        (
            psycopg.errors.DiskFull('could not extend file "base/16384/16521_fsm": No space left on device'),
            "disk is full",
        ),
        (psycopg.errors.OutOfMemory("out of memory"), "out of resources (out of memory)"),
    ):
        handler = next(app.exception_handlers[k] for k in type(exc).__mro__ if k in app.exception_handlers)
        response = await handler(request, exc)
        assert response.status_code == 503
        error = orjson.loads(response.body)["error"]
        assert error["code"] == "database_full" and said in error["message"], error
        assert "lost" not in error["message"] and response.headers["retry-after"] == "30"
    assert app.state.db._checking is checking  # no pool check was started


async def test_every_answer_tells_its_time_in_patron(tenant: Tenant) -> None:
    """``Server-Timing: app;dur=<ms>``, errors' answers too: never more than the whole round trip
    the client saw."""
    for method, path in (("GET", "/v1/program"), ("GET", "/v1/nothing-here"), ("POST", "/v1/members")):
        started = asyncio.get_running_loop().time()
        answer = await tenant.call(method, path, {"phone": "+79001230778"} if method == "POST" else None)
        round_trip_ms = (asyncio.get_running_loop().time() - started) * 1000
        name, _, duration = answer.headers["server-timing"].partition(";dur=")
        assert name == "app", answer.headers["server-timing"]
        assert 0 < float(duration) <= round_trip_ms, (path, duration, round_trip_ms)
