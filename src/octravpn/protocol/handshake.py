"""The exit's decision on a `PeerRequest` (a join, or for the all-zero key a leave, checked alike): pure, given
what the agent read on chain.

A client asks the exit to add its WireGuard key as a peer for a session. The
exit accepts only when:
- the request is fresh (its timestamp within `FRESHNESS_SECONDS` of now), and
  not one it accepted before (replays are remembered until they go stale);
- it is signed by the session's opener, or by a device of the opener's wallet;
- the session is open and served by this exit.
Every refusal is a `RemoteProtocolError` whose message is the reason the
handshake API returns to the client (a `HandshakeRefused` carries its status).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from eth_utils import to_checksum_address

from octravpn.protocol.eip712 import Domain, PeerRequest, digest, recover
from octravpn.protocol.errors import RemoteProtocolError

FRESHNESS_SECONDS = 120
SESSION_OPEN = 0


class HandshakeRefused(RemoteProtocolError):
    """A refusal with the HTTP status the handshake API answers with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, kw_only=True)
class SessionView:
    """The on-chain facts about the session that the decision needs."""

    session_id: int
    exit: str
    opener: str
    status: int


@dataclass(frozen=True, kw_only=True)
class AcceptedPeer:
    session_id: int
    wg_pubkey: bytes
    signer: str


@dataclass
class ReplayGuard:
    """Remembers accepted requests until they could no longer pass the freshness check."""

    seen: dict[bytes, int] = field(default_factory=dict)  # request digest -> its timestamp

    def check_and_remember(self, request_digest: bytes, timestamp: int, now: int) -> None:
        for old, stamp in list(self.seen.items()):
            if stamp < now - FRESHNESS_SECONDS:
                del self.seen[old]
        if request_digest in self.seen:
            raise HandshakeRefused(409, "replayed peer request: sign a new one with the current time")
        self.seen[request_digest] = timestamp


def check_peer_request(
    *,
    domain: Domain,
    request: PeerRequest,
    signature: bytes,
    session: SessionView | None,
    this_exit: str,
    device_owner_of: Callable[[str], str | None],
    now: int,
    replays: ReplayGuard,
) -> AcceptedPeer:
    """Accept or refuse. `device_owner_of(address)` answers from chain state which
    wallet a device acts for; it is asked only when the signer is not the opener."""
    if abs(now - request.timestamp) > FRESHNESS_SECONDS:
        raise HandshakeRefused(
            401,
            f"stale peer request: timestamp {request.timestamp} is more than "
            f"{FRESHNESS_SECONDS}s from the exit's clock ({now})",
        )
    if session is None or session.session_id != request.session_id:
        raise HandshakeRefused(404, f"session {request.session_id} does not exist")
    if to_checksum_address(session.exit) != to_checksum_address(this_exit):
        raise HandshakeRefused(403, f"session {request.session_id} is served by another exit")
    if session.status != SESSION_OPEN:
        raise HandshakeRefused(409, f"session {request.session_id} is not open (settled or refunded)")
    signer = recover(domain, request, signature)
    opener = to_checksum_address(session.opener)
    owner = device_owner_of(signer) if signer != opener else opener
    if owner is None or to_checksum_address(owner) != opener:
        raise HandshakeRefused(403, "peer request is not signed by the session opener or one of its devices")
    replays.check_and_remember(digest(domain, request), request.timestamp, now)
    return AcceptedPeer(session_id=request.session_id, wg_pubkey=request.wg_pubkey, signer=signer)
