"""Following the contract: logs -> reducer -> SQL, with a checkpoint, confirmations and reorg handling.

Each `step` reads up to `batch_blocks` confirmed blocks after the checkpoint
and commits their events, the state they produce, and the new checkpoint in
one transaction, so a restart resumes exactly where the last commit ended.

Reorganizations: before reading on, the checkpoint block's hash is compared
with the chain's. If it changed, the newest stored block still on the chain
is the fork point; state changes of later blocks are undone from the journal
(kept for blocks within `reorg_depth` of the head) and their events deleted.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass

from eth_utils import to_checksum_address
from sqlalchemy import Engine, delete, insert, select, update

from octravpn.chain.artifacts import load as load_artifact
from octravpn.chain.errors import ChainError
from octravpn.chain.events import EventDecoder, LogEvent
from octravpn.chain.records import Views
from octravpn.indexer import reducer, schema
from octravpn.indexer.database import DatabaseError
from octravpn.indexer.rows import RowCache, undo
from octravpn.indexer.rpc import JsonRpc, RpcError

log = logging.getLogger(__name__)
JSON_SAFE_INT = 2**53 - 1
ANALYZE_EVERY = 10_000  # events; the planners need fresh statistics to pick the discovery indexes
ANALYZED_TABLES = ("operators", "sessions", "tailnet_members", "tailnet_exits")


class ReorgTooDeep(ChainError):
    def __init__(self, final_block: int) -> None:
        super().__init__(
            f"the chain reorganized at or below block {final_block}, deeper than the indexer can undo: "
            "index again from the start with `octravpn indexer run --reset` (or raise --reorg-depth)"
        )


class ChainMoved(ChainError):
    """The chain changed while a batch was read; the batch is dropped and read again."""


@dataclass(frozen=True)
class FollowSettings:
    confirmations: int = 0
    batch_blocks: int = 2000
    reorg_depth: int = 64
    poll_interval: float = 1.0

    def __post_init__(self) -> None:
        if self.confirmations < 0 or self.batch_blocks < 1 or self.reorg_depth < 1 or self.poll_interval <= 0:
            raise ValueError("confirmations >= 0, batch blocks >= 1, reorg depth >= 1 and poll interval > 0")


@dataclass(frozen=True)
class Checkpoint:
    chain_id: int
    contract: str
    start_block: int
    block_number: int
    block_hash: str
    final_block: int


@dataclass(frozen=True)
class StepResult:
    head: int
    indexed_to: int
    events: int = 0
    rolled_back_to: int | None = None

    @property
    def caught_up(self) -> bool:
        return self.events == 0 and self.rolled_back_to is None


def _json_args(args: dict) -> str:
    def plain(value):
        if isinstance(value, bytes):
            return "0x" + value.hex()
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value > JSON_SAFE_INT:
            return str(value)  # JavaScript readers would round it
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return json.dumps({k: plain(v) for k, v in args.items()}, separators=(",", ":"))


def read_checkpoint(engine: Engine) -> Checkpoint | None:
    with engine.connect() as connection:
        row = connection.execute(select(schema.checkpoint)).mappings().first()
    return None if row is None else Checkpoint(**{k: v for k, v in row.items() if k != "id"})


class Follower:
    def __init__(
        self,
        engine: Engine,
        rpc: JsonRpc,
        *,
        contract: str,
        chain_id: int,
        settings: FollowSettings = FollowSettings(),
        start_block: int | None = None,
    ) -> None:
        self.engine = engine
        self.rpc = rpc
        self.contract = to_checksum_address(contract)
        self.chain_id = chain_id
        self.settings = settings
        self.start_block = start_block
        self.decoder = EventDecoder()
        self.views = Views(load_artifact().abi)
        self._unanalyzed_events = 0
        self._caught_up_once = False

    # ------------------------------------------------------------ set-up
    def deployment_block(self) -> int:
        """The block that created the contract (binary search of eth_getCode; needs the node's history)."""
        head = self.rpc.block_number()
        if not self.rpc.code(self.contract, head):
            raise ChainError(
                f"no contract at {self.contract} on chain {self.chain_id}: check the network's contract address"
            )
        low, high = 0, head
        try:
            while low < high:
                middle = (low + high) // 2
                if self.rpc.code(self.contract, middle):
                    high = middle
                else:
                    low = middle + 1
        except RpcError as exc:
            raise ChainError(
                f"cannot find the contract's deployment block ({exc.node_message}): "
                "the node keeps no old state; pass --start-block"
            ) from exc
        return low

    def _initial_protocol(self, block: int) -> dict:
        raw = self.rpc.eth_call(self.contract, self.views.call_data("get_params"), block)
        return reducer.new_protocol(asdict(self.views.decode("get_params", raw)))

    def initialize(self) -> Checkpoint:
        """The stored checkpoint, or a new one at the deployment block; refuses a database of another contract."""
        existing = read_checkpoint(self.engine)
        if existing is not None:
            if existing.chain_id != self.chain_id or existing.contract != self.contract:
                raise DatabaseError(
                    f"this database indexes contract {existing.contract} on chain {existing.chain_id}, not "
                    f"{self.contract} on chain {self.chain_id}: use another --db, or --reset to start over"
                )
            return existing
        if self.rpc.chain_id() != self.chain_id:
            raise ChainError(f"the RPC serves chain {self.rpc.chain_id()}, not {self.chain_id}: check the network")
        start = self.start_block if self.start_block is not None else self.deployment_block()
        if start > 0 and self.rpc.code(self.contract, start - 1):
            raise ChainError(
                f"the contract existed before block {start}; the index must start at its deployment "
                f"block ({self.deployment_block()}) to see every event"
            )
        protocol = self._initial_protocol(start)
        parent = self.rpc.header(start - 1) if start > 0 else None
        checkpoint = Checkpoint(
            self.chain_id, self.contract, start, start - 1, parent.hash if parent else "0x" + "00" * 32, start - 1
        )
        with self.engine.begin() as connection:
            connection.execute(insert(schema.checkpoint), {"id": 1, **checkpoint.__dict__})
            connection.execute(insert(schema.protocol), protocol)
        return checkpoint

    # ------------------------------------------------------------ follow
    def step(self) -> StepResult:
        checkpoint = self.initialize()
        head = self.rpc.block_number()
        if checkpoint.block_number >= checkpoint.start_block:
            current = self.rpc.header(checkpoint.block_number)
            if current is None or current.hash != checkpoint.block_hash:
                fork = self._rollback(checkpoint)
                return StepResult(head, fork, rolled_back_to=fork)
        safe = head - self.settings.confirmations
        first = checkpoint.block_number + 1
        if safe < first:
            return StepResult(head, checkpoint.block_number)
        last = min(safe, checkpoint.block_number + self.settings.batch_blocks)
        logs, last = self._logs(first, last)
        events = [e for e in (self.decoder.decode(raw) for raw in logs) if e is not None]
        undoable_from = head - self.settings.reorg_depth + 1
        final_block = max(checkpoint.final_block, min(last, undoable_from - 1))
        # Headers: event blocks (timestamps), the new checkpoint, and the newest final block (the fork search's anchor).
        anchor = {final_block} if final_block >= checkpoint.start_block else set()
        wanted = sorted({e.block_number for e in events} | {last} | anchor)
        headers = {}
        for offset in range(0, len(wanted), 500):
            headers.update(self.rpc.headers(wanted[offset : offset + 500]))
        if any(number not in headers for number in wanted) or any(
            headers[e.block_number].hash != e.block_hash for e in events
        ):
            raise ChainMoved(f"the chain changed while blocks {first}-{last} were read")
        self._commit(events, headers, last=last, undoable_from=undoable_from, final_block=final_block)
        self._unanalyzed_events += len(events)
        first_catch_up = last == safe and not self._caught_up_once
        if self._unanalyzed_events >= ANALYZE_EVERY or (first_catch_up and self._unanalyzed_events):
            self.analyze()
        self._caught_up_once = self._caught_up_once or last == safe
        return StepResult(head, last, events=len(events))

    def analyze(self) -> None:
        """Refresh the query planner's statistics of the tables the API filters and sorts."""
        with self.engine.begin() as connection:
            for table in ANALYZED_TABLES:
                connection.exec_driver_sql(f"ANALYZE {table}")
        self._unanalyzed_events = 0

    def _logs(self, first: int, last: int) -> tuple[list[dict], int]:
        """Logs of [first, last]; a node that refuses a range that wide gets a narrower one."""
        while True:
            try:
                return self.rpc.logs(self.contract, first, last), last
            except RpcError:
                if last == first:
                    raise
                last = first + (last - first) // 2

    def _commit(
        self, events: list[LogEvent], headers: dict, *, last: int, undoable_from: int, final_block: int
    ) -> None:
        with self.engine.begin() as connection:
            rows = RowCache(connection)
            current = None
            for event in events:
                if event.block_number != current:
                    current = event.block_number
                    rows.begin_block(current, undoable=current >= undoable_from)
                reducer.apply(rows, event, headers[current].timestamp)
            rows.flush()
            if events:
                connection.execute(
                    insert(schema.events),
                    [
                        {
                            "block_number": e.block_number,
                            "log_index": e.log_index,
                            "block_hash": e.block_hash,
                            "tx_hash": e.tx_hash,
                            "name": e.name,
                            "session_id": e.args.get("session_id"),
                            "tailnet_id": e.args.get("tailnet_id"),
                            "args": _json_args(e.args),
                        }
                        for e in events
                    ],
                )
            kept = [h for number, h in headers.items() if number >= final_block]
            connection.execute(delete(schema.blocks).where(schema.blocks.c.number.in_([h.number for h in kept])))
            connection.execute(
                insert(schema.blocks), [{"number": h.number, "hash": h.hash, "timestamp": h.timestamp} for h in kept]
            )
            # At or below the final block nothing will be undone any more.
            connection.execute(delete(schema.journal).where(schema.journal.c.block_number <= final_block))
            connection.execute(delete(schema.blocks).where(schema.blocks.c.number < final_block))
            connection.execute(
                update(schema.checkpoint).values(
                    block_number=last, block_hash=headers[last].hash, final_block=final_block
                )
            )

    def _rollback(self, checkpoint: Checkpoint) -> int:
        with self.engine.connect() as connection:
            stored = connection.execute(
                select(schema.blocks.c.number, schema.blocks.c.hash)
                .where(schema.blocks.c.number >= checkpoint.final_block)
                .order_by(schema.blocks.c.number.desc())
            ).all()
        chain = self.rpc.headers([number for number, _ in stored])
        fork = next(
            (number for number, block_hash in stored if number in chain and chain[number].hash == block_hash), None
        )
        if fork is None:
            if checkpoint.final_block < checkpoint.start_block:
                fork = checkpoint.start_block - 1  # nothing final yet: start over from the deployment
            else:
                raise ReorgTooDeep(checkpoint.final_block)
        with self.engine.begin() as connection:
            undone = undo(connection, fork)
            connection.execute(delete(schema.events).where(schema.events.c.block_number > fork))
            connection.execute(delete(schema.blocks).where(schema.blocks.c.number > fork))
            fork_header = chain.get(fork) or (self.rpc.header(fork) if fork >= 0 else None)
            fork_hash = fork_header.hash if fork_header else "0x" + "00" * 32
            connection.execute(update(schema.checkpoint).values(block_number=fork, block_hash=fork_hash))
        log.warning("chain reorganization: undid %d row changes after block %d", undone, fork)
        return fork

    def run(self, stop: threading.Event) -> None:
        """Follow until `stop` is set; chain outages are logged and retried at the poll interval."""
        while not stop.is_set():
            try:
                result = self.step()
            except ReorgTooDeep:
                raise
            except ChainError as exc:  # node down or busy, or the chain moved mid-batch: read again
                log.warning("indexer: %s; retrying", exc)
                stop.wait(self.settings.poll_interval)
                continue
            if result.caught_up:
                stop.wait(self.settings.poll_interval)


def reset(engine: Engine) -> None:
    """Forget everything indexed (ACL documents stay: they are checked against the chain again when read)."""
    with engine.begin() as connection:
        for table in ("checkpoint", "blocks", "journal", "events", *schema.STATE_TABLES):
            connection.execute(delete(schema.metadata.tables[table]))
