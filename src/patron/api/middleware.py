"""ASGI middleware of the API."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.tenants.cache import PrincipalCache

# Requests that may change what a key's principal carries: keys, program settings, campaigns
# (the API's and the admin web app's forms).
CHANGING = ("/v1/api-keys", "/v1/program", "/v1/campaigns", "/admin")
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ForgetOnChange:
    """After a request that may have changed a tenant's keys, settings or campaigns, and before its
    answer goes out, this process forgets its cached principals: the client's next request sees
    the change even before PostgreSQL's notice of it arrives (other processes wait for the notice)."""

    def __init__(self, app: ASGIApp, principals: PrincipalCache) -> None:
        self.app = app
        self.principals = principals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in READ_ONLY_METHODS
            or not scope["path"].startswith(CHANGING)
        ):
            await self.app(scope, receive, send)
            return

        async def forget_then_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.principals.forget_all()
            await send(message)

        await self.app(scope, receive, forget_then_send)
