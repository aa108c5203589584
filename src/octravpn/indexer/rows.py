"""Rows the reducer reads and writes, cached per batch over one database transaction.

Reads load lazily; writes stay in memory until `flush`, which issues one
executemany per table and kind (insert, update, delete). In blocks that a
reorganization could still drop, the first write to each row records the row
as it was before the block, so `undo` can put it back.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from octravpn.indexer import schema


def _row_json(row: dict) -> str:
    """A row as the journal keeps it: JSON, with bytes (a policy document) as {"$hex": …}."""
    return json.dumps(row, default=lambda value: {"$hex": value.hex()} if isinstance(value, bytes) else value)


def _row_from_json(text: str) -> dict:
    return json.loads(text, object_hook=lambda o: bytes.fromhex(o["$hex"]) if set(o) == {"$hex"} else o)


class _Statements:
    """Compiled-once statements per state table (executemany with named parameters)."""

    def __init__(self) -> None:
        self.load, self.insert, self.update, self.delete = {}, {}, {}, {}
        for name, key_columns in schema.STATE_TABLES.items():
            table = schema.metadata.tables[name]
            where = and_(*(table.c[c] == bindparam(f"k_{c}") for c in key_columns))
            self.load[name] = select(table).where(where)
            self.insert[name] = insert(table)
            others = [c.name for c in table.columns if c.name not in key_columns]
            self.update[name] = update(table).where(where).values({c: bindparam(c) for c in others})
            self.delete[name] = delete(table).where(where)

    @staticmethod
    def key_params(table: str, key: tuple) -> dict:
        return {f"k_{c}": v for c, v in zip(schema.STATE_TABLES[table], key, strict=True)}


STATEMENTS = _Statements()


class RowCache:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._rows: dict[tuple[str, tuple], dict | None] = {}
        self._in_database: dict[tuple[str, tuple], bool] = {}
        self._dirty: set[tuple[str, tuple]] = set()
        self._journal: list[dict] = []
        self._block: int | None = None
        self._journaled: set[tuple[str, tuple]] = set()

    def begin_block(self, number: int, *, undoable: bool) -> None:
        """Writes from now on belong to block `number`; `undoable` ones are journaled."""
        self._block = number if undoable else None
        self._journaled = set()

    def get(self, table: str, key: tuple) -> dict | None:
        if (table, key) in self._rows:
            return self._rows[(table, key)]
        found = self.connection.execute(STATEMENTS.load[table], STATEMENTS.key_params(table, key)).mappings().first()
        row = dict(found) if found is not None else None
        self._rows[(table, key)] = row
        self._in_database[(table, key)] = row is not None
        return row

    def keys(self, table: str) -> list[tuple]:
        """Every key the table has now: stored rows plus this batch's, minus this batch's deletions."""
        columns = [schema.metadata.tables[table].c[c] for c in schema.STATE_TABLES[table]]
        stored = {tuple(r) for r in self.connection.execute(select(*columns))}
        for (name, key), row in self._rows.items():
            if name == table:
                (stored.add if row is not None else stored.discard)(key)
        return sorted(stored)

    def put(self, table: str, key: tuple, row: dict | None) -> None:
        before = self.get(table, key)
        if self._block is not None and (table, key) not in self._journaled:
            self._journaled.add((table, key))
            self._journal.append(
                {
                    "block_number": self._block,
                    "table_name": table,
                    "row_key": json.dumps(list(key)),
                    "before": None if before is None else _row_json(before),
                }
            )
        self._rows[(table, key)] = row
        self._dirty.add((table, key))

    def flush(self) -> None:
        """Write every changed row and the journal; the cache stays valid."""
        inserts: dict[str, list] = {}
        updates: dict[str, list] = {}
        deletes: dict[str, list] = {}
        for table, key in self._dirty:
            row, existed = self._rows[(table, key)], self._in_database[(table, key)]
            if row is None:
                if existed:
                    deletes.setdefault(table, []).append(STATEMENTS.key_params(table, key))
            elif existed:
                updates.setdefault(table, []).append({**row, **STATEMENTS.key_params(table, key)})
            else:
                inserts.setdefault(table, []).append(row)
            self._in_database[(table, key)] = row is not None
        for table, params in deletes.items():
            self.connection.execute(STATEMENTS.delete[table], params)
        for table, params in updates.items():
            self.connection.execute(STATEMENTS.update[table], params)
        for table, params in inserts.items():
            self.connection.execute(STATEMENTS.insert[table], params)
        if self._journal:
            self.connection.execute(insert(schema.journal), self._journal)
        self._dirty.clear()
        self._journal = []


def undo(connection: Connection, after_block: int) -> int:
    """Put every state row back as it was at the end of `after_block`; returns how many changes were undone."""
    entries = (
        connection.execute(
            select(schema.journal)
            .where(schema.journal.c.block_number > after_block)
            .order_by(schema.journal.c.id.desc())
        )
        .mappings()
        .all()
    )
    for entry in entries:
        table, key = entry["table_name"], tuple(json.loads(entry["row_key"]))
        connection.execute(STATEMENTS.delete[table], STATEMENTS.key_params(table, key))
        if entry["before"] is not None:
            connection.execute(STATEMENTS.insert[table], _row_from_json(entry["before"]))
    connection.execute(delete(schema.journal).where(schema.journal.c.block_number > after_block))
    return len(entries)
