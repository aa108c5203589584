"""The exit node's durable state in SQLite: sessions, receipts, settlements.

Guarantees the agent relies on:
- a receipt is on disk when `save_receipt` returns (WAL, synchronous=FULL,
  one transaction per write), so a crash or `kill -9` never loses one the
  exit acknowledged;
- every receipt request is on disk before the exit signs it for a client
  (`save_request`), so a restarted exit reissues the same (seq, bytes) and
  never signs two different requests for one seq (what `slash_double_sign`
  punishes);
- `begin_settlement` succeeds once per session, ever: a restarted agent sees
  the settlement it began and finishes it instead of sending a second one;
- tunnel addresses are allocated atomically and survive restarts.
Amounts and byte counts are uint256 on chain, so they are stored as decimal text.
"""

from __future__ import annotations

import ipaddress
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from octravpn.protocol.eip712 import Receipt

T = TypeVar("T")

# active: served; cut: the exit stopped serving it and will settle; claimed: the exit's claim is on
# chain, waiting for the opener's confirmation (or the grace); settled, refunded: closed on chain; unopened: taken
# while its open was mined, which never landed.
SESSION_STATES = ("active", "cut", "claimed", "settled", "refunded", "unopened")
SQLITE_MAX_INTEGER = 2**63 - 1
_MIGRATIONS = [
    """
    CREATE TABLE sessions (
        session_id     INTEGER PRIMARY KEY,
        tailnet_id     INTEGER NOT NULL,
        opener         TEXT NOT NULL,
        deposit        TEXT NOT NULL,
        price_per_mb   TEXT NOT NULL,
        wg_pubkey      BLOB NOT NULL,
        tunnel_address TEXT UNIQUE,
        state          TEXT NOT NULL CHECK (state IN ('active', 'cut', 'settled', 'refunded')),
        measured_bytes TEXT NOT NULL DEFAULT '0',
        opened_at      INTEGER NOT NULL
    );
    CREATE TABLE receipts (
        session_id  INTEGER NOT NULL REFERENCES sessions (session_id),
        seq         INTEGER NOT NULL,
        bytes_used  TEXT NOT NULL,
        signature   BLOB NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
    );
    CREATE TABLE settlements (
        session_id INTEGER PRIMARY KEY REFERENCES sessions (session_id),
        method     TEXT NOT NULL CHECK (method IN ('receipt', 'claim')),
        seq        INTEGER,
        bytes_used TEXT NOT NULL,
        tx_hash    TEXT,
        confirmed  INTEGER NOT NULL DEFAULT 0,
        begun_at   INTEGER NOT NULL
    );
    """,
    # Sessions of plain WireGuard apps sign no receipts: they settle by claim + confirm.
    "ALTER TABLE sessions ADD COLUMN signs_receipts INTEGER NOT NULL DEFAULT 1;",
    # Receipt requests as issued (stored before signed); the WireGuard counter behind measured_bytes,
    # so bytes carried while the agent was down are metered after a restart; the 'claimed' state
    # (a CHECK constraint changes only by rebuilding the table, SQLite's documented way).
    """
    CREATE TABLE receipt_requests (
        session_id INTEGER NOT NULL REFERENCES sessions (session_id),
        seq        INTEGER NOT NULL,
        bytes_used TEXT NOT NULL,
        issued_at  INTEGER NOT NULL,
        PRIMARY KEY (session_id, seq)
    );
    CREATE TABLE sessions_new (
        session_id     INTEGER PRIMARY KEY,
        tailnet_id     INTEGER NOT NULL,
        opener         TEXT NOT NULL,
        deposit        TEXT NOT NULL,
        price_per_mb   TEXT NOT NULL,
        wg_pubkey      BLOB NOT NULL,
        tunnel_address TEXT UNIQUE,
        state          TEXT NOT NULL CHECK (state IN ('active', 'cut', 'claimed', 'settled', 'refunded')),
        measured_bytes TEXT NOT NULL DEFAULT '0',
        opened_at      INTEGER NOT NULL,
        signs_receipts INTEGER NOT NULL DEFAULT 1,
        wg_counter     TEXT NOT NULL DEFAULT '0'
    );
    INSERT INTO sessions_new (session_id, tailnet_id, opener, deposit, price_per_mb, wg_pubkey, tunnel_address, state,
                              measured_bytes, opened_at, signs_receipts)
        SELECT session_id, tailnet_id, opener, deposit, price_per_mb, wg_pubkey, tunnel_address, state,
               measured_bytes, opened_at, signs_receipts FROM sessions;
    DROP TABLE sessions;
    ALTER TABLE sessions_new RENAME TO sessions;
    """,
    # The session's own settlement deadline (on the contract's clock, which never runs ahead of wall time).
    "ALTER TABLE sessions ADD COLUMN settle_by INTEGER;",
    # How far the agent has read the chain's events: a restart goes on from there, so an event that landed while
    # it was down (a tailnet owner's close) is not missed.
    "CREATE TABLE progress (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    # When the opener left the session open with no device connected (None: connected, or never parked): the
    # session stays active, without a peer, until a device joins it again or the keep-alive passes.
    "ALTER TABLE sessions ADD COLUMN parked_at INTEGER;",
    # The timestamp of the latest request (a join, a leave, a park) taken for the session: an older one is a
    # replay, also after a restart emptied the replay guard's memory.
    "ALTER TABLE sessions ADD COLUMN last_request_at INTEGER;",
    # The receipt bytes checkpoints paid for while the session stays open (the chain's `bytes_paid`).
    "ALTER TABLE sessions ADD COLUMN paid_bytes TEXT NOT NULL DEFAULT '0';",
    # The hash of the session's open transaction while it is not mined (the exit took the device as the open was
    # being mined: `node.opening`); NULL once the chain holds the session. And the state 'unopened': its open
    # never landed. The row stays, so its id is never served again (its receipt requests are kept: a second
    # request under a seq already signed would be equivocation).
    """
    CREATE TABLE sessions_new (
        session_id      INTEGER PRIMARY KEY,
        tailnet_id      INTEGER NOT NULL,
        opener          TEXT NOT NULL,
        deposit         TEXT NOT NULL,
        price_per_mb    TEXT NOT NULL,
        wg_pubkey       BLOB NOT NULL,
        tunnel_address  TEXT UNIQUE,
        state           TEXT NOT NULL
                        CHECK (state IN ('active', 'cut', 'claimed', 'settled', 'refunded', 'unopened')),
        measured_bytes  TEXT NOT NULL DEFAULT '0',
        opened_at       INTEGER NOT NULL,
        signs_receipts  INTEGER NOT NULL DEFAULT 1,
        wg_counter      TEXT NOT NULL DEFAULT '0',
        settle_by       INTEGER,
        parked_at       INTEGER,
        last_request_at INTEGER,
        paid_bytes      TEXT NOT NULL DEFAULT '0',
        open_tx         TEXT
    );
    INSERT INTO sessions_new (session_id, tailnet_id, opener, deposit, price_per_mb, wg_pubkey, tunnel_address, state, measured_bytes, opened_at, signs_receipts, wg_counter, settle_by, parked_at, last_request_at, paid_bytes) SELECT session_id, tailnet_id, opener, deposit, price_per_mb, wg_pubkey, tunnel_address, state, measured_bytes, opened_at, signs_receipts, wg_counter, settle_by, parked_at, last_request_at, paid_bytes FROM sessions;
    DROP TABLE sessions;
    ALTER TABLE sessions_new RENAME TO sessions;
    """,
]


class StoreError(RuntimeError):
    """The store refused an operation that would break its guarantees."""


class PoolExhausted(StoreError):
    """Every tunnel address is held by a live session: the exit is full until one is settled."""


@dataclass(frozen=True)
class SessionRecord:
    session_id: int
    tailnet_id: int
    opener: str
    deposit: int
    price_per_mb: int
    wg_pubkey: bytes
    tunnel_address: str | None
    state: str
    measured_bytes: int
    opened_at: int
    signs_receipts: bool = True
    wg_counter: int = 0  # WireGuard's rx + tx for the peer when measured_bytes was last updated
    settle_by: int | None = None  # the contract's deadline; None for sessions stored before it was kept
    parked_at: int | None = None  # when its device left it open (no peer until one joins it again)
    last_request_at: int | None = None  # the timestamp of the latest signed request taken for it
    paid_bytes: int = 0  # the receipt bytes checkpoints paid for
    open_tx: str | None = None  # its open transaction's hash while that is not mined

    @property
    def opening(self) -> bool:
        """Taken before its open was mined, which it still is not: not on chain, nothing to settle yet."""
        return self.open_tx is not None and self.state != "unopened"


@dataclass(frozen=True)
class SettlementRecord:
    session_id: int
    method: str
    seq: int | None
    bytes_used: int
    tx_hash: str | None
    confirmed: bool


class NodeStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: every statement outside an explicit BEGIN is its own transaction.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")
        self._migrate()  # before foreign keys are enforced: a migration may rebuild a referenced table
        self.db.execute("PRAGMA foreign_keys = ON")

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
            self.db.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")

    # ---------------------------------------------------------- sessions
    def add_session(
        self,
        *,
        session_id: int,
        tailnet_id: int,
        opener: str,
        deposit: int,
        price_per_mb: int,
        wg_pubkey: bytes,
        opened_at: int,
        signs_receipts: bool = True,
        settle_by: int | None = None,
        open_tx: str | None = None,
    ) -> None:
        """Record a session the exit serves (a second call for the same id changes nothing); `open_tx`: its open
        transaction, not mined yet."""
        self.db.execute(
            "INSERT OR IGNORE INTO sessions (session_id, tailnet_id, opener, deposit, price_per_mb, wg_pubkey, state, "
            "opened_at, signs_receipts, settle_by, open_tx) VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)",
            (
                session_id,
                tailnet_id,
                opener,
                str(deposit),
                str(price_per_mb),
                wg_pubkey,
                opened_at,
                int(signs_receipts),
                settle_by,
                open_tx,
            ),
        )

    def set_opened(self, session_id: int, *, deposit: int, price_per_mb: int, opened_at: int, settle_by: int) -> None:
        """A session taken while its open was mined is on chain now: its terms as the chain has them."""
        self._update(
            "UPDATE sessions SET open_tx = NULL, deposit = ?, price_per_mb = ?, opened_at = ?, settle_by = ? "
            "WHERE session_id = ?",
            (str(deposit), str(price_per_mb), opened_at, settle_by, session_id),
            session_id,
        )

    def set_unopened(self, session_id: int) -> None:
        """A session taken while its open was mined, which never landed: nothing to settle, and its id is never
        served again."""
        if (
            self.db.execute(
                "UPDATE sessions SET state = 'unopened' WHERE session_id = ? AND open_tx IS NOT NULL", (session_id,)
            ).rowcount
            != 1
        ):
            raise StoreError(f"session {session_id} is not an opening: it is on chain")

    def session(self, session_id: int) -> SessionRecord | None:
        if not 0 <= session_id <= SQLITE_MAX_INTEGER:
            return None  # a valid uint256 id, but no session the exit could have stored
        row = self.db.execute("SELECT * FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return _session(row) if row else None

    def stored_session(self, session_id: int) -> SessionRecord:
        """A session the caller knows is stored (it stored it, under the same lock)."""
        return _present(self.session(session_id), f"session {session_id} is not in the exit's store")

    def sessions(self, state: str | None = None) -> list[SessionRecord]:
        query = "SELECT * FROM sessions"
        args: tuple[str, ...] = ()
        if state is not None:
            query, args = query + " WHERE state = ?", (state,)
        return [_session(row) for row in self.db.execute(query + " ORDER BY session_id", args)]

    def set_state(self, session_id: int, state: str) -> None:
        if state not in SESSION_STATES:
            raise StoreError(f"unknown session state {state!r}")
        self._update("UPDATE sessions SET state = ? WHERE session_id = ?", (state, session_id), session_id)

    def set_settle_by(self, session_id: int, settle_by: int) -> None:
        """The session's deadline as the chain now has it (a tailnet owner's close brings it forward)."""
        self._update("UPDATE sessions SET settle_by = ? WHERE session_id = ?", (settle_by, session_id), session_id)

    def set_terms(self, session_id: int, *, deposit: int, settle_by: int) -> None:
        """A top-up: the deposit and deadline as the chain now has them."""
        self._update(
            "UPDATE sessions SET deposit = ?, settle_by = ? WHERE session_id = ?",
            (str(deposit), settle_by, session_id),
            session_id,
        )

    def set_paid_bytes(self, session_id: int, paid_bytes: int) -> None:
        """A checkpoint: the receipt bytes the chain has paid for."""
        self._update(
            "UPDATE sessions SET paid_bytes = ? WHERE session_id = ?", (str(paid_bytes), session_id), session_id
        )

    def set_last_request(self, session_id: int, timestamp: int) -> None:
        self._update(
            "UPDATE sessions SET last_request_at = ? WHERE session_id = ?", (timestamp, session_id), session_id
        )

    def set_parked(self, session_id: int, parked_at: int | None) -> None:
        """The session left open without a device (`parked_at`), or joined again (None)."""
        self._update("UPDATE sessions SET parked_at = ? WHERE session_id = ?", (parked_at, session_id), session_id)

    def followed_block(self) -> int | None:
        """The last block whose events the agent has handled (None: a store that never followed the chain)."""
        row = self.db.execute("SELECT value FROM progress WHERE name = 'followed_block'").fetchone()
        return row[0] if row else None

    def set_followed_block(self, block: int) -> None:
        self.db.execute(
            "INSERT INTO progress (name, value) VALUES ('followed_block', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (block,),
        )

    def set_wg_pubkey(self, session_id: int, wg_pubkey: bytes) -> None:
        # A new peer's counters start from zero.
        self._update(
            "UPDATE sessions SET wg_pubkey = ?, wg_counter = '0' WHERE session_id = ?",
            (wg_pubkey, session_id),
            session_id,
        )

    def update_measured(self, session_id: int, measured_bytes: int, wg_counter: int = 0) -> None:
        """The cumulative byte count (it never goes down) and the WireGuard counter it was read at."""
        current = self.session(session_id)
        if current is None:
            raise StoreError(f"unknown session {session_id}")
        if measured_bytes < current.measured_bytes:
            raise StoreError(
                f"session {session_id}: measured bytes cannot decrease ({current.measured_bytes} -> {measured_bytes})"
            )
        self._update(
            "UPDATE sessions SET measured_bytes = ?, wg_counter = ? WHERE session_id = ?",
            (str(measured_bytes), str(wg_counter), session_id),
            session_id,
        )

    def allocate_address(
        self, session_id: int, pool: ipaddress.IPv4Network | ipaddress.IPv6Network, reserved: tuple[str, ...] = ()
    ) -> str:
        """The session's tunnel address: its existing one, or the lowest free host of `pool`."""
        self.db.execute("BEGIN IMMEDIATE")  # no other writer can take the same address meanwhile
        try:
            row = self.db.execute("SELECT tunnel_address FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
            if row is None:
                raise StoreError(f"unknown session {session_id}")
            if row[0]:
                self.db.execute("COMMIT")
                return row[0]
            taken = {
                r[0]
                for r in self.db.execute(
                    "SELECT tunnel_address FROM sessions WHERE tunnel_address IS NOT NULL AND state IN ('active', 'cut')"
                )
            }
            taken |= set(reserved)
            for host in pool.hosts():
                if str(host) not in taken:
                    # A settled session's address is released by clearing it here.
                    self.db.execute("UPDATE sessions SET tunnel_address = NULL WHERE tunnel_address = ?", (str(host),))
                    self.db.execute(
                        "UPDATE sessions SET tunnel_address = ? WHERE session_id = ?", (str(host), session_id)
                    )
                    self.db.execute("COMMIT")
                    return str(host)
            raise PoolExhausted(f"its tunnel address pool {pool} is exhausted: try another exit")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # -------------------------------------------------- receipt requests
    def save_request(self, session_id: int, seq: int, bytes_used: int) -> None:
        """Durable when this returns; only then may the request be signed. A seq is issued once."""
        try:
            self.db.execute(
                "INSERT INTO receipt_requests (session_id, seq, bytes_used, issued_at) VALUES (?, ?, ?, ?)",
                (session_id, seq, str(bytes_used), int(time.time())),
            )
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                f"receipt request {session_id}/{seq} was already issued or the session is unknown"
            ) from exc

    def latest_request(self, session_id: int) -> tuple[int, int] | None:
        """(seq, bytes_used) of the newest request issued for the session."""
        row = self.db.execute(
            "SELECT seq, bytes_used FROM receipt_requests WHERE session_id = ? ORDER BY seq DESC LIMIT 1", (session_id,)
        ).fetchone()
        return (row[0], int(row[1])) if row else None

    # ---------------------------------------------------------- receipts
    def save_receipt(self, receipt: Receipt, signature: bytes) -> None:
        """Durable when this returns. The same (session, seq) twice is refused."""
        try:
            self.db.execute(
                "INSERT INTO receipts (session_id, seq, bytes_used, signature, received_at) VALUES (?, ?, ?, ?, ?)",
                (receipt.session_id, receipt.seq, str(receipt.bytes_used), signature, int(time.time())),
            )
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                f"receipt {receipt.session_id}/{receipt.seq} is a duplicate or for an unknown session"
            ) from exc

    def latest_receipt(self, session_id: int) -> tuple[Receipt, bytes] | None:
        row = self.db.execute(
            "SELECT seq, bytes_used, signature FROM receipts WHERE session_id = ? ORDER BY seq DESC LIMIT 1",
            (session_id,),
        ).fetchone()
        if row is None:
            return None
        return Receipt(session_id=session_id, seq=row[0], bytes_used=int(row[1])), row[2]

    def receipt(self, session_id: int, seq: int) -> tuple[Receipt, bytes] | None:
        row = self.db.execute(
            "SELECT bytes_used, signature FROM receipts WHERE session_id = ? AND seq = ?", (session_id, seq)
        ).fetchone()
        return (Receipt(session_id=session_id, seq=seq, bytes_used=int(row[0])), row[1]) if row else None

    def reserved_receipt(self, settlement: SettlementRecord) -> tuple[Receipt, bytes]:
        """The receipt a begun settlement reserved (stored before the settlement was begun, never deleted)."""
        found = self.receipt(settlement.session_id, settlement.seq) if settlement.seq is not None else None
        return _present(found, f"the receipt settling session {settlement.session_id} is not in the exit's store")

    def receipt_count(self, session_id: int) -> int:
        return self.db.execute("SELECT COUNT(*) FROM receipts WHERE session_id = ?", (session_id,)).fetchone()[0]

    # ------------------------------------------------------- settlements
    def begin_settlement(self, session_id: int, *, method: str, bytes_used: int, seq: int | None = None) -> bool:
        """Reserve the session's one settlement; False if one was already begun."""
        try:
            self.db.execute(
                "INSERT INTO settlements (session_id, method, seq, bytes_used, begun_at) VALUES (?, ?, ?, ?, ?)",
                (session_id, method, seq, str(bytes_used), int(time.time())),
            )
        except sqlite3.IntegrityError as exc:
            if self.settlement(session_id) is not None:
                return False
            raise StoreError(f"cannot settle session {session_id}: {exc}") from exc
        return True

    def record_settlement_tx(self, session_id: int, tx_hash: str) -> None:
        self._update("UPDATE settlements SET tx_hash = ? WHERE session_id = ?", (tx_hash, session_id), session_id)

    def confirm_settlement(self, session_id: int, *, state: str = "settled") -> None:
        """The exit's settlement transaction is mined: the session is `settled`, or `claimed` (open on chain
        until the opener confirms or the grace passes)."""
        if state not in ("settled", "claimed"):
            raise StoreError(f"a mined settlement leaves a session settled or claimed, not {state!r}")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self._update("UPDATE settlements SET confirmed = 1 WHERE session_id = ?", (session_id,), session_id)
            self.db.execute("UPDATE sessions SET state = ? WHERE session_id = ?", (state, session_id))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def settlement(self, session_id: int) -> SettlementRecord | None:
        row = self.db.execute(_SETTLEMENT + " WHERE session_id = ?", (session_id,)).fetchone()
        return _settlement(row) if row else None

    def begun_settlement(self, session_id: int) -> SettlementRecord:
        """A settlement the caller knows was begun."""
        return _present(self.settlement(session_id), f"no settlement of session {session_id} was begun")

    def pending_settlements(self) -> list[SettlementRecord]:
        """Settlements begun but not confirmed: what a restarted agent must finish."""
        rows = self.db.execute(_SETTLEMENT + " WHERE confirmed = 0 ORDER BY session_id")
        return [_settlement(row) for row in rows]

    # ------------------------------------------------------------ totals
    def totals(self) -> dict:
        """Counts for the metrics: sessions by state, bytes measured, receipts, settlements by method."""
        states = dict(self.db.execute("SELECT state, COUNT(*) FROM sessions GROUP BY state").fetchall())
        measured = sum(int(r[0]) for r in self.db.execute("SELECT measured_bytes FROM sessions"))
        methods = dict(self.db.execute("SELECT method, COUNT(*) FROM settlements GROUP BY method").fetchall())
        return {
            "sessions": {state: states.get(state, 0) for state in SESSION_STATES},
            "measured_bytes": measured,
            "receipts": self.db.execute("SELECT COUNT(*) FROM receipts").fetchone()[0],
            "settlements": {method: methods.get(method, 0) for method in ("receipt", "claim")},
        }

    # --------------------------------------------------------- internals
    def _update(self, sql: str, args: tuple, session_id: int) -> None:
        if self.db.execute(sql, args).rowcount != 1:
            raise StoreError(f"unknown session {session_id}")


def _present(found: T | None, missing: str) -> T:
    """What the caller knows is stored: its absence is a damaged store, said as `missing`."""
    if found is None:
        raise LookupError(missing)
    return found


_SETTLEMENT = "SELECT session_id, method, seq, bytes_used, tx_hash, confirmed FROM settlements"


def _settlement(row: tuple) -> SettlementRecord:
    return SettlementRecord(row[0], row[1], row[2], int(row[3]), row[4], bool(row[5]))


def _session(row: tuple) -> SessionRecord:
    return SessionRecord(
        row[0],
        row[1],
        row[2],
        int(row[3]),
        int(row[4]),
        row[5],
        row[6],
        row[7],
        int(row[8]),
        row[9],
        bool(row[10]),
        int(row[11]),
        row[12],
        row[13],
        row[14],
        int(row[15]),
        row[16],
    )
