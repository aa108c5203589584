"""The exit's WireGuard peers, declared by its store.

Every active session with a tunnel address and a device connected (not left
open, "parked") is a peer with the client's key and that /32, and nothing
else is. Whatever changes a session in the store (a
handshake, a cut, the chain ending it, a restart) then calls `apply`, which
brings the interface to that set in one `Engine.reconfig`: a no-op when
nothing differs, and peers that did not change keep their WireGuard sessions
and counters (`wg syncconf`). There is no other place that adds or removes a
peer, so the interface can never drift from the store.

A session taken while its open is being mined (`node.opening`) that has carried its `opening_budget` keeps its
peer with no allowed IPs until the open is mined: WireGuard keeps the handshake and carries nothing for it. So
does a session cut while the store could not record the cut (`withheld`), until it can.
"""

from __future__ import annotations

from dataclasses import dataclass

from octravpn.node.store import NodeStore, SessionRecord
from octravpn.wireguard.config import InterfaceConfig, PeerConfig
from octravpn.wireguard.engine import Engine


@dataclass(frozen=True, kw_only=True)
class ExitInterface:
    name: str
    private_key: bytes
    listen_port: int
    address: str  # the exit's own, with the tunnel network's prefix length


class PeerSet:
    def __init__(self, *, engine: Engine, store: NodeStore, interface: ExitInterface, opening_budget: int = 0) -> None:
        self.engine = engine
        self.store = store
        self.interface = interface
        self.opening_budget = opening_budget
        # Sessions cut while the store could not record it: their peers carry nothing meanwhile (and their counters
        # stay readable, so the cut is decided again, and recorded, once the store can).
        self.withheld: set[int] = set()

    def held(self, record: SessionRecord) -> bool:
        """Whether the session's peer carries nothing: its open is not mined and it carried its budget, or it was
        cut while the store could not record it."""
        return record.session_id in self.withheld or (record.opening and record.measured_bytes >= self.opening_budget)

    def desired(self) -> InterfaceConfig:
        peers = tuple(
            PeerConfig(public_key=r.wg_pubkey, allowed_ips=() if self.held(r) else (f"{r.tunnel_address}/32",))
            for r in self.store.sessions("active")
            if r.tunnel_address and r.parked_at is None
        )
        return InterfaceConfig(
            name=self.interface.name,
            private_key=self.interface.private_key,
            listen_port=self.interface.listen_port,
            addresses=(self.interface.address,),
            peers=peers,
        )

    def bring_up(self) -> bool:
        """Create the interface if need be, with exactly the store's peers."""
        return self.engine.up(self.desired())

    def apply(self) -> bool:
        """Bring the interface's peers to the store's; True if anything changed."""
        return self.engine.sync_peers(self.desired())
