"""Applies the Alembic migrations; run on every start and by ``patron db upgrade``."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy.exc
from alembic import command
from alembic.config import Config

from patron.config import ConfigError
from patron.db.url import sqlalchemy_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """A schema that cannot be brought up to date (a revision stamp Alembic cannot read, a
    migration the database refuses) is an operator's problem, said in one line: it was a traceback,
    and exit 1, which for `patron verify` means a broken ledger."""
    try:
        command.upgrade(alembic_config(url), revision)
    except sqlalchemy.exc.OperationalError:
        raise  # the database cannot be reached: said as such by the caller
    except (AssertionError, sqlalchemy.exc.DBAPIError) as exc:
        said = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"the database's schema could not be brought up to date: {said}") from None


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
