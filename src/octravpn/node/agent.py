"""The exit-node agent: the long-running process behind `octravpn node run`.

It ties the parts together. At start it checks the operator is registered and
not slashed, that its WireGuard key and receipt key are the ones on chain, and
reconciles its store with the chain (finishing settlements a crash left
behind, dropping sessions that ended meanwhile); then it brings the WireGuard
interface to exactly the peers of its active sessions and loads the egress
policy.

Two loops run it. `tick` (once a second) touches only WireGuard and the
store: it meters every peer, asks for receipts, and cuts sessions that lag,
ran out of deposit, are idle or near their settlement deadline. `watch_chain`
(every few seconds) does all the chain I/O: it follows the chain for sessions
that ended and settles the ones that were cut. The chain is read outside the
agent's lock, so an unreachable or stalled RPC never stops metering, receipts
or handshakes of known sessions; while it lasts, and for a catch-up time
after, nobody is cut for lagging in signing (`SigningClock`).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from fastapi import FastAPI, Request

from octravpn.chain.client import NATIVE, OctraVPN
from octravpn.chain.errors import ChainError, ContractRevert, RpcUnreachable
from octravpn.chain.records import Settlement
from octravpn.errors import ServiceError
from octravpn.node import egress
from octravpn.node.api import create_app
from octravpn.node.handshake import ContractChainView, ExitIdentity, HandshakeService
from octravpn.node.health import SigningClock
from octravpn.node.metering import SessionMeters
from octravpn.node.metrics import NodeCollector
from octravpn.node.opening import never_landed
from octravpn.node.peers import ExitInterface, PeerSet
from octravpn.node.receipts import ReceiptChannel
from octravpn.node.settlement import Settler
from octravpn.node.store import NodeStore, SessionRecord
from octravpn.protocol.eip712 import Domain
from octravpn.protocol.metering import BYTES_PER_MB, ActivityWatch
from octravpn.protocol.sessions import MAX_BATCH, STATUS_OPEN, STATUS_SETTLED, checkpoint_threshold, pay
from octravpn.wireguard.config import WireGuardConfigError, split_endpoint
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.keys import Keypair, encode_key
from octravpn.wireguard.runner import CommandRunner

log = logging.getLogger("octravpn.node")
RETRY_SECONDS = 10.0
FOLLOW_BLOCKS = 2_000  # blocks of events asked for at once (providers bound a log query's range)


class NodeError(ServiceError):
    """The exit cannot run as configured; the message says what to fix."""


@dataclass(frozen=True, kw_only=True)
class NodeSettings:
    interface: str = "ovpn-exit"
    tunnel_network: ipaddress.IPv4Network = ipaddress.IPv4Network("10.77.0.0/16")
    api_host: str = "0.0.0.0"
    uplink: str | None = None  # None: the interface of the default route
    dns: tuple[str, ...] = ()
    receipt_every: int = 64 * BYTES_PER_MB
    max_unsigned: int = 1024 * BYTES_PER_MB  # must cover a few seconds at line rate: a tick and a signing round trip
    max_loss_percent: float = 15.0  # of what the exit measured: datagrams it sent that never arrived, left unsigned
    final_receipt_wait: float = 10.0  # after a cut, how long a last receipt may take
    idle_timeout: float = 900.0
    keep_alive: float = 86400.0  # a session left open with no device connected ends after this
    idle_noise_per_second: float = 8.0  # WireGuard keepalives and rekeying alone carry about 3 bytes/s
    catch_up_seconds: float = 15.0  # after a start or a chain outage: time to sign before lag is judged
    settle_margin: int | None = (
        None  # settle this long before the session grace ends (default: grace / 4, at most 10 min)
    )
    tick_seconds: float = 1.0
    chain_poll_seconds: float = 2.0
    # Checkpoint an open session once what its receipts prove unpaid is worth this many times the checkpoint's
    # fee (a native-coin deployment), or at least `checkpoint_at` base units of the asset (any deployment; an
    # ERC-20's worth in gas cannot be known here). None and 0: never while the session is open.
    checkpoint_multiple: float | None = 10.0
    checkpoint_at: int | None = None
    # A device whose session's open is not mined yet is served this many bytes until it is (0: none; it waits for
    # its block); an open not mined within `opening_wait` seconds never landed (`node.opening`).
    opening_budget: int = 16 * BYTES_PER_MB
    opening_wait: float = 600.0


class ExitAgent:
    def __init__(
        self,
        *,
        client: OctraVPN,
        receipt_key: LocalAccount,
        wg_private_key: bytes,
        store: NodeStore,
        runner: CommandRunner,
        settings: NodeSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if client.sender is None:
            raise NodeError("the exit agent needs its operator wallet to settle")
        self.client = client
        self.operator = client.sender.account.address
        self.receipt_key = receipt_key
        self.wg_keys = Keypair.from_private(wg_private_key)
        self.store = store
        self.runner = runner
        self.engine = Engine(runner)
        self.settings = settings
        self.clock = clock
        self.lock = threading.RLock()  # the store, meters and WireGuard: shared by the API and both loops
        self.stats_lock = threading.Lock()  # only the counters below, so the event loop never waits on the tick
        self.errors: Counter = Counter()
        self.responses: Counter = Counter()
        self.settle_at: dict[int, float] = {}  # ended sessions -> when to settle at the latest
        # Sessions whose checkpoint the contract refused -> the receipt seq it refused: not sent again (each try
        # costs gas) until a newer receipt comes.
        self.checkpoint_refused: dict[int, int] = {}
        self.activity = ActivityWatch(timeout=settings.idle_timeout, noise_per_second=settings.idle_noise_per_second)

    # ------------------------------------------------------------ start
    def start(self) -> None:
        """Check the on-chain registration, reconcile, bring up WireGuard and egress."""
        registered = self.client.endpoint(self.operator)
        if registered.registered_at == 0:
            raise NodeError(
                f"{self.operator} has no registered exit: `octravpn operator bond` and `operator register` first"
            )
        if self.client.is_slashed(self.operator):
            raise NodeError(f"{self.operator} was slashed: a slashed operator cannot serve sessions")
        if registered.wg_pubkey != self.wg_keys.public:
            raise NodeError(
                f"the WireGuard key file holds {self.wg_keys.public_b64} but the chain has "
                f"{encode_key(registered.wg_pubkey)}: use the right --wg-key-file or `operator rotate-keys`"
            )
        if to_checksum_address(registered.receipt_signer) != self.receipt_key.address:
            raise NodeError(
                f"the receipt wallet is {self.receipt_key.address} but the chain's receipt signer is "
                f"{registered.receipt_signer}: pass --receipt-wallet with that key"
            )
        if not self.client.is_active(self.operator):
            log.warning(
                "the exit is not active (retired or under-bonded): it settles its sessions but gets no new ones"
            )
        try:
            _, self.port = split_endpoint(registered.endpoint)
        except WireGuardConfigError as exc:
            raise NodeError(
                f"the registered endpoint is unusable ({exc}): fix it with `octravpn operator update --endpoint`"
            ) from exc
        self.identity = ExitIdentity(
            operator=self.operator,
            wg_public_key=self.wg_keys.public,
            endpoint=registered.endpoint,
            interface=self.settings.interface,
            tunnel_network=self.settings.tunnel_network,
            dns=self.settings.dns,
        )
        domain = Domain(chain_id=self.client.w3.eth.chain_id, verifying_contract=self.client.address)
        chain = ContractChainView(self.client, on_failure=self._chain_failed)
        self.peers = PeerSet(
            engine=self.engine,
            store=self.store,
            interface=ExitInterface(
                name=self.settings.interface,
                private_key=self.wg_keys.private,
                listen_port=self.port,
                address=f"{self.identity.exit_address}/{self.settings.tunnel_network.prefixlen}",
            ),
            opening_budget=self.settings.opening_budget,
        )
        self.meters = SessionMeters(
            store=self.store,
            engine=self.engine,
            peers=self.peers,
            interface=self.settings.interface,
            receipt_every=self.settings.receipt_every,
            max_unsigned=self.settings.max_unsigned,
            max_loss_percent=self.settings.max_loss_percent,
        )
        self.handshake = HandshakeService(
            domain=domain,
            identity=self.identity,
            chain=chain,
            store=self.store,
            peers=self.peers,
            clock=self.clock,
            lock=self.lock,
            takes_openings=self.settings.opening_budget > 0,
        )
        self.receipts = ReceiptChannel(
            domain=domain,
            chain=chain,
            store=self.store,
            meters=self.meters,
            receipt_key=bytes(self.receipt_key.key),
            lock=self.lock,
        )
        self.settler = Settler(chain=self.client, store=self.store, meters=self.meters, lock=self.lock)
        grace = self.client.params().session_grace
        self.settle_margin = (
            self.settings.settle_margin if self.settings.settle_margin is not None else min(600, grace // 4)
        )
        self.grace = grace
        # Go on from the last block handled: an owner's close that landed while the agent was down is read now.
        # A store that never followed the chain serves no session yet, so it starts at the head.
        followed = self.store.followed_block()
        if followed is None:  # kept at once: a stop before the first follow must not lose the place either
            followed = self.client.block_number()
            self.store.set_followed_block(followed)
        self.last_block = followed
        self.signing = SigningClock(catch_up=self.settings.catch_up_seconds, now=self.clock())
        with self.lock:
            self._reconcile()
            self.egress_policy = egress.EgressPolicy(
                wg_interface=self.settings.interface,
                uplink=self.settings.uplink or self._default_uplink(),
                tunnel_network=self.settings.tunnel_network,
                exit_address=self.identity.exit_address,
            )
            egress.apply(self.runner, self.egress_policy)
        log.info(
            "exit %s serving on %s (WireGuard %s, interface %s)",
            self.operator,
            registered.endpoint,
            self.wg_keys.public_b64,
            self.settings.interface,
        )

    def _reconcile(self) -> None:
        for outcome in self.settler.resume():
            log.info(
                "finished a settlement begun before the restart: session %d (%s)", outcome.session_id, outcome.method
            )
        for record in self.store.sessions("active") + self.store.sessions("claimed"):
            if record.opening:
                continue  # not on chain yet: `_check_openings` follows it
            on_chain = self.client.session(record.session_id)
            if on_chain.status != STATUS_OPEN:
                self.store.set_state(record.session_id, "settled" if on_chain.status == STATUS_SETTLED else "refunded")
                log.info("session %d ended on chain while the agent was down", record.session_id)
            elif on_chain.settle_by != record.settle_by:  # its deadline as the chain has it now
                self.store.set_settle_by(record.session_id, on_chain.settle_by)
        self.peers.bring_up()
        now = self.clock()
        for record in self.store.sessions("cut"):
            if self.store.settlement(record.session_id) is None:
                self.settle_at[record.session_id] = now  # cut before the restart: settle now

    def _default_uplink(self) -> str:
        routes = json.loads(self.runner.run(["ip", "-j", "route", "show", "default"]) or "[]")
        if not routes or "dev" not in routes[0]:
            raise NodeError("no default route to forward clients' traffic: pass --uplink INTERFACE")
        return routes[0]["dev"]

    def stop(self) -> None:
        """Remove the interface and the egress policy; the store keeps every session for the next start."""
        with self.lock:
            egress.remove(self.runner, self.egress_policy)
            self.engine.down(self.settings.interface)

    # ------------------------------------------------------------- work
    def tick(self) -> None:
        """Meter, ask for receipts, cut: WireGuard and the store only, never the chain. The peers are brought to
        the store's each time, so a peer removed or added by hand is put right within a tick."""
        now = self.clock()
        with self.lock:
            failures = self.meters.store_failures
            self.meters.tick(judge_lag=self.signing.judging(now))
            if self.meters.store_failures != failures:  # the store began failing: once per episode
                self.count_error("store")
            self.peers.apply()  # after the reading: an opening that carried its budget is held at once
            self._end_idle_and_expiring(now)
            for session_id, cut in self.meters.take_cuts():  # by the meter, an idle timer, or a client's leave
                log.info("session %d cut: %s", session_id, cut.reason)
                self.settle_at[session_id] = now + self.settings.final_receipt_wait
                self.activity.forget(session_id)

    def watch_chain(self) -> None:
        """Follow the chain and settle what is due; an unreachable chain is said once, not per try."""
        now = self.clock()
        try:
            self._follow_chain()
            self._check_openings(now)
            self._settle_due(now)
            self._checkpoint_due()
        except ChainError as exc:
            self._chain_failed(exc)
            return
        with self.lock:
            lasted = self.signing.chain_answered(now)
        if lasted is not None:
            log.info(
                "the chain is reachable again after %.0fs; clients have %.0fs to sign what they owe before "
                "lagging is judged",
                lasted,
                self.settings.catch_up_seconds,
            )

    def _chain_failed(self, exc: ChainError) -> None:
        """A chain read failed (here, in the API, anywhere): judging of signing lag pauses at once."""
        if isinstance(exc, ContractRevert):
            return  # the chain answered
        self.count_error("chain")
        with self.lock:
            began = self.signing.chain_failed(self.clock())
        if began:
            log.warning(
                "the chain is unreachable; serving and metering go on, nobody is cut for unsigned "
                "receipts until it is back: %s",
                exc,
            )

    def _follow_chain(self) -> None:
        head = self.client.block_number()
        if head <= self.last_block:
            return
        last = min(head, self.last_block + FOLLOW_BLOCKS)  # a long absence is read in bounded steps, a tick each
        events = self.client.events(self.last_block + 1, last)
        with self.lock:
            for event in events:
                if event.name == "SessionOpened":
                    self._opened(event.args)
                if event.name == "SessionClosed":
                    self._closed_by_owner(event.args["session_id"])
                if event.name in ("SessionSettled", "SessionRefunded", "SessionSwept"):
                    state = "settled" if event.name == "SessionSettled" else "refunded"
                    self._ended_on_chain(event.args["session_id"], state)
                if event.name == "SessionToppedUp" and self.store.session(event.args["session_id"]) is not None:
                    # More deposit and a later deadline: it is served on, not cut at the old ones.
                    self.store.set_terms(
                        event.args["session_id"], deposit=event.args["deposit"], settle_by=event.args["settle_by"]
                    )
                if event.name == "SessionCheckpointed" and self.store.session(event.args["session_id"]) is not None:
                    self.store.set_paid_bytes(event.args["session_id"], event.args["bytes_used"])
            self.store.set_followed_block(last)
        self.last_block = last

    def _opened(self, opened: dict) -> None:
        """A session taken while its open was mined is on chain: serve it on at the chain's terms."""
        record = self.store.session(opened["session_id"])
        if record is None or not record.opening:
            return
        if (
            to_checksum_address(opened["opener"]) != record.opener
            or to_checksum_address(opened["exit"]) != self.operator
        ):
            self._unopened(record, "the session the chain opened under its id is another's")
            return
        self.store.set_opened(
            record.session_id,
            deposit=opened["deposit"],
            price_per_mb=opened["price_per_mb"],
            opened_at=opened["opened_at"],
            settle_by=opened["settle_by"],
        )
        self.meters.meters.pop(record.session_id, None)  # rebuilt from the store, at the chain's price and deposit
        self.peers.apply()
        log.info(
            "session %d: its open was mined (taken %.0fs before)", record.session_id, self.clock() - record.opened_at
        )

    def _check_openings(self, now: float) -> None:
        """Sessions taken while their open was mined: one whose transaction failed, or was not mined in
        `opening_wait`, never landed."""
        with self.lock:
            openings = [r for r in self.store.sessions() if r.opening]
        for record in openings:
            assert record.open_tx is not None
            outcome = self.client.transaction_outcome(record.open_tx)
            reason = never_landed(
                outcome.state, outcome.reason, age=now - record.opened_at, wait=self.settings.opening_wait
            )
            if reason is not None:
                with self.lock:
                    self._unopened(self.store.stored_session(record.session_id), reason)

    def _unopened(self, record: SessionRecord, reason: str) -> None:
        self.store.set_unopened(record.session_id)
        self.peers.apply()
        self.meters.meters.pop(record.session_id, None)
        self.settle_at.pop(record.session_id, None)
        self.activity.forget(record.session_id)
        self.handshake.refuse_openings_of(record.opener)
        self.count_error("opening")
        log.warning(
            "session %d never opened: %s; it carried %d bytes unpaid, and %s's next openings wait for their block",
            record.session_id,
            reason,
            record.measured_bytes,
            record.opener,
        )

    def _ended_on_chain(self, session_id: int, state: str) -> None:
        record = self.store.session(session_id)
        if record is None or record.state in ("settled", "refunded"):
            return
        self.store.set_state(session_id, state)
        self.peers.apply()
        self.settle_at.pop(session_id, None)
        self.checkpoint_refused.pop(session_id, None)
        self.activity.forget(session_id)
        log.info("session %d was %s on chain: peer removed", session_id, state)

    def _closed_by_owner(self, session_id: int) -> None:
        """The tailnet owner closed the session (its opener lost its authority): stop serving, settle now. The
        deadline stays the one promised at opening (the close repeats it)."""
        record = self.store.session(session_id)
        if record is not None and record.state == "active":
            self.meters.end(session_id, "closed by the tailnet owner")
            log.info("session %d was closed by its tailnet owner: peer removed, settling", session_id)

    def _end_idle_and_expiring(self, now: float) -> None:
        for record in self.store.sessions("active"):
            # The contract's clock never runs ahead of wall time, so its deadline read as wall time is never late.
            deadline = record.settle_by if record.settle_by is not None else record.opened_at + self.grace
            if deadline - self.settle_margin <= now:
                self.meters.end(record.session_id, "its settlement deadline is near")
            elif record.parked_at is not None:  # no device: nothing to be idle, until the keep-alive passes
                self.activity.forget(record.session_id)  # a device that joins again starts a fresh idle watch
                if now - record.parked_at >= self.settings.keep_alive:
                    self.meters.end(record.session_id, "left open without a device for the keep-alive")
            elif self.activity.idle(record.session_id, record.measured_bytes, now):
                if record.signs_receipts:  # its device (asleep, say) joins it again when it is back
                    self.meters.park(record.session_id, int(now))
                    log.info("session %d idle: left open for its device to join again", record.session_id)
                else:  # a plain WireGuard app cannot join again: settle it
                    self.meters.end(record.session_id, "idle")

    def _settle_due(self, now: float) -> None:
        with self.lock:  # due: its last receipt came, or the wait for it is over
            due = []
            for session_id, at in sorted(self.settle_at.items()):
                record = self.store.stored_session(session_id)
                if record.opening:
                    continue  # settled once its open is mined
                if now >= at or self.meters.meter(record).fully_signed:
                    due.append(session_id)
        outage: RpcUnreachable | None = None
        for session_id, outcome in self.settler.settle_all(due[:MAX_BATCH]):  # the rest in the next pass
            if isinstance(outcome, ContractRevert):
                # Not retried here: the store keeps it pending and the next start looks at the chain again.
                self.count_error("settlement")
                with self.lock:
                    self.settle_at.pop(session_id, None)
                log.error("settling session %d was refused by the contract: %s", session_id, outcome)
                continue
            if isinstance(outcome, ChainError):
                self.count_error("settlement")
                with self.lock:
                    self.settle_at[session_id] = now + RETRY_SECONDS
                if isinstance(outcome, RpcUnreachable):
                    outage = outcome  # an outage: said once by watch_chain
                else:
                    log.warning("settling session %d failed, retrying in %.0fs: %s", session_id, RETRY_SECONDS, outcome)
                continue
            with self.lock:
                self.settle_at.pop(session_id, None)
            if outcome.method == "skipped":
                # Stays reserved, like a refused settlement: the next start looks at the chain again.
                self.count_error("settlement")
                log.error("the settlement of session %d was skipped by the contract: %s", session_id, outcome.reason)
            elif outcome.method == "claim":
                log.info(
                    "session %d: claimed %d bytes (tx %s); it settles when the opener confirms",
                    session_id,
                    outcome.bytes_used,
                    outcome.tx_hash,
                )
            else:
                log.info(
                    "session %d settled by %s for %d bytes (tx %s)",
                    session_id,
                    outcome.method,
                    outcome.bytes_used,
                    outcome.tx_hash,
                )
        if outage is not None:
            raise outage

    def _checkpoint_threshold(self) -> int | None:
        """The least a session must owe before a checkpoint; None: no checkpoints."""
        if self.settings.checkpoint_at:
            return self.settings.checkpoint_at
        if not self.settings.checkpoint_multiple or self.client.asset != NATIVE:
            return None
        return checkpoint_threshold(gas_price=self.client.gas_price(), multiple=self.settings.checkpoint_multiple)

    def _checkpoint_due(self) -> None:
        """Be paid for what receipts prove while sessions stay open, once that is worth a checkpoint's fee: all
        that are due in one transaction (a batch skips one the contract refuses, and says why)."""
        with self.lock:
            owed = []
            for record in self.store.sessions("active"):
                if record.opening:
                    continue
                latest = self.store.latest_receipt(record.session_id)
                if latest is None or latest[0].seq <= self.checkpoint_refused.get(record.session_id, -1):
                    continue
                if latest[0].bytes_used > record.paid_bytes:
                    value = pay(latest[0].bytes_used, record.price_per_mb) - pay(record.paid_bytes, record.price_per_mb)
                    owed.append((value, latest))
        if not owed:
            return
        threshold = self._checkpoint_threshold()
        due = [
            Settlement(receipt.session_id, receipt.seq, receipt.bytes_used, signature, final=False)
            for value, (receipt, signature) in owed
            if threshold is not None and value >= threshold
        ][:MAX_BATCH]  # the rest in the next pass
        if not due:
            return
        try:
            result = (
                self.client.checkpoint(due[0].session_id, due[0].seq, due[0].bytes_used, due[0].signature)
                if len(due) == 1
                else self.client.settle_batch(due)
            )
        except ContractRevert as exc:
            self.count_error("settlement")
            self.checkpoint_refused[due[0].session_id] = due[0].seq
            log.error("a checkpoint of session %d was refused by the contract: %s", due[0].session_id, exc)
            return
        with self.lock:
            for event in result.events:
                if event.name == "SessionCheckpointed":
                    self.store.set_paid_bytes(event.args["session_id"], event.args["bytes_used"])
                    log.info(
                        "session %d checkpointed: paid for %d bytes (tx %s)",
                        event.args["session_id"],
                        event.args["bytes_used"],
                        result.tx_hash,
                    )
                if event.name == "SettlementSkipped":
                    self.count_error("settlement")
                    skipped = next(item for item in due if item.session_id == event.args["session_id"])
                    self.checkpoint_refused[skipped.session_id] = skipped.seq
                    log.warning(
                        "the checkpoint of session %d was skipped: %s", event.args["session_id"], event.args["reason"]
                    )

    # -------------------------------------------------------------- API
    def app(self) -> FastAPI:
        app = create_app(self.handshake, self.receipts)

        @app.middleware("http")
        async def count_responses(request: Request, call_next):
            response = await call_next(request)
            route = request.scope.get("route")
            path = getattr(route, "path", "unknown")
            with self.stats_lock:
                self.responses[(path, response.status_code)] += 1
            if response.status_code >= 500:
                self.count_error("api")
            return response

        return app

    def count_error(self, kind: str) -> None:
        with self.stats_lock:
            self.errors[kind] += 1

    def collector(self) -> NodeCollector:
        return NodeCollector(
            store=self.store, lock=self.lock, stats_lock=self.stats_lock, errors=self.errors, responses=self.responses
        )
