"""Migrations build exactly the model the code reads, on SQLite and PostgreSQL; uint256 survives both."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select

from octravpn.indexer import schema
from octravpn.indexer.database import DatabaseError, migrate, open_engine
from octravpn.indexer.reducer import new_operator


def test_the_migrations_build_the_model(engine):
    migrate(engine)  # a second run is a no-op
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), schema.metadata) == []


def test_uint256_is_exact_and_ordered(engine):
    values = [0, 1, 2**63, 10**30, 2**256 - 1]
    with engine.begin() as connection:
        connection.execute(
            insert(schema.operators), [new_operator(f"0x{i:040x}") | {"stake": v} for i, v in enumerate(values)]
        )
        ordered = (
            connection.execute(select(schema.operators.c.stake).order_by(schema.operators.c.stake)).scalars().all()
        )
        above = (
            connection.execute(select(schema.operators.c.stake).where(schema.operators.c.stake > 2**63)).scalars().all()
        )
    assert ordered == values and sorted(above) == [10**30, 2**256 - 1]


@pytest.mark.parametrize(
    "url, reason",
    [
        ("mysql://localhost/x", "unsupported database 'mysql'"),
        ("not a url", "is not a URL"),
    ],
)
def test_unsupported_urls_are_refused(url, reason):
    with pytest.raises(DatabaseError, match=reason):
        open_engine(url)


def _damage(path) -> None:
    """What a disk fault or a copy cut short leaves: the file's header overwritten."""
    with open(path, "r+b") as handle:
        handle.write(b"\0" * 100)


def test_a_damaged_sqlite_file_is_said_with_the_way_out_and_reset_replaces_it(tmp_path):
    from sqlalchemy import inspect

    from octravpn.indexer.database import DamagedDatabase, open_index

    url = f"sqlite:///{tmp_path / 'devnet.sqlite3'}"
    open_index(url).dispose()  # a working index
    _damage(tmp_path / "devnet.sqlite3")
    with pytest.raises(DamagedDatabase, match=r"is damaged \(file is not a database\): `octravpn indexer run --reset`"):
        open_index(url)
    engine = open_index(url, reset_damaged=True)  # what `indexer run --reset` opens it with
    try:
        assert "events" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
