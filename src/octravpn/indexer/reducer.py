"""The contract's state, rebuilt event by event. Pure: no I/O.

`apply` reads and writes rows through a `Rows` store keyed by (table, primary
key). Each handler records what the contract did when it emitted the event:
a balance the event leaves behind (a tailnet's treasury, an exit's reputation
and earnings, the program treasury) is copied from the event, never worked out
again here, so the contract's rules have one home; the handlers only add events
up for statistics. The rows equal the contract's views (the tests compare them
on anvil).
Amounts are Python ints (uint256); times are block timestamps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.sql.schema import ScalarElementColumnDefault

from octravpn.chain.events import LogEvent
from octravpn.chain.records import Params, field_names
from octravpn.indexer import schema

NO_ADDRESS = "0x0000000000000000000000000000000000000000"
PROTOCOL_KEY = (1,)
PARAM_FIELDS = tuple(field_names(Params))  # the contract's Params, as its ABI names them
# Events that change nothing the indexer keeps (they stay in the events table).
UNTRACKED = frozenset(
    {
        "JoinTokenPrecommitted",
        "JoinTokenRedeemed",
        "JoinTokenRevoked",
        "ParamsScheduled",
        "ParamsCancelled",
        "GovSlashScheduled",
        "GovSlashCancelled",
        "SlashReportCommitted",
        "SlashBountyClaimed",
        "SlashBountyPaid",
        "SessionClosed",
        "SettlementSkipped",  # a batch item the contract refused: nothing changed
        "DeviceTagsSet",  # judged by each device under the policy; the events table keeps them
    }
)


class Rows(Protocol):
    def get(self, table: str, key: tuple) -> dict | None: ...
    def put(self, table: str, key: tuple, row: dict | None) -> None: ...
    def keys(self, table: str) -> list[tuple]: ...


class UnknownEvent(ValueError):
    pass


class InconsistentHistory(ValueError):
    """An event refers to state the history never created: wrong start block or contract."""


def new_protocol(params: dict, owner: str | None = None) -> dict:
    return {
        "id": 1,
        "owner": owner,
        "paused": False,
        "program_treasury": 0,
        "volume_paid": 0,
        "bytes_settled": 0,
        **{name: params[name] for name in PARAM_FIELDS},
    }


def new_operator(address: str) -> dict:
    """An operator row before any event about it: every column's default (`indexer.schema`)."""
    defaults = {
        c.name: c.default.arg for c in schema.operators.columns if isinstance(c.default, ScalarElementColumnDefault)
    }
    return {**defaults, "address": address}


def is_active(operator: dict, min_endpoint_stake: int) -> bool:
    """The contract's `is_endpoint_active`."""
    return operator["listed"] and not operator["slashed"] and operator["stake"] >= min_endpoint_stake


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


class _Context:
    """One event's view of the rows: read-modify-write helpers."""

    def __init__(self, rows: Rows, event: LogEvent, block_time: int) -> None:
        self.rows, self.event, self.time, self.args = rows, event, block_time, event.args

    def required(self, table: str, key: tuple) -> dict:
        row = self.rows.get(table, key)
        if row is None:
            raise InconsistentHistory(
                f"{self.event.name} at block {self.event.block_number} refers to {table} {key} "
                "the indexed history never created: is the start block after the contract's deployment?"
            )
        return dict(row)

    def operator(self, address: str) -> dict:
        row = self.rows.get("operators", (address,))
        return dict(row) if row is not None else new_operator(address)

    def update(
        self, table: str, key: tuple, changes: Callable[[dict], None] | dict, *, create: dict | None = None
    ) -> None:
        if create is not None:
            row = dict(create)
        elif table == "operators":
            row = self.operator(key[0])
        else:
            row = self.required(table, key)
        if callable(changes):
            changes(row)
        else:
            row.update(changes)
        if table == "operators":
            row["active"] = is_active(row, self.min_endpoint_stake())
        self.rows.put(table, key, row)

    def min_endpoint_stake(self) -> int:
        return self.required("protocol", PROTOCOL_KEY)["min_endpoint_stake"]


# ----------------------------------------------------------- governance


def _ownership_transferred(c: _Context) -> None:
    c.update("protocol", PROTOCOL_KEY, {"owner": c.args["new_owner"]})


def _params_updated(c: _Context) -> None:
    previous = c.min_endpoint_stake()
    c.update("protocol", PROTOCOL_KEY, {name: c.args["params"][name] for name in PARAM_FIELDS})
    minimum = c.min_endpoint_stake()
    if minimum != previous:  # rare (governance): every operator's `active` may flip
        for key in c.rows.keys("operators"):
            stored = c.rows.get("operators", key)
            if stored is None:
                continue
            operator = dict(stored)
            if operator["active"] != is_active(operator, minimum):
                operator["active"] = not operator["active"]
                c.rows.put("operators", key, operator)


def _pause_set(c: _Context) -> None:
    c.update("protocol", PROTOCOL_KEY, {"paused": c.args["paused"]})


def _program_treasury_set(c: _Context) -> None:
    """Any event that leaves the program treasury changed carries its new balance: copied, never re-derived."""
    c.update("protocol", PROTOCOL_KEY, {"program_treasury": c.args["program_treasury"]})


# ------------------------------------------------------------ operators


def _stake_bonded(c: _Context) -> None:
    c.update("operators", (c.args["addr"],), {"stake": c.args["new_stake"]})


def _unbonding_started(c: _Context) -> None:
    c.update(
        "operators", (c.args["addr"],), {"stake": 0, "unbonding": c.args["stake"], "unlock_at": c.args["unlock_at"]}
    )


def _unbonding_finalized(c: _Context) -> None:
    c.update("operators", (c.args["addr"],), {"unbonding": 0, "unlock_at": 0})


def _operator_slashed(c: _Context) -> None:
    forfeited, left, unlock_at = c.args["forfeited_earnings"], c.args["unbonding_left"], c.args["unlock_at"]

    def slash(op: dict) -> None:  # a governance slash takes at most what it announced: the rest is unbonding
        op.update(stake=0, unbonding=left, unlock_at=unlock_at, earnings=0, slashed=True)
        op["forfeited_total"] += forfeited

    c.update("operators", (c.args["addr"],), slash)
    _program_treasury_set(c)


def _endpoint_registered(c: _Context) -> None:
    c.update(
        "operators",
        (c.args["addr"],),
        {
            "registered_at": c.time,
            "listed": True,
            **_listing(c.args),
            "price_per_mb": c.args["price_per_mb"],
            "reputation": 0,
        },
    )


def _listing(args: dict) -> dict:
    """The listing every event that changes it carries whole."""
    return {
        "endpoint": args["endpoint"],
        "region": args["region"],
        "wg_pubkey": _hex(args["wg_pubkey"]),
        "receipt_signer": args["receipt_signer"],
    }


def _endpoint_updated(c: _Context) -> None:
    c.update("operators", (c.args["addr"],), {**_listing(c.args), "price_per_mb": c.args["price_per_mb"]})


def _keys_rotated(c: _Context) -> None:
    c.update("operators", (c.args["addr"],), _listing(c.args))


def _endpoint_retired(c: _Context) -> None:
    c.update("operators", (c.args["addr"],), {"listed": False})


def _credit_earnings(c: _Context, exit_: str) -> None:
    """A checkpoint's or settlement's event carries what the exit earned by it and its unclaimed earnings after."""

    def credit(op: dict) -> None:
        op["earnings"] = c.args["earnings"]
        op["earned_total"] += c.args["earned"]

    c.update("operators", (exit_,), credit)


def _earnings_claimed(c: _Context) -> None:
    def claim(op: dict) -> None:
        op["earnings"] = c.args["earnings"]
        op["claimed_total"] += c.args["amount"]

    c.update("operators", (c.args["operator"],), claim)


# ------------------------------------------------------------- tailnets


def _tailnet_created(c: _Context) -> None:
    tailnet_id = c.args["tailnet_id"]
    # member_count starts at 0: the owner's TailnetMemberAdded follows in the same transaction.
    c.update(
        "tailnets",
        (tailnet_id,),
        {},
        create={
            "id": tailnet_id,
            "owner": c.args["owner"],
            "treasury": c.args["deposit"],
            "member_count": 0,
            "exit_count": 0,
            "acl_policy": _hex(c.args["acl_policy"]),
            "created_at": c.time,
            "sessions_opened": 0,
            "spent": 0,
        },
    )


def _count(field: str, delta: int) -> Callable[[dict], None]:
    return lambda row: row.__setitem__(field, row[field] + delta)


@dataclass(frozen=True)
class _TailnetSet:
    """Members or exits of a tailnet: one row per address, and their count on the tailnet."""

    table: str
    column: str
    event_arg: str
    count: str
    since: str


MEMBERS = _TailnetSet("tailnet_members", "member", "member", "member_count", "added_at")
EXITS = _TailnetSet("tailnet_exits", "exit", "exit_addr", "exit_count", "configured_at")


def _tailnet_set(which: _TailnetSet, *, added: bool) -> Callable[[_Context], None]:
    def handle(c: _Context) -> None:
        tailnet_id, address = c.args["tailnet_id"], c.args[which.event_arg]
        c.update("tailnets", (tailnet_id,), _count(which.count, 1 if added else -1))
        row = {"tailnet_id": tailnet_id, which.column: address, which.since: c.time} if added else None
        c.rows.put(which.table, (tailnet_id, address), row)

    return handle


def _treasury_changed(c: _Context) -> None:
    c.update("tailnets", (c.args["tailnet_id"],), {"treasury": c.args["new_treasury"]})


def _acl_updated(c: _Context) -> None:
    digest = _hex(c.args["acl_policy"])
    c.update("tailnets", (c.args["tailnet_id"],), {"acl_policy": digest})
    document = {"hash": digest, "document": c.args["document"], "media_type": "application/hujson", "stored_at": c.time}
    c.rows.put("acl_documents", (digest,), document)


def _device_registered(c: _Context) -> None:
    device = c.args["device"]
    c.rows.put("devices", (device,), {"device": device, "wallet": c.args["wallet"], "registered_at": c.time})


def _device_revoked(c: _Context) -> None:
    c.rows.put("devices", (c.args["device"],), None)


# ------------------------------------------------------------- sessions


def _session_opened(c: _Context) -> None:
    session_id, tailnet_id, deposit = c.args["session_id"], c.args["tailnet_id"], c.args["deposit"]

    def lock(tailnet: dict) -> None:
        tailnet["treasury"] = c.args["treasury"]
        tailnet["sessions_opened"] += 1

    c.update("tailnets", (tailnet_id,), lock)
    c.update(
        "sessions",
        (session_id,),
        {},
        create={
            "id": session_id,
            "tailnet_id": tailnet_id,
            "exit": c.args["exit"],
            "opener": c.args["opener"],
            "deposit": deposit,
            "price_per_mb": c.args["price_per_mb"],
            "opened_at": c.args["opened_at"],
            "status": "open",
            "closed_at": None,
            "close_reason": None,
            "bytes_used": None,
            "total_paid": None,
            "bytes_paid": None,
            "checkpoints": 0,
            "protocol_fee": None,
            "refund": None,
            "receipt_seq": None,
            "sweep_bounty": None,
            "claim_bytes": None,
            "claimed_at": None,
            "confirm_bytes": None,
            "confirmed_at": None,
            "disputed": False,
        },
    )


def _settle_claimed(c: _Context) -> None:
    c.update("sessions", (c.args["session_id"],), {"claim_bytes": c.args["bytes_used"], "claimed_at": c.time})


def _settle_dispute(c: _Context) -> None:
    c.update(
        "sessions",
        (c.args["session_id"],),
        {"confirm_bytes": c.args["client_bytes"], "confirmed_at": c.time, "disputed": True},
    )


def _settle_confirmed(c: _Context) -> None:
    c.update(
        "sessions",
        (c.args["session_id"],),
        {"confirm_bytes": c.args["bytes_used"], "confirmed_at": c.time, "close_reason": "confirmed"},
    )


def _settled_by_receipt(c: _Context) -> None:
    c.update("sessions", (c.args["session_id"],), {"receipt_seq": c.args["seq"], "close_reason": "receipt"})


def _session_settled(c: _Context) -> None:
    session = c.required("sessions", (c.args["session_id"],))
    paid, fee, refund, used = c.args["total_paid"], c.args["protocol_fee"], c.args["refund"], c.args["bytes_used"]
    session.update(
        status="settled",
        closed_at=c.time,
        bytes_used=used,
        bytes_paid=used,
        total_paid=paid,
        protocol_fee=fee,
        refund=refund,
    )
    c.rows.put("sessions", (session["id"],), session)
    _book_the_end(c, session, paid, settled_bytes=used)

    def serve(op: dict) -> None:
        op["sessions_settled"] += 1
        op["bytes_served"] += used

    c.update("operators", (session["exit"],), serve)
    _credit_earnings(c, session["exit"])


def _session_topped_up(c: _Context) -> None:
    session = c.required("sessions", (c.args["session_id"],))
    c.rows.put("sessions", (session["id"],), {**session, "deposit": c.args["deposit"]})
    c.update("tailnets", (session["tailnet_id"],), {"treasury": c.args["treasury"]})


def _session_checkpointed(c: _Context) -> None:
    session = c.required("sessions", (c.args["session_id"],))
    session.update(bytes_paid=c.args["bytes_used"], total_paid=c.args["paid"], checkpoints=session["checkpoints"] + 1)
    c.rows.put("sessions", (session["id"],), session)
    _credit_earnings(c, session["exit"])


def _close_unpaid(c: _Context, reason: str, **extra) -> None:
    """Ended without a settlement: what checkpoints paid stays paid (the fee on it went to the program)."""
    session = c.required("sessions", (c.args["session_id"],))
    session.update(status="refunded", closed_at=c.time, close_reason=reason, **extra)
    c.rows.put("sessions", (session["id"],), session)
    _book_the_end(c, session, session["total_paid"] or 0)


def _book_the_end(c: _Context, session: dict, paid: int, *, settled_bytes: int = 0) -> None:
    """What a session's end (settled, refunded or swept) leaves behind, copied from its event: the tailnet's
    treasury, the exit's reputation (the contract's rule of who earns it stays the contract's) and the program
    treasury; and what it adds to the statistics: what the tailnet spent, the volume paid, the bytes settled."""

    def refund_rest(tailnet: dict) -> None:
        tailnet["treasury"] = c.args["treasury"]
        tailnet["spent"] += paid

    c.update("tailnets", (session["tailnet_id"],), refund_rest)
    c.update("operators", (session["exit"],), {"reputation": c.args["reputation"]})

    def account(p: dict) -> None:
        p["program_treasury"] = c.args["program_treasury"]
        p["volume_paid"] += paid
        p["bytes_settled"] += settled_bytes

    c.update("protocol", PROTOCOL_KEY, account)


def _session_refunded(c: _Context) -> None:
    _close_unpaid(c, c.args["reason"])


def _session_swept(c: _Context) -> None:
    _close_unpaid(c, "swept", sweep_bounty=c.args["bounty"])


HANDLERS: dict[str, Callable[[_Context], None]] = {
    "OwnershipTransferred": _ownership_transferred,
    "ParamsUpdated": _params_updated,
    "PauseSet": _pause_set,
    "ProgramTreasuryWithdrawn": _program_treasury_set,
    "StakeBonded": _stake_bonded,
    "StakeUnbondingStarted": _unbonding_started,
    "StakeUnbondingFinalized": _unbonding_finalized,
    "OperatorSlashed": _operator_slashed,
    "EndpointRegistered": _endpoint_registered,
    "EndpointUpdated": _endpoint_updated,
    "KeysRotated": _keys_rotated,
    "EndpointRetired": _endpoint_retired,
    "EarningsClaimed": _earnings_claimed,
    "TailnetCreated": _tailnet_created,
    "TailnetMemberAdded": _tailnet_set(MEMBERS, added=True),
    "TailnetMemberRemoved": _tailnet_set(MEMBERS, added=False),
    "TailnetDeposit": _treasury_changed,
    "TailnetWithdrawal": _treasury_changed,
    "TailnetExitConfigured": _tailnet_set(EXITS, added=True),
    "TailnetExitRemoved": _tailnet_set(EXITS, added=False),
    "TailnetAclUpdated": _acl_updated,
    "DeviceRegistered": _device_registered,
    "DeviceRevoked": _device_revoked,
    "SessionOpened": _session_opened,
    "SessionToppedUp": _session_topped_up,
    "SessionCheckpointed": _session_checkpointed,
    "SettleClaimed": _settle_claimed,
    "SettleDispute": _settle_dispute,
    "SettleConfirmed": _settle_confirmed,
    "SettledByReceipt": _settled_by_receipt,
    "SessionSettled": _session_settled,
    "SlashBountyReleased": _program_treasury_set,
    "SessionRefunded": _session_refunded,
    "SessionSwept": _session_swept,
}


def apply(rows: Rows, event: LogEvent, block_time: int) -> None:
    """Change `rows` as the contract changed its state when it emitted `event`."""
    if event.name in UNTRACKED:
        return
    handler = HANDLERS.get(event.name)
    if handler is None:
        raise UnknownEvent(f"no rule for event {event.name}: the indexer is older than the contract")
    handler(_Context(rows, event, block_time))
