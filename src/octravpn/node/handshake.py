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
from octravpn.node.peers import PeerSet
from octravpn.node.store import NodeStore, SessionRecord
from octravpn.protocol.eip712 import Domain, PeerRequest
from octravpn.protocol.exitwire import LEAVE_KEY, PARK_KEY, LeaveAsk, PeerAsk, PeerGrant, WireFormatError
from octravpn.protocol.handshake import (
    AcceptedPeer,
    HandshakeRefused,
    ReplayGuard,
    SessionView,
    check_peer_request,
)


class ChainView(Protocol):
    """What the handshake reads from the chain."""

    def session(self, session_id: int) -> Session | None: ...
    def device_owner(self, address: str) -> str | None: ...
    def is_receipt_signer(self, session_id: int, signer: str) -> bool: ...


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

    def _check(self, request: PeerRequest, signature: bytes) -> tuple[AcceptedPeer, Session]:
        session = self.chain.session(request.session_id)  # no lock held: requests for other sessions go on
        view = (
            None
            if session is None
            else SessionView(
                session_id=request.session_id, exit=session.exit, opener=session.opener, status=session.status
            )
        )
        with self.checking:  # the replay guard remembers one request at a time
            accepted = check_peer_request(
                domain=self.domain,
                request=request,
                signature=signature,
                session=view,
                this_exit=self.identity.operator,
                device_owner_of=self.chain.device_owner,
                now=int(self.clock()),
                replays=self.replays,
            )
        assert session is not None  # check_peer_request refused a missing session
        return accepted, session

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
        ask = parse_request(body)
        if ask.request.wg_pubkey == LEAVE_KEY:
            raise BadRequest("the all-zero key is a leave request: POST it to /v1/sessions/{id}/close")
        if ask.request.wg_pubkey == PARK_KEY:
            raise BadRequest("the all-ones key asks to park the session: POST it to /v1/sessions/{id}/park")
        accepted, session = self._check(ask.request, ask.signature)
        with self.lock:
            # `receipts: false` (signed with the request) stops the exit waiting for receipts; it settles by claim.
            return self._add(accepted, session, ask.receipts, ask.request.timestamp)

    def _add(self, accepted: AcceptedPeer, session: Session, signs_receipts: bool, timestamp: int) -> dict:
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
            tailnet_id=session.tailnet_id,
            opener=session.opener,
            deposit=session.deposit,
            price_per_mb=session.price_per_mb,
            wg_pubkey=accepted.wg_pubkey,
            opened_at=session.opened_at,
            signs_receipts=signs_receipts,
            settle_by=session.settle_by,
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
