"""Joining an exit: find it on chain, open (or reuse) a session, and ask the exit to add our WireGuard key.

`Connector` does the chain and handshake-API steps and nothing to the host's
network (that is `octravpn.host.tunnel`). The exit's answer is checked
against the chain: plain HTTP is fine because only the WireGuard key the exit
registered on chain can complete a handshake with us.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from octravpn.addresses import to_checksum_address
from octravpn.chain.client import OctraVPN
from octravpn.chain.errors import ChainError, ContractRevert
from octravpn.chain.transactions import Signed
from octravpn.client.exit_api import ExitAPI
from octravpn.errors import ServiceError, UsageError
from octravpn.protocol.eip712 import Domain, PeerRequest, sign
from octravpn.protocol.exitwire import LeaveAsk, OpeningAsk, ParkAsk, PeerAsk, PeerGrant, WireFormatError
from octravpn.protocol.sessions import STATUS_OPEN
from octravpn.wireguard.config import WireGuardConfigError, split_endpoint
from octravpn.wireguard.keys import encode_key

log = logging.getLogger("octravpn.client")


class ConnectError(ServiceError):
    """An exit cannot be reached as the chain lists it (its host does not resolve)."""


@dataclass(frozen=True)
class Located:
    """An exit as the chain lists it, and where to reach it."""

    address: str
    wg_pubkey: bytes  # as registered: what its handshake answer must carry
    price_per_mb: int  # as listed when it was located
    ip: str
    port: int
    receipt_signer: str

    @property
    def endpoint(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.ip}:{self.port}"


@dataclass(frozen=True)
class Terms:
    """A session's terms, as the chain set them when it opened (`opening`: as its open transaction, sent and not
    known to be mined, sets them at most)."""

    session_id: int
    tailnet_id: int
    deposit: int
    price_per_mb: int
    opening: Signed | None = None

    @property
    def open_tx(self) -> str | None:
        return "0x" + self.opening.raw.hex() if self.opening else None


@dataclass(frozen=True)
class Joined:
    """What the exit answered to the handshake, checked against the chain."""

    session_id: int
    exit_public_key: bytes
    client_address: str
    exit_address: str
    dns: tuple[str, ...]


def resolve_ipv4(host: str) -> str:
    try:
        return str(socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0])
    except (socket.gaierror, IndexError) as exc:
        raise ConnectError(f"cannot resolve the exit's host {host!r}: {exc}") from exc


class Connector:
    def __init__(self, *, client: OctraVPN, account: LocalAccount, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.account = account
        self.clock = clock
        self.domain = Domain(chain_id=client.w3.eth.chain_id, verifying_contract=client.address)

    def locate(self, exit_addr: str) -> Located:
        registered = self.client.endpoint(exit_addr)
        if registered.registered_at == 0:
            raise UsageError(f"{exit_addr} is not a registered exit: see `octravpn exits list --all`")
        try:
            host, port = split_endpoint(registered.endpoint)
        except WireGuardConfigError as exc:
            raise ConnectError(f"the exit's registered endpoint is unusable: {exc}") from exc
        return Located(
            address=to_checksum_address(exit_addr),
            wg_pubkey=registered.wg_pubkey,
            price_per_mb=registered.price_per_mb,
            ip=resolve_ipv4(host),
            port=port,
            receipt_signer=to_checksum_address(registered.receipt_signer),
        )

    def reusable(self, exit_addr: str, session_id: int, *, required: bool) -> bool:
        """Whether `session_id` is an open session of this key on `exit_addr` (`required`: or say why not)."""
        try:
            session = self.client.session(session_id)
        except ChainError:
            if required:
                raise
            return False
        usable = (
            session.status == STATUS_OPEN
            and to_checksum_address(session.exit) == exit_addr
            and to_checksum_address(session.opener) == self.account.address
        )
        if required and not usable:
            raise UsageError(f"session {session_id} is not an open session of this device on {exit_addr}")
        return usable

    def terms(self, session_id: int) -> Terms:
        session = self.client.session(session_id)
        return Terms(
            session_id=session_id,
            tailnet_id=session.tailnet_id,
            deposit=session.deposit,
            price_per_mb=session.price_per_mb,
        )

    def begin_session(self, exit_addr: str, tailnet_id: int | None, max_pay: int | None, max_price: int) -> Terms:
        """Send a new session's open at most at `max_price` per MB (the price the exit was chosen at), and return
        without waiting for it to be mined: its id is known (`opened` waits)."""
        if not self.client.is_active(exit_addr):
            raise UsageError(f"exit {exit_addr} takes no new sessions (retired, slashed or under-bonded)")
        tailnet_id = self.tailnet_for(exit_addr) if tailnet_id is None else tailnet_id
        deposit = max_pay if max_pay is not None else self.client.params().min_session_deposit
        try:
            sid, signed = self.client.prepare_open_session(tailnet_id, exit_addr, deposit, max_price)
        except ContractRevert as exc:
            if exc.reason != "exit price above max_price_per_mb":
                raise
            now = self.client.endpoint(exit_addr).price_per_mb
            raise ConnectError(
                f"exit {exit_addr} raised its price to {now} per MB after it was chosen at {max_price}: "
                "no session was opened; choose the exit again"
            ) from exc
        self.client.broadcast(signed)
        log.info("opening session %d on tailnet %d (deposit %d, tx %s)", sid, tailnet_id, deposit, signed.tx_hash)
        return Terms(session_id=sid, tailnet_id=tailnet_id, deposit=deposit, price_per_mb=max_price, opening=signed)

    def opened(self, terms: Terms) -> Terms:
        """Wait for a session's open to be mined; its terms from the transaction's `SessionOpened` event."""
        if terms.opening is None:
            return terms
        result = self.client.mined(terms.opening)
        opened = result.event("SessionOpened").args
        log.info("session %d opened (tx %s)", terms.session_id, result.tx_hash)
        return Terms(
            session_id=opened["session_id"],
            tailnet_id=opened["tailnet_id"],
            deposit=opened["deposit"],
            price_per_mb=opened["price_per_mb"],
        )

    def member(self) -> str | None:
        """The member wallet this key acts for: itself if it is a member's own key, else the wallet it is a device
        of; None if it is neither (an unregistered device)."""
        owner = self.client.device_owner(self.account.address)
        return to_checksum_address(owner) if int(owner, 16) else None

    def tailnet_for(self, exit_addr: str) -> int:
        """The one tailnet the member this key acts for belongs to that allows the exit."""
        member = self.member() or self.account.address
        found = [
            t
            for t in range(self.client.tailnet_count())
            if self.client.is_member(t, member) and self.client.is_exit(t, exit_addr)
        ]
        if len(found) != 1:
            which = "none" if not found else ", ".join(map(str, found))
            raise UsageError(f"pass --tailnet: tailnets of {member} that allow this exit: {which}")
        return found[0]


def join(
    domain: Domain,
    account: LocalAccount,
    api_url: str,
    registered_key: bytes,
    session_id: int,
    public_key: bytes,
    *,
    clock: Callable[[], float],
    signs_receipts: bool = True,
    open_tx: bytes | None = None,
) -> Joined:
    """Ask the exit to add this device's WireGuard `public_key` as the session's peer; its answer must carry the
    key registered on chain. Needs only the exit's API, not the chain (a rejoin works while the chain is
    unreachable). `open_tx`: the session's open transaction, not mined yet (the exit may take the device
    meanwhile, or refuse with a 409: then join once it is mined)."""
    request = PeerRequest(session_id=session_id, wg_pubkey=public_key, timestamp=int(clock()), receipts=signs_receipts)
    ask = PeerAsk(request=request, signature=sign(domain, request, account.key))
    try:
        with ExitAPI(api_url, timeout=5.0) as api:
            if open_tx is None:
                answer = api.add_peer(ask.to_json())
            else:
                answer = api.add_opening_peer(OpeningAsk(ask=ask, open_tx=open_tx).to_json())
            grant = PeerGrant.from_json(answer)
    except WireFormatError as exc:
        raise ConnectError(str(exc)) from exc
    exit_key = grant.exit_public_key
    joined = Joined(
        session_id=session_id,
        exit_public_key=exit_key,
        client_address=grant.client_address,
        exit_address=grant.exit_address,
        dns=grant.dns,
    )
    if exit_key != registered_key:
        raise ConnectError(
            f"the exit answered with WireGuard key {encode_key(exit_key)}, not the one it registered "
            f"({encode_key(registered_key)}): refusing to connect"
        )
    return joined


class Timestamps:
    """Seconds for this device's signed requests to exits, strictly increasing: two requests in one second (a
    `down` right after an `up`) are two requests, not a replay, and an exit takes a session's requests only in
    this order. A few seconds ahead of the clock at most, well within the exit's freshness window."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.last = 0

    def __call__(self) -> int:
        self.last = max(int(self.clock()), self.last + 1)
        return self.last


def leave_request(
    domain: Domain, account: LocalAccount, session_id: int, *, clock: Callable[[], float], park: bool = False
) -> dict:
    """The signed body of the handshake API's `close` (ends the session with the exit) or `park` (disconnects and
    leaves it open)."""
    ask = ParkAsk if park else LeaveAsk
    request = ask.request(session_id, int(clock()))
    return ask(timestamp=request.timestamp, signature=sign(domain, request, account.key)).to_json()
