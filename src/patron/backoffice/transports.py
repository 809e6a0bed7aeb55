"""How a message leaves Patron: SMS through the generic HTTP provider, email through SMTP.

Errors are turned into an ``Attempt`` here, at the boundary; nothing above this module sees a
connection's or smtplib's exceptions."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import aiohttp
import orjson

from patron.backoffice import rules
from patron.backoffice.model import sender_address
from patron.backoffice.provider_client import ANSWER_BYTES, ANSWER_SECONDS, ProviderClient


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one try to send gave: accepted, or why not (and whether trying again can help)."""

    ok: bool
    status: int | None = None
    retry_after: float | None = None
    error: str | None = None
    permanent: bool = False


def describe_failure(exc: BaseException, timeout: float | None) -> str:
    """A failed request in words for the log ("TimeoutError: " said nothing)."""
    if isinstance(exc, TimeoutError) and timeout is not None:
        return f"no answer within {timeout:g} s"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


async def drain_answer(response: aiohttp.ClientResponse) -> None:
    """Reads a webhook receiver's answer so that its connection can serve the next request, but
    no more than ``ANSWER_BYTES`` nor for longer than ``ANSWER_SECONDS``: a receiver answering
    gigabytes would otherwise be read into memory. The status decides the outcome: a body that
    comes slowly, or breaks off, changes nothing (a 2xx trickling its body was taken for no
    answer, and sent again and again). A body left unread closes its connection."""
    read = 0
    with contextlib.suppress(TimeoutError, aiohttp.ClientError, OSError):
        async with asyncio.timeout(ANSWER_SECONDS):
            async for chunk in response.content.iter_chunked(16 * 1024):
                read += len(chunk)
                if read > ANSWER_BYTES:
                    return


class SmsTransport:
    """POST url with ``{"id", "to", "text"}``. 2xx: accepted. 429: slow down (``Retry-After``).
    Anything else, a timeout or a broken connection: try again later with the same id. A
    redirect is an answer, not an acceptance: it is not followed (following it would send a GET
    without the message and take its 200 for the provider's)."""

    def __init__(self, client: ProviderClient, timeout: float = 10.0) -> None:
        self.client = client
        self.timeout = timeout

    async def send(
        self, settings: dict[str, Any], message_id: str, to: str, text: str, now: datetime
    ) -> Attempt:
        body = orjson.dumps({"id": message_id, "to": to, "text": text})
        try:
            answer = await self.client.post(
                settings["url"], settings.get("headers") or {}, body, self.timeout
            )
        except (TimeoutError, OSError, ValueError) as exc:
            return Attempt(ok=False, error=describe_failure(exc, self.timeout))
        if 200 <= answer.status < 300:
            return Attempt(ok=True, status=answer.status)
        retry_after = None
        if answer.status in (429, 503):
            retry_after = rules.retry_after_seconds(answer.retry_after, now)
        return Attempt(ok=False, status=answer.status, retry_after=retry_after, error=f"HTTP {answer.status}")


class EmailTransport:
    """SMTP (with STARTTLS and login when configured), one connection per message, in a thread
    so that the event loop never waits on a mail server. The message id is the Message-ID."""

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout

    async def send(
        self, settings: dict[str, Any], message_id: str, to: str, subject: str | None, text: str
    ) -> Attempt:
        return await asyncio.to_thread(self._send, settings, message_id, to, subject, text)

    def _send(
        self, settings: dict[str, Any], message_id: str, to: str, subject: str | None, text: str
    ) -> Attempt:
        message = EmailMessage()
        message["From"] = settings["from"]
        message["To"] = to
        message["Subject"] = subject or ""
        message["Message-ID"] = f"<{message_id}@patron>"
        message.set_content(text)
        try:
            with smtplib.SMTP(settings["host"], int(settings["port"]), timeout=self.timeout) as smtp:
                if settings.get("starttls"):
                    smtp.starttls()
                if settings.get("username"):
                    smtp.login(settings["username"], settings.get("password") or "")
                # the envelope's sender is the address the channel was checked for, not a new parse
                smtp.send_message(message, from_addr=sender_address(settings["from"]) or settings["from"])
            return Attempt(ok=True, status=250)
        except smtplib.SMTPRecipientsRefused as exc:
            # 5xx for good (no such mailbox); 4xx for now (greylisting, a full mailbox): SMTP's rule
            codes = [code for code, _ in exc.recipients.values()]
            permanent = all(500 <= code < 600 for code in codes)
            return Attempt(
                ok=False,
                status=max(codes, default=None),
                error=describe_failure(exc, None),
                permanent=permanent,
            )
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600
            return Attempt(
                ok=False, status=exc.smtp_code, error=describe_failure(exc, None), permanent=permanent
            )
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            return Attempt(ok=False, error=describe_failure(exc, None))
