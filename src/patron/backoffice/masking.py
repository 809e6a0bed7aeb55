"""Secrets hidden from whoever reads a setting back: the API's answers and the admin app.

Pure: what is stored is never changed, only what is shown. Header values and passwords are
replaced whole; a URL keeps everything but its secrets, so that it can still be recognized."""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit, urlunsplit

MASK = "***"

# Query parameters named so, or whose names end so (x_api_key, authToken), hold a credential. A
# name that merely ends so (monkey) is masked too: a value hidden for nothing only costs a look.
_SECRET_NAMES = (
    "key",
    "token",
    "secret",
    "password",
    "sig",
    "signature",
    "auth",
    "api_key",
    "apikey",
    "access_token",
    "pwd",
    "passwd",
    "pass",
)


def _secret_name(name: str) -> bool:
    return unquote_plus(name).strip().lower().endswith(_SECRET_NAMES)


def _masked_parameter(parameter: str) -> str:
    name, equals, value = parameter.partition("=")
    return f"{name}={MASK}" if equals and value and _secret_name(name) else parameter


def masked_url(url: str) -> str:
    """``url`` with the password of its user info (the user too when it comes alone, a key) and the
    values of query parameters whose names look like secrets replaced by ``***``; the rest as written. Providers take an API key either
    way (``https://user:pass@host/``, ``?api_key=...``), and header values were already hidden."""
    parts = urlsplit(url)
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if at and colon and password:
        netloc = f"{user}:{MASK}@{host}"
    elif at and user:  # a key given as the user alone: https://KEY@host/
        netloc = f"{MASK}@{host}"
    query = "&".join(_masked_parameter(parameter) for parameter in parts.query.split("&"))
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing to hide: exactly as stored
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def holds_mask(url: str) -> bool:
    """Whether ``url`` carries ``***`` where ``masked_url`` puts it: a URL copied from an answer
    (or a form) with its secrets hidden, which sent as it is would replace them with ``***``."""
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and MASK in (userinfo, userinfo.partition(":")[2]):
        return True
    return any(parameter.partition("=")[2] == MASK for parameter in parts.query.split("&"))
