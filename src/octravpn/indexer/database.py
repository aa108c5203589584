"""Opening the indexer's database: SQLite by default, PostgreSQL from a `postgresql://` URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import DatabaseError as SQLDatabaseError

from octravpn.errors import ConfigError

MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseError(ConfigError):
    pass


class DamagedDatabase(DatabaseError):
    """The database file is not a database any more (a disk fault, a copy cut short)."""


def default_url(data_dir: Path, network: str) -> str:
    return f"sqlite:///{data_dir / 'indexer' / f'{network}.sqlite3'}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: the API reads while the follower writes. NORMAL is durable at each checkpoint in WAL mode,
    # and a lost tail is re-read from the chain anyway.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_engine(url: str) -> Engine:
    """An engine for `url`; a URL naming no supported database is a usage error with the forms that work."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(
            f"database URL {url!r} is not a URL: use sqlite:///PATH or postgresql://USER@HOST/DB"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        # psycopg 3 is the driver we ship; `postgresql://` alone would ask for psycopg2.
        return create_engine(parsed.set(drivername="postgresql+psycopg"), pool_pre_ping=True)
    raise DatabaseError(f"unsupported database {backend!r} in {url!r}: use sqlite:///PATH or postgresql://USER@HOST/DB")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (a no-op when it is there)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLDatabaseError as exc:
        if engine.url.get_backend_name() == "sqlite" and "not a database" in str(exc.orig):
            raise DamagedDatabase(
                f"the indexer database {shown} is damaged ({exc.orig}): `octravpn indexer run --reset` replaces it "
                "and indexes the chain again (everything in it comes from the chain)"
            ) from exc
        raise DatabaseError(f"cannot open the indexer database {shown}: {exc.orig}") from exc


def open_index(url: str, *, reset_damaged: bool = False) -> Engine:
    """The database at `url`, migrated. `reset_damaged`: a damaged SQLite file is replaced by a new one (the
    caller indexes the chain again), instead of refused."""
    engine = open_engine(url)
    try:
        migrate(engine)
    except DamagedDatabase:
        if not reset_damaged:
            raise
        engine.dispose()
        path = Path(str(engine.url.database)).expanduser()
        for damaged in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            damaged.unlink(missing_ok=True)
        engine = open_engine(url)
        migrate(engine)
    return engine
