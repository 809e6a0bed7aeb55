"""Browser tests: a real ``patron serve`` on the test database, driven by Debian's Chromium
through Playwright (headless). They skip, saying why, only when /usr/bin/chromium is missing on a
developer's machine; under CI (``CI`` set) they always run, and fail if Chromium is missing."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PATRON = Path(sys.executable).parent / "patron"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
PASSWORD = "e2e password 1234"
DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 768, "height": 1024}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Chromium through Playwright against patron serve")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CI"):
        return  # CI always runs them: a missing browser there is a failure, not a skip
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium); CI installs it and always runs these"
    elif importlib.util.find_spec("playwright") is None:
        reason = "the playwright package is missing (pip install -e '.[dev]'); CI always runs these"
    else:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:PORT
    database_url: str

    @property
    def admin(self) -> str:
        return self.base + "/admin"


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``patron serve`` in its own process, on the session's test database."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PATRON_DATA_DIR",)}
    env["PATRON_DATABASE_URL"] = database_url
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(PATRON), "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"patron serve did not start:\n{log.read_text()}")
        time.sleep(0.2)
    yield Server(base, database_url)
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:  # pragma: no cover - it stops on SIGTERM
        process.kill()


@dataclass
class Shop:
    """A tenant with an admin API key and an admin user who signs in to the web app."""

    slug: str
    api_key: str
    email: str
    http: httpx.AsyncClient

    async def call(self, method: str, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.request(method, path, json=json, **kw)


@pytest.fixture
async def shop(server: Server) -> AsyncIterator[Shop]:
    """A fresh tenant (``patron tenants create``) and its admin (``patron users create``)."""
    slug = "e2e" + uuid.uuid4().hex[:10]
    email = f"admin@{slug}.example.com"
    env = {**os.environ, "PATRON_DATABASE_URL": server.database_url, "PATRON_ADMIN_PASSWORD": PASSWORD}
    env.pop("PATRON_DATA_DIR", None)

    def run(*args: str) -> str:
        done = subprocess.run(
            [str(PATRON), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    import json

    made = json.loads(
        await asyncio.to_thread(
            run,
            "tenants",
            "create",
            slug,
            "--currency",
            "RUB",
            "--timezone",
            "Europe/Moscow",
            "--country",
            "RU",
            "--json",
        )
    )
    await asyncio.to_thread(run, "users", "create", email, "--tenant", slug)
    headers = {"Authorization": f"Bearer {made['api_key']}"}
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=30) as http:
        yield Shop(slug, made["api_key"], email, http)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport=DESKTOP)
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    await context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


async def shoot(tab: Any, name: str) -> Path:
    """A full-page screenshot into screenshots/ (see docs/admin.md)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await tab.screenshot(path=str(path), full_page=True)
    return path


async def sign_in(tab: Any, server: Server, shop: Shop) -> None:
    await tab.goto(server.admin + "/")
    assert "/admin/login" in tab.url
    await tab.fill("input[name=email]", shop.email)
    await tab.fill("input[name=password]", PASSWORD)
    await tab.click("button[type=submit]")
    await tab.wait_for_url(server.admin + "/")
