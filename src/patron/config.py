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
        data_dir = os.environ.get("PATRON_DATA_DIR") or platformdirs.user_data_dir("patron")
        url = os.environ.get("PATRON_DATABASE_URL") or None
        if url is not None and not url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("PATRON_DATABASE_URL: a postgresql:// URL (PostgreSQL 15 or newer)")
        return cls(
            database_url=url,
            data_dir=Path(data_dir).expanduser(),
            pool_min=_count("PATRON_POOL_MIN", 2, least=0),
            pool_max=_count("PATRON_POOL_MAX", 10, least=1),
        )


class ConfigError(ValueError):
    """An environment variable Patron cannot use."""


def _count(name: str, default: int, *, least: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isascii() or not raw.isdigit() or not least <= int(raw) <= 1000:
        raise ConfigError(f"{name}: a whole number from {least} to 1000, not {raw!r}")
    return int(raw)
