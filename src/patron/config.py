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
        data_dir = os.environ.get("PATRON_DATA_DIR") or platformdirs.user_data_dir("patron")
        return cls(
            database_url=os.environ.get("PATRON_DATABASE_URL") or None,
            data_dir=Path(data_dir).expanduser(),
            pool_min=int(os.environ.get("PATRON_POOL_MIN", "2")),
            pool_max=int(os.environ.get("PATRON_POOL_MAX", "10")),
        )
