"""Alembic migrations, run programmatically (`leadflow db upgrade`); no alembic.ini needed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import Connection

from leadflow.models import Base

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(database_url: str | None = None) -> Config:
    """Return an Alembic config pointing at the bundled migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("version_path_separator", "os")
    if database_url is not None:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def run_upgrade(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database behind a (sync-facing) connection to `revision`."""
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def run_downgrade(connection: Connection, revision: str = "base") -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


target_metadata = Base.metadata


IncludeObject = Callable[[object, "str | None", str, bool, object], bool]


def include_object_for(dialect: str) -> IncludeObject:
    """An Alembic `include_object` that leaves out the indexes the models declare for another
    database only (PostgreSQL's trigram indexes, when comparing a SQLite schema)."""

    def include(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
        condition = getattr(obj, "_ddl_if", None) if type_ == "index" else None
        only_for = getattr(condition, "dialect", None)
        return only_for is None or only_for == dialect

    return include
