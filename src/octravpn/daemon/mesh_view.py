"""What `status` shows of the mesh, and `octravpn ping`: read from the map and filter in force, no step awaited."""

from __future__ import annotations

from dataclasses import dataclass

from octravpn.acl import DeviceFilter, Resolver, compile_device
from octravpn.errors import StateError, UsageError
from octravpn.host.icmp import echo
from octravpn.mesh.dns import SUFFIX
from octravpn.mesh.netmap import NetMap
from octravpn.mesh.view import path_of, peer_rows, unannounced
from octravpn.wireguard.keys import encode_key
from octravpn.wireguard.runner import CommandError


@dataclass(frozen=True)
class MapInForce:
    """The last map built, the filter it gives this device, and the policy it was judged by (None: no policy in
    force, so nothing is allowed)."""

    digest: str  # of the inputs: the same inputs, the same map
    netmap: NetMap
    device_filter: DeviceFilter
    resolver: Resolver | None

    @classmethod
    def of(cls, digest: str, netmap: NetMap, policy, me: str) -> MapInForce:
        """The filter `policy` (parsed; None: none in force) gives device `me` on `netmap`."""
        if policy is None:
            device = netmap.network.device(me)
            nothing = DeviceFilter(device=me, addresses=device.addresses, entries=(), peers=frozenset())
            return cls(digest, netmap, nothing, None)
        resolver = Resolver(policy, netmap.network)
        return cls(digest, netmap, compile_device(resolver, me), resolver)

    def names(self, me: str) -> dict[str, tuple]:
        """hostname -> (IPv4, IPv6): device `me` and its peers (the devices it may talk to)."""
        return {
            peer.hostname: peer.addresses
            for key, peer in self.netmap.peers.items()
            if peer.named and (key in self.device_filter.peers or key == me)
        }


class MeshUnavailable(StateError):
    """The mesh is not running, or cannot send through its interface."""

    code = "mesh-not-running"


def running_view(agent, tailnet: int, wallet: str, built: MapInForce, error: str | None) -> dict:
    """The mesh's status while it runs (`agent`: the daemon's `MeshAgent`)."""
    netmap, device_filter, now = built.netmap, built.device_filter, agent.clock()
    live = agent.read_live()
    me = netmap.network.device(agent.me)
    refusals = dict(agent.refused)
    for key, why in netmap.refused.items():
        refusals[key] = f"{refusals[key]}; {why}" if key in refusals else why
    return {
        "state": "running",
        "tailnet": tailnet,
        "member": wallet,
        "interface": agent.settings.interface,
        "hostname": agent.state.announced["hostname"] if agent.state.announced else None,
        "refused_self": refusals.get(agent.me),  # why this device's name, tags or announcement did not hold
        "addresses": [str(a) for a in me.addresses],
        "tags": sorted(me.tags),
        "wg_pubkey": encode_key(agent.keys.public),
        "listen_port": agent.settings.port,
        "endpoints": list(agent.endpoints),
        "observed": {"confirmed": agent.observer.confirmed, "unconfirmed": agent.observer.unconfirmed},
        "policy": agent.keeper.view(now),
        "peers": peer_rows(
            netmap,
            device_filter,
            live,
            now,
            {k: r.relay_name for k, r in agent.peer_paths.relaying.relayed.items()},
            agent.peer_paths.upgrades.outcomes(),
        ),
        "relay": agent.relay.shown(),
        "dns": agent.names.shown(),
        "relay_errors": agent.peer_paths.relaying.errors_by_name(netmap),
        "waiting_for": unannounced(netmap, device_filter),
        "refused": {k: v for k, v in refusals.items() if k != agent.me},
        "indexers": {
            url: agent.announcer.errors.get(url) or agent.fetch_errors.get(url) or "ok" for url in agent.mailbox.urls
        },
        "chain_error": agent.chain_error,
        "error": error,
    }


def ping(agent, target: str, *, count: int, timeout: float) -> dict:
    """Echo requests to a peer (by hostname, tailnet address or device key) through the mesh."""
    built, interface = agent.built, agent.settings.interface  # read whole: no need to wait for a step
    if built is None:
        raise MeshUnavailable(f"the mesh is not running ({agent.view.get('state')}): {agent.view.get('error', '')}")
    netmap = built.netmap
    peer = find_peer(netmap, target)
    if peer is None:
        raise UsageError(f"no device {target!r} in tailnet {netmap.tailnet_id}: see `octravpn status` for names")
    if peer.key not in built.device_filter.peers:
        raise UsageError(
            f"{peer.name or peer.key} is not a peer of this device: the tailnet's policy lets neither reach the other"
        )
    address = str(peer.addresses[0])
    try:
        rtts = echo(address, interface, count=count, timeout=timeout)
        live = {p.public_key: p for p in agent.host.peers(interface)}.get(peer.wg_pubkey)
    except (OSError, CommandError) as exc:
        raise MeshUnavailable(f"cannot ping through {interface}: {exc}") from exc
    relayed = agent.peer_paths.relaying.relayed.get(peer.key)
    return {
        "name": peer.name or peer.key,
        "address": address,
        "path": path_of(live, relayed.relay_name if relayed else None, agent.peer_paths.upgrades.outcome(peer.key)),
        "endpoint": live.endpoint if live else None,
        "rtt_ms": [round(r, 3) if r is not None else None for r in rtts],
        "answered": sum(r is not None for r in rtts),
        "sent": count,
    }


def find_peer(netmap: NetMap, target: str):
    target = target.lower().rstrip(".")
    for peer in netmap.peers.values():
        names = (peer.name, f"{peer.name}.{SUFFIX}") if peer.name else ()
        if target in (*names, peer.key, *(str(a) for a in peer.addresses)):
            return peer
    return None
