"""Configuration, read from the environment in this one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    data_dir: Path
    pool_min: int = 2
    pool_max: int = 10

    @classmethod
    def from_env(cls) -> Settings:
        """The settings from the environment; ConfigError names a variable that cannot be used."""
        data_dir = os.environ.get("PATRON_DATA_DIR") or _default_data_dir()
        url = os.environ.get("PATRON_DATABASE_URL") or None
        if url is not None:
            _check_url(url)
        pool_min = _count("PATRON_POOL_MIN", 2, least=0)
        pool_max = _count("PATRON_POOL_MAX", 10, least=1)
        if pool_min > pool_max:
            raise ConfigError(f"PATRON_POOL_MIN ({pool_min}) is above PATRON_POOL_MAX ({pool_max})")
        return cls(
            database_url=url, data_dir=Path(data_dir).expanduser(), pool_min=pool_min, pool_max=pool_max
        )


class ConfigError(ValueError):
    """An environment variable Patron cannot use."""


def _default_data_dir() -> str:
    """The per-user data folder, or ``~/.patron`` where that path has a space (macOS's
    "Application Support"): the embedded PostgreSQL cannot run in such a folder."""
    folder = platformdirs.user_data_dir("patron")
    return folder if " " not in folder else str(Path.home() / ".patron")


def _check_url(url: str) -> None:
    """A URL libpq and SQLAlchemy will both take, refused here in one line rather than by a
    traceback from whichever reads it first."""
    from urllib.parse import urlsplit

    from psycopg.conninfo import conninfo_to_dict

    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("PATRON_DATABASE_URL: a postgresql:// URL (PostgreSQL 15 or newer)")
    try:
        urlsplit(url).port  # noqa: B018 - reading it checks it
        conninfo_to_dict(url)
    except Exception as exc:  # ValueError from the port, psycopg's ProgrammingError from the rest
        raise ConfigError(f"PATRON_DATABASE_URL: {str(exc).splitlines()[0]}") from exc


def _count(name: str, default: int, *, least: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isascii() or not raw.isdigit() or not least <= int(raw) <= 1000:
        raise ConfigError(f"{name}: a whole number from {least} to 1000, not {raw!r}")
    return int(raw)
