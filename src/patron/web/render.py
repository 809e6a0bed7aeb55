"""Rendering pages: one Jinja2 environment (autoescaped), the navigation, and the common context."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import orjson
from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.responses import HTMLResponse, Response

from patron import __version__
from patron.web.auth import Admin
from patron.web.fmt import Formatter

HERE: Final = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True

# What each kind of ledger entry in a member's history means, shown beside it: the kinds a
# return writes besides `refund` and `reverse` read as bare words to a support agent.
ENTRY_KINDS: Final = {
    "earn": "points earned by a receipt",
    "campaign": "points a campaign gave on a receipt",
    "spend": "points spent on a receipt",
    "refund": "spent points given back by a return",
    "reverse": "earned points taken back by a return",
    "debt_paid": "points that paid the member's debt",
    "restore": "points moved back into the lot a return had taken them from (the balance is unchanged)",
    "adjustment": "a manual credit or debit",
    "birthday": "a birthday gift",
    "import": "points brought over by an import",
}
templates.env.globals["entry_kinds"] = ENTRY_KINDS

# (path under the app, label, admin only)
NAV: Final = (
    ("/", "Dashboard", False),
    ("/members", "Members", False),
    ("/campaigns", "Campaigns", False),
    ("/communications", "Communications", False),
    ("/webhooks", "Webhooks", False),
    ("/program", "Program", False),
    ("/stores", "Stores", False),
    ("/api-keys", "API keys", True),
    ("/users", "Users", True),
)


def _json(value: Any) -> Markup:
    """JSON safe to place inside a <script type="application/json"> element."""
    text = orjson.dumps(value, default=str).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


templates.env.filters["json"] = _json


def base(request: Request) -> str:
    """Where the app is mounted ("/admin"), so that links work behind any prefix."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def page(
    request: Request,
    name: str,
    admin: Admin | None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    root = base(request)
    here = request.url.path[len(root) :] or "/"
    values: dict[str, Any] = {
        "base": root,
        "here": here,
        "admin": admin,
        "nav": [item for item in NAV if admin is None or admin.is_admin or not item[2]],
        "version": __version__,
        "htmx": request.headers.get("hx-request") == "true",
        **context,
    }
    if admin is not None:
        values.setdefault("fmt", Formatter(admin.program))
        values["csrf_token"] = admin.csrf_token
    return templates.TemplateResponse(request, name, values, status_code=status_code, headers=headers)


def redirect(request: Request, path: str) -> Response:
    """See other: after a form, back to a page (htmx follows HX-Redirect instead)."""
    target = base(request) + path
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": target})
    return Response(status_code=303, headers={"Location": target})
