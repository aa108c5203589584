"""The mesh interface a device wants, from its network map and its compiled filter. Pure.

Its peers are exactly the devices the policy lets this device reach or be reached by (the filter's `peers`)
that announced themselves: each with its announced WireGuard key, its first announced endpoint, and its own
two tailnet addresses as allowed IPs (WireGuard's cryptokey routing then drops a packet from a peer that
claims another device's address). The daemon applies this through `Engine.reconfig`, one step, as the exit
does its peers.
"""

from __future__ import annotations

import ipaddress

from octravpn.acl.compile import DeviceFilter
from octravpn.mesh.netmap import NetMap
from octravpn.protocol.announce import format_endpoint, parse_endpoint
from octravpn.wireguard.config import InterfaceConfig, PeerConfig

KEEPALIVE_SECONDS = 25  # keeps a NAT's mapping open towards each peer


def mesh_config(
    netmap: NetMap,
    device_filter: DeviceFilter,
    *,
    name: str,
    private_key: bytes,
    listen_port: int,
    endpoints: dict[str, str | None] | None = None,
) -> InterfaceConfig:
    """`endpoints`: the endpoint chosen for each peer (`mesh.paths`); without it, each peer's first announced."""
    me = netmap.network.device(device_filter.device)
    peers = []
    for key in sorted(device_filter.peers):
        peer = netmap.peers.get(key)
        if peer is None or key == me.key:
            continue  # not announced yet: nothing to configure
        v4, v6 = peer.addresses
        endpoint = endpoints.get(key) if endpoints is not None else (peer.endpoints[0] if peer.endpoints else None)
        peers.append(
            PeerConfig(
                public_key=peer.wg_pubkey,
                allowed_ips=(ipaddress.ip_network(f"{v4}/32"), ipaddress.ip_network(f"{v6}/128")),
                endpoint=format_endpoint(*parse_endpoint(endpoint)) if endpoint else None,
                persistent_keepalive=KEEPALIVE_SECONDS if endpoint else None,
            )
        )
    v4, v6 = me.addresses
    return InterfaceConfig(
        name=name,
        private_key=private_key,
        listen_port=listen_port,
        addresses=(ipaddress.ip_interface(f"{v4}/32"), ipaddress.ip_interface(f"{v6}/128")),
        peers=tuple(peers),
    )
