"""The SMS provider's HTTP client against real local servers that answer byte for byte what each
test scripts: keep-alive and its ends, answers of every framing, broken and slow answers, TLS."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import trustme

from patron.backoffice import provider_client
from patron.backoffice.provider_client import Answer, BrokenAnswer, ProviderClient

Answerer = Callable[[int, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Request:
    connection: int
    head: list[str]
    body: bytes

    def header(self, name: str) -> str | None:
        for line in self.head[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


@dataclass
class ScriptedServer:
    """Reads each request whole, records it, and lets ``answer`` write what the test wants."""

    answer: Answerer
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    closed_by_client: int = 0
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.closed_by_client += 1
                    return
                lines = head.decode().split("\r\n")[:-2]
                request = Request(number, lines, b"")
                request.body = await reader.readexactly(int(request.header("content-length") or 0))
                self.requests.append(request)
                await self.answer(number, reader, writer)
                if writer.is_closing():
                    return
        except ConnectionError:
            self.closed_by_client += 1
        finally:
            writer.close()


async def answering(
    answer: Answerer, tls: ssl.SSLContext | None = None
) -> tuple[ScriptedServer, asyncio.Server]:
    scripted = ScriptedServer(answer)
    server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0, ssl=tls)
    scripted.port = server.sockets[0].getsockname()[1]
    return scripted, server


def always(data: bytes) -> Answerer:
    async def answer(connection: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()

    return answer


OK = b'HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{"accepted":1}\n'


async def statuses(client: ProviderClient, port: int, count: int, pause: float = 0.0) -> list[int]:
    """The statuses of ``count`` posts to the local server, one after another, ``pause`` s apart."""
    found = []
    for number in range(count):
        if number and pause:
            await asyncio.sleep(pause)
        found.append((await client.post(f"http://127.0.0.1:{port}/", {}, b"{}", 5)).status)
    return found


@pytest.fixture
async def client() -> ProviderClient:
    client = ProviderClient()
    yield client  # type: ignore[misc]
    await client.close()


async def test_a_post_carries_the_body_and_headers_and_later_ones_reuse_its_connection(
    client: ProviderClient,
) -> None:
    scripted, server = await answering(always(OK))
    async with server:
        url = f"http://127.0.0.1:{scripted.port}/send?account=7"
        answers = [
            await client.post(url, {"Authorization": "Bearer t"}, b'{"id":"%d"}' % n, 5) for n in range(3)
        ]
    assert answers == [Answer(200, None)] * 3
    assert scripted.connections == 1
    first = scripted.requests[0]
    assert first.head[0] == "POST /send?account=7 HTTP/1.1"
    assert first.header("host") == f"127.0.0.1:{scripted.port}"
    assert first.header("content-type") == "application/json"
    assert first.header("authorization") == "Bearer t"
    assert [r.body for r in scripted.requests] == [b'{"id":"0"}', b'{"id":"1"}', b'{"id":"2"}']
    assert [r.header("content-length") for r in scripted.requests] == ["10"] * 3


async def test_the_status_and_retry_after_are_what_counts(client: ProviderClient) -> None:
    scripted, server = await answering(
        always(b"HTTP/1.1 429 Too Many\r\nRetry-After:  7 \r\nContent-Length: 0\r\n\r\n")
    )
    async with server:
        answer = await client.post(f"http://127.0.0.1:{scripted.port}/", {}, b"{}", 5)
    assert answer == Answer(429, "7")


@pytest.mark.parametrize(
    ("answer", "status", "connections"),
    [
        # chunked: read to its last chunk, and the connection kept
        (
            b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            202,
            1,
        ),
        # the provider ends the connection: not reused
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 200, 3),
        # an interim answer before the final one: passed over
        (
            b"HTTP/1.1 100 Continue\r\nX-Note: wait\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            201,
            1,
        ),
    ],
    ids=["chunked", "connection-close", "interim"],
)
async def test_an_answers_framing_decides_whether_its_connection_is_used_again(
    client: ProviderClient, answer: bytes, status: int, connections: int
) -> None:
    scripted, server = await answering(always(answer))
    async with server:
        assert await statuses(client, scripted.port, 3) == [status] * 3
    assert scripted.connections == connections


async def test_an_idle_connection_the_provider_closed_is_not_used_again(client: ProviderClient) -> None:
    async def answer_then_hang_up(
        connection: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(OK)  # says nothing of closing, then closes while idle, as servers do
        await writer.drain()
        writer.close()

    scripted, server = await answering(answer_then_hang_up)
    async with server:
        assert await statuses(client, scripted.port, 2, pause=0.05) == [200, 200]
    assert scripted.connections == 2


async def test_a_connection_idle_too_long_is_dropped(
    client: ProviderClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provider_client, "IDLE_SECONDS", 0.0)
    scripted, server = await answering(always(OK))
    async with server:
        url = f"http://127.0.0.1:{scripted.port}/"
        for _ in range(2):
            assert (await client.post(url, {}, b"{}", 5)).status == 200
        await asyncio.sleep(0.05)
    assert scripted.connections == 2 and scripted.closed_by_client == 1


async def test_an_answer_ending_with_its_connection_counts_by_its_status(client: ProviderClient) -> None:
    async def unframed(connection: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 200 OK\r\n\r\naccepted")  # no length: the body ends with the connection
        await writer.drain()
        writer.close()

    scripted, server = await answering(unframed)
    async with server:
        assert await statuses(client, scripted.port, 2) == [200, 200]
    assert scripted.connections == 2


async def test_a_long_answer_is_not_read_whole(client: ProviderClient) -> None:
    async def endless(connection: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
        for _ in range(200):  # 12.8 MB if read on: the client leaves after 64 KiB
            writer.write(b"x" * 65536)
            await writer.drain()

    scripted, server = await answering(endless)
    async with server:
        assert await statuses(client, scripted.port, 2, pause=0.1) == [200, 200]
    assert scripted.connections == 2 and scripted.closed_by_client >= 1


async def test_a_body_that_breaks_the_framing_costs_only_its_connection(client: ProviderClient) -> None:
    async def bad_chunk(connection: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
        await writer.drain()

    scripted, server = await answering(bad_chunk)
    async with server:
        assert await statuses(client, scripted.port, 2) == [200, 200]
        await asyncio.sleep(0.05)
    assert scripted.connections == 2 and scripted.closed_by_client == 2


async def test_a_slow_body_does_not_hold_the_answer_and_costs_only_its_connection(
    client: ProviderClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provider_client, "ANSWER_SECONDS", 0.2)

    async def trickle(connection: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(30):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)

    scripted, server = await answering(trickle)
    async with server:
        url = f"http://127.0.0.1:{scripted.port}/"
        loop = asyncio.get_running_loop()
        began = loop.time()
        assert (await client.post(url, {}, b"{}", 5)).status == 200
        assert loop.time() - began < 0.15  # the status was enough
        await asyncio.sleep(0.4)  # past ANSWER_SECONDS: the client has hung up
        assert (await client.post(url, {}, b"{}", 5)).status == 200
    assert scripted.connections == 2 and scripted.closed_by_client >= 1


async def test_no_answer_in_time_is_a_timeout_and_the_connection_is_dropped(client: ProviderClient) -> None:
    async def silent(connection: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # answers nothing, until the client hangs up

    scripted, server = await answering(silent)
    async with server:
        with pytest.raises(TimeoutError):
            await client.post(f"http://127.0.0.1:{scripted.port}/", {}, b"{}", 0.2)
        await asyncio.sleep(0.05)
    assert scripted.connections == 1 and len(scripted.requests) == 1
    assert not client._idle.get(("http", "127.0.0.1", scripted.port))


async def test_what_is_not_an_answer_is_a_broken_answer(client: ProviderClient) -> None:
    scripted, server = await answering(always(b"hello there\r\n\r\n"))
    async with server:
        with pytest.raises(BrokenAnswer, match="not an HTTP answer"):
            await client.post(f"http://127.0.0.1:{scripted.port}/", {}, b"{}", 5)


async def test_a_connection_closed_before_the_answer_is_a_broken_answer(client: ProviderClient) -> None:
    async def hang_up(connection: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    scripted, server = await answering(hang_up)
    async with server:
        with pytest.raises(BrokenAnswer, match="closed the connection"):
            await client.post(f"http://127.0.0.1:{scripted.port}/", {}, b"{}", 5)


async def test_a_refused_connection_is_an_os_error(client: ProviderClient) -> None:
    scripted, server = await answering(always(OK))
    port = scripted.port
    server.close()
    await server.wait_closed()
    with pytest.raises(OSError):
        await client.post(f"http://127.0.0.1:{port}/", {}, b"{}", 5)


async def test_credentials_in_the_url_are_sent_as_basic_authorization(client: ProviderClient) -> None:
    scripted, server = await answering(always(OK))
    async with server:
        await client.post(f"http://sms%20user:p%40ss@127.0.0.1:{scripted.port}/send", {}, b"{}", 5)
    (request,) = scripted.requests
    assert request.header("authorization") == "Basic " + base64.b64encode(b"sms user:p@ss").decode()
    assert request.header("host") == f"127.0.0.1:{scripted.port}"


def test_the_host_header_leaves_out_a_default_port_and_brackets_an_ipv6_address() -> None:
    assert (
        b"\r\nHost: sms.example.com\r\n" in provider_client._request("https://sms.example.com/send", ()).head
    )
    assert (
        b"\r\nHost: sms.example.com:8443\r\n"
        in provider_client._request("https://sms.example.com:8443/", ()).head
    )
    assert b"\r\nHost: [::1]:8080\r\n" in provider_client._request("http://[::1]:8080/", ()).head
    assert (
        b"\r\nHost: xn--80akhbyknj4f.example\r\n"
        in provider_client._request("http://испытание.example/", ()).head
    )


async def test_what_would_break_the_request_is_refused_before_connecting(client: ProviderClient) -> None:
    scripted, server = await answering(always(OK))
    async with server:
        url = f"http://127.0.0.1:{scripted.port}/"
        with pytest.raises(ValueError, match="would break the request"):
            await client.post(url, {"X-Account": "7\r\nX-Injected: 1"}, b"{}", 5)
        with pytest.raises(ValueError, match="not an http"):
            await client.post(f"ftp://127.0.0.1:{scripted.port}/", {}, b"{}", 5)
    assert scripted.connections == 0


async def test_https_is_verified_against_the_trusted_authorities() -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    scripted, server = await answering(always(OK), tls=server_context)
    url = f"https://127.0.0.1:{scripted.port}/send"
    async with server:
        client = ProviderClient(ssl_context=trusting)
        try:
            assert [(await client.post(url, {}, b"{}", 5)).status for _ in range(2)] == [200, 200]
        finally:
            await client.close()
        stranger = ProviderClient()  # the system's authorities: they never signed this certificate
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                await stranger.post(url, {}, b"{}", 5)
        finally:
            await stranger.close()
    # one kept-alive connection carried both posts; the stranger's handshake failed before a request
    assert scripted.connections == 1 and len(scripted.requests) == 2


async def test_closing_the_client_closes_its_kept_connections() -> None:
    scripted, server = await answering(always(OK))
    async with server:
        client = ProviderClient()
        await client.post(f"http://127.0.0.1:{scripted.port}/", {}, b"{}", 5)
        await client.close()
        await asyncio.sleep(0.05)
        assert scripted.closed_by_client == 1
