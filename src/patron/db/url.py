"""Which database a process talks to: PATRON_DATABASE_URL, else the embedded server."""

from __future__ import annotations

from patron.config import Settings


def resolve(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    from patron.db import embedded

    return embedded.start(settings.data_dir)


def sqlalchemy_url(url: str) -> str:
    """The same URL for SQLAlchemy (Alembic), using the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def with_database(url: str, name: str) -> str:
    """The same server's URL, naming another database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))
