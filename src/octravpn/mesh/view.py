"""What `status` shows of the mesh: each peer with its name, addresses, owner, tags, path and live counters.
Pure: from the network map, the compiled filter and WireGuard's readings."""

from __future__ import annotations

from octravpn.acl.compile import DeviceFilter
from octravpn.mesh.netmap import NetMap
from octravpn.wireguard.dump import PeerState
from octravpn.wireguard.keys import encode_key


def peer_rows(
    netmap: NetMap,
    device_filter: DeviceFilter,
    live: list[PeerState],
    now: float,
    relayed: dict[str, str] | None = None,
    trials: dict[str, str] | None = None,
) -> list[dict]:
    """`relayed`: peer key -> the name of the relay carrying its traffic; `trials`: relayed peer key -> what its
    last trial of direct paths came to (`mesh.upgrade`)."""
    relayed, trials = relayed or {}, trials or {}
    by_key = {p.public_key: p for p in live}
    rows = []
    for key in sorted(device_filter.peers):
        peer = netmap.peers.get(key)
        if peer is None:
            continue
        state = by_key.get(peer.wg_pubkey)
        handshake = state.latest_handshake if state else 0
        rows.append(
            {
                "name": peer.name or peer.key,  # a device whose hostname another holds goes by its key
                "device": key,
                "owner": peer.owner,
                "addresses": [str(a) for a in peer.addresses],
                "tags": sorted(peer.tags),
                "wg_pubkey": encode_key(peer.wg_pubkey),
                "endpoint": state.endpoint if state else None,
                "path": path_of(state, relayed.get(key), trials.get(key, "")),
                "direct_trial": trials.get(key) or None,
                "last_handshake": handshake or None,
                "handshake_age": round(now - handshake, 1) if handshake else None,
                "rx_bytes": state.rx_bytes if state else 0,
                "tx_bytes": state.tx_bytes if state else 0,
            }
        )
    return rows


def unannounced(netmap: NetMap, device_filter: DeviceFilter) -> list[str]:
    """Devices the policy lets this one talk to that have not announced themselves (no key, no endpoint yet)."""
    return sorted(key for key in device_filter.peers if key not in netmap.peers)


def path_of(state: PeerState | None, relay: str | None, trial: str = "") -> str:
    """How the peer's packets travel: through a relay, direct, trying a direct path while relayed, or not yet."""
    if relay:
        return f"trying direct (relayed by {relay})" if trial == "trying" else f"relayed by {relay}"
    if state is None or not state.endpoint:
        return "none"
    return "direct" if state.latest_handshake else "trying"
