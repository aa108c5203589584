"""The exit's handshake: a client's signed `PeerRequest` becomes a WireGuard peer.

`HandshakeService` is the logic (decide with the protocol core, then record in
the store, then configure WireGuard, in that order, so a refusal changes
nothing); `octravpn.node.api` is the thin HTTP layer in front of it. The
decision reads the chain outside the agent's `lock`, which guards only the
store and WireGuard, so a stalled chain never holds up metering or receipts.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from octravpn.chain.client import OctraVPN
from octravpn.chain.errors import ChainError, ContractRevert
from octravpn.chain.records import Session
from octravpn.node.opening import (
    REFUSAL_SECONDS,
    OpenTransaction,
    check_on_chain,
    check_open,
    decode_open,
)
from octravpn.node.peers import PeerSet
from octravpn.node.store import NodeStore, SessionRecord
from octravpn.protocol.eip712 import Domain, PeerRequest
from octravpn.protocol.exitwire import LEAVE_KEY, PARK_KEY, LeaveAsk, OpeningAsk, PeerAsk, PeerGrant, WireFormatError
from octravpn.protocol.handshake import (
    SESSION_OPEN,
    AcceptedPeer,
    HandshakeRefused,
    ReplayGuard,
    SessionView,
    check_peer_request,
)


class ChainView(Protocol):
    """What the handshake reads from the chain (and, of an opening, `node.opening.OpeningChain`)."""

    def session(self, session_id: int) -> Session | None: ...
    def device_owner(self, address: str) -> str | None: ...
    def is_receipt_signer(self, session_id: int, signer: str) -> bool: ...
    def decode_open(self, raw: bytes) -> OpenTransaction: ...
    def nonces(self, address: str) -> tuple[int, int]: ...
    def base_fee(self) -> int | None: ...
    def simulate(self, call: dict) -> None: ...
    def send_raw(self, raw: bytes) -> None: ...


class ContractChainView:
    """`ChainView` over the deployed contract. `on_failure` hears of every read that failed for want of
    a chain (the agent pauses its judging of clients' signing lag: see `SigningClock`)."""

    def __init__(self, client: OctraVPN, on_failure: Callable[[ChainError], None] = lambda exc: None) -> None:
        self.client = client
        self.on_failure = on_failure

    def _read(self, view: Callable, *args):
        """One chain read; a failure for want of a chain (not a revert) is reported to `on_failure`."""
        try:
            return view(*args)
        except ChainError as exc:
            if not isinstance(exc, ContractRevert):
                self.on_failure(exc)
            raise

    def session(self, session_id: int) -> Session | None:
        try:
            return self._read(self.client.session, session_id)
        except ContractRevert as exc:
            if exc.reason == "session not found":
                return None
            raise

    def device_owner(self, address: str) -> str | None:
        owner = self._read(self.client.device_owner, address)
        return None if int(owner, 16) == 0 else owner

    def is_receipt_signer(self, session_id: int, signer: str) -> bool:
        """The contract's own rule (`is_receipt_signer`): the exit accepts exactly the receipts it can settle."""
        return self._read(self.client.is_receipt_signer, session_id, signer)

    def decode_open(self, raw: bytes) -> OpenTransaction:
        return decode_open(raw, self.client.contract)

    def nonces(self, address: str) -> tuple[int, int]:
        return self._read(self.client.nonces, address)

    def base_fee(self) -> int | None:
        return self._read(self.client.base_fee)

    def simulate(self, call: dict) -> None:
        self._read(self.client.simulate, call)

    def send_raw(self, raw: bytes) -> None:
        self._read(self.client.send_raw, raw)


@dataclass(frozen=True, kw_only=True)
class ExitIdentity:
    operator: str
    wg_public_key: bytes
    endpoint: str  # host:port clients dial
    interface: str
    tunnel_network: ipaddress.IPv4Network
    dns: tuple[str, ...] = ()

    @property
    def exit_address(self) -> str:
        """The exit's own tunnel address: the first host of the network."""
        return str(next(self.tunnel_network.hosts()))


class BadRequest(HandshakeRefused):
    def __init__(self, reason: str) -> None:
        super().__init__(400, reason)


def parse_request(body: object) -> PeerAsk:
    """The request and its signature from the JSON body, or a 400 saying what is wrong."""
    try:
        return PeerAsk.from_json(body)
    except WireFormatError as exc:
        raise BadRequest(str(exc)) from exc


@dataclass(frozen=True, kw_only=True)
class Terms:
    """What the exit stores of a session it takes: from the chain, or from the open transaction still pending."""

    tailnet_id: int
    opener: str
    deposit: int
    price_per_mb: int
    opened_at: int
    settle_by: int | None
    open_tx: str | None = None  # the open's hash while it is not mined

    @classmethod
    def of(cls, session: Session) -> Terms:
        return cls(
            tailnet_id=session.tailnet_id,
            opener=session.opener,
            deposit=session.deposit,
            price_per_mb=session.price_per_mb,
            opened_at=session.opened_at,
            settle_by=session.settle_by,
        )


class HandshakeService:
    def __init__(
        self,
        *,
        domain: Domain,
        identity: ExitIdentity,
        chain: ChainView,
        store: NodeStore,
        peers: PeerSet,
        clock: Callable[[], float] = time.time,
        lock: threading.RLock | None = None,
        takes_openings: bool = True,
    ) -> None:
        self.lock = lock or threading.RLock()
        self.checking = threading.Lock()  # the replay guard's memory
        self.domain = domain
        self.identity = identity
        self.chain = chain
        self.store = store
        self.peers = peers
        self.clock = clock
        self.replays = ReplayGuard()
        self.takes_openings = takes_openings  # False: no session is served before its open is mined
        self.refused_openers: dict[str, float] = {}  # sender -> until when its openings are refused

    def _check(self, request: PeerRequest, signature: bytes) -> tuple[AcceptedPeer, Terms]:
        session = self.chain.session(request.session_id)  # no lock held: requests for other sessions go on
        if session is not None:
            return self._accept(request, signature, session.exit, session.opener, session.status), Terms.of(session)
        with self.lock:
            known = self.store.session(request.session_id)
        if known is None or known.open_tx is None:
            self._accept(request, signature, None, None, None)
            raise AssertionError("check_peer_request took a session that does not exist")
        # Its open is not mined yet: the exit took it as an opening, from its opener's key alone.
        accepted = self._accept(request, signature, self.identity.operator, known.opener, SESSION_OPEN)
        return accepted, Terms(
            tailnet_id=known.tailnet_id,
            opener=known.opener,
            deposit=known.deposit,
            price_per_mb=known.price_per_mb,
            opened_at=known.opened_at,
            settle_by=known.settle_by,
            open_tx=known.open_tx,
        )

    def _accept(
        self, request: PeerRequest, signature: bytes, exit: str | None, opener: str | None, status: int | None
    ) -> AcceptedPeer:
        """`check_peer_request` against the session's facts (None: no such session)."""
        view = (
            None
            if exit is None or opener is None or status is None
            else SessionView(session_id=request.session_id, exit=exit, opener=opener, status=status)
        )
        with self.checking:  # the replay guard remembers one request at a time
            return check_peer_request(
                domain=self.domain,
                request=request,
                signature=signature,
                session=view,
                this_exit=self.identity.operator,
                device_owner_of=self.chain.device_owner,
                now=int(self.clock()),
                replays=self.replays,
            )

    def check_leave(self, session_id: int, body: object, *, ask: type[LeaveAsk] = LeaveAsk) -> None:
        """A signed leave request (a `PeerRequest` for the all-zero key; to park, `ParkAsk`'s all-ones key) for a
        session served here."""
        try:
            request, signature = ask.from_json(session_id, body)
        except WireFormatError as exc:
            raise BadRequest(str(exc)) from exc
        with self.lock:
            known = self.store.session(session_id)
        if known is None:
            raise HandshakeRefused(404, f"session {session_id} is not served here")
        self._check(request, signature)
        with self.lock:
            self._in_order(self.store.session(session_id), request.timestamp)

    def _in_order(self, known: SessionRecord | None, timestamp: int) -> None:
        """Take the session's requests in the order they were signed: one older than a request already taken is
        a replay (say, of a park, captured on the plain-HTTP path, sent after a restart of this exit emptied the
        replay guard, which would take the device's key away under it)."""
        if known is None:
            return
        if known.last_request_at is not None and timestamp <= known.last_request_at:
            raise HandshakeRefused(
                409, f"a request older than one already taken for session {known.session_id}: sign a new one"
            )
        self.store.set_last_request(known.session_id, timestamp)

    def handle(self, body: object) -> dict:
        return self._join(parse_request(body))

    def _join(self, ask: PeerAsk) -> dict:
        _not_a_leave(ask)
        accepted, terms = self._check(ask.request, ask.signature)
        with self.lock:
            # `receipts: false` (signed with the request) stops the exit waiting for receipts; it settles by claim.
            return self._add(accepted, terms, ask.receipts, ask.request.timestamp)

    def handle_opening(self, body: object) -> dict:
        """A join for a session whose open transaction is not mined yet (see `node.opening`)."""
        try:
            opening_ask = OpeningAsk.from_json(body)
        except WireFormatError as exc:
            raise BadRequest(str(exc)) from exc
        ask, raw = opening_ask.ask, opening_ask.open_tx
        _not_a_leave(ask)
        if not self.takes_openings:
            raise HandshakeRefused(
                409, "this exit serves no session before its open is mined: wait for the block and join it then"
            )
        session_id = ask.request.session_id
        if self.chain.session(session_id) is not None:  # mined meanwhile: an ordinary join
            return self._join(ask)
        opening = self.chain.decode_open(raw)
        accepted = self._accept(ask.request, ask.signature, opening.exit, opening.sender, SESSION_OPEN)
        check_open(
            opening, domain=self.domain, session_id=session_id, signer=accepted.signer, this_exit=self.identity.operator
        )
        now = self.clock()
        if self.refused_openers.get(opening.sender, 0.0) > now:
            raise HandshakeRefused(
                409,
                f"an earlier opening of {opening.sender} never landed: this exit serves its sessions once their "
                "open is mined",
            )
        check_on_chain(opening, raw, self.chain)  # mined since the first read: a 409, and the device joins as usual
        terms = Terms(
            tailnet_id=opening.tailnet_id,
            opener=opening.sender,
            deposit=opening.deposit,
            price_per_mb=opening.max_price_per_mb,  # at most: the chain's own price comes with the open
            opened_at=int(now),
            settle_by=None,
            open_tx=opening.tx_hash,
        )
        with self.lock:
            return self._add(accepted, terms, ask.receipts, ask.request.timestamp)

    def refuse_openings_of(self, sender: str) -> None:
        """An opening of `sender` never landed: its next ones wait for their block."""
        now = self.clock()
        self.refused_openers = {s: t for s, t in self.refused_openers.items() if t > now}  # bounded by the live
        self.refused_openers[sender] = now + REFUSAL_SECONDS

    def _add(self, accepted: AcceptedPeer, terms: Terms, signs_receipts: bool, timestamp: int) -> dict:
        known = self.store.session(accepted.session_id)
        self._in_order(known, timestamp)
        if known is not None and known.state != "active":
            # Still open on chain until settled, but the exit ended it (unsigned usage
            # or a spent deposit): a new handshake must not undo that.
            raise HandshakeRefused(
                409, f"session {accepted.session_id} was ended by the exit ({known.state}): open a new session"
            )
        self.store.add_session(
            session_id=accepted.session_id,
            tailnet_id=terms.tailnet_id,
            opener=terms.opener,
            deposit=terms.deposit,
            price_per_mb=terms.price_per_mb,
            wg_pubkey=accepted.wg_pubkey,
            opened_at=terms.opened_at,
            signs_receipts=signs_receipts,
            settle_by=terms.settle_by,
            open_tx=terms.open_tx,
        )
        if known is None:
            self.store.set_last_request(accepted.session_id, timestamp)
        previous = self.store.stored_session(accepted.session_id).wg_pubkey
        address = self.store.allocate_address(
            accepted.session_id, self.identity.tunnel_network, reserved=(self.identity.exit_address,)
        )
        if previous != accepted.wg_pubkey:  # the opener moved the session to another key
            self.store.set_wg_pubkey(accepted.session_id, accepted.wg_pubkey)
        if self.store.stored_session(accepted.session_id).parked_at is not None:  # a device joins it again
            self.store.set_parked(accepted.session_id, None)
        self.peers.apply()
        return PeerGrant(
            session_id=accepted.session_id,
            exit_public_key=self.identity.wg_public_key,
            endpoint=self.identity.endpoint,
            client_address=f"{address}/{self.identity.tunnel_network.prefixlen}",
            exit_address=self.identity.exit_address,
            dns=tuple(self.identity.dns),
        ).to_json()


def _not_a_leave(ask: PeerAsk) -> None:
    if ask.request.wg_pubkey == LEAVE_KEY:
        raise BadRequest("the all-zero key is a leave request: POST it to /v1/sessions/{id}/close")
    if ask.request.wg_pubkey == PARK_KEY:
        raise BadRequest("the all-ones key asks to park the session: POST it to /v1/sessions/{id}/park")
