"""The daemon's Prometheus metrics, rendered from its snapshot and counters (served on the read socket)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from octravpn.daemon.connection import Status


class _Collector:
    def __init__(self, daemon) -> None:
        self.daemon = daemon

    def collect(self):
        daemon = self.daemon
        snapshot = daemon.status()
        state = GaugeMetricFamily("octravpn_client_state", "1 for the connection's current state", labels=["state"])
        for status in Status:
            state.add_metric([status.value], 1.0 if snapshot["status"] == status else 0.0)
        yield state
        tunnel = snapshot.get("tunnel") or {}
        for name, help_text, value in (
            (
                "octravpn_client_measured_bytes",
                "Bytes this device's WireGuard counted for the session",
                snapshot.get("measured_bytes", 0),
            ),
            (
                "octravpn_client_signed_bytes",
                "Bytes covered by the last receipt signed",
                snapshot.get("signed_bytes", 0),
            ),
            ("octravpn_client_rx_bytes", "Bytes received through the tunnel", tunnel.get("rx_bytes", 0)),
            ("octravpn_client_tx_bytes", "Bytes sent through the tunnel", tunnel.get("tx_bytes", 0)),
            (
                "octravpn_client_latest_handshake_seconds",
                "Unix time of the last WireGuard handshake",
                tunnel.get("latest_handshake") or 0,
            ),
            (
                "octravpn_client_chain_reachable",
                "1 if the chain RPC answered at the last try",
                1.0 if snapshot["chain"]["reachable"] else 0.0,
            ),
            ("octravpn_client_sessions_ending", "Left sessions not settled yet", len(snapshot["ending"])),
        ):
            yield GaugeMetricFamily(name, help_text, value=value)
        yield CounterMetricFamily(
            "octravpn_client_receipts_signed",
            "Receipts signed in the current session",
            value=snapshot.get("receipts_signed", 0),
        )
        yield from _mesh(snapshot.get("mesh") or {})
        for name, value in daemon.counters.items():
            yield CounterMetricFamily(
                f"octravpn_client_{name}", f"{name.replace('_', ' ')} since the daemon started", value=value
            )


def _mesh(mesh: dict):
    running = mesh.get("state") == "running"
    yield GaugeMetricFamily("octravpn_mesh_running", "1 if this device is on its tailnet's mesh", value=1.0 * running)
    peers = mesh.get("peers", [])
    by_path = GaugeMetricFamily("octravpn_mesh_peers", "Mesh peers by path", labels=["path"])
    for path in ("direct", "relayed", "trying", "none"):
        by_path.add_metric([path], sum(1 for p in peers if p["path"].split(" ")[0] == path))
    yield by_path
    for name, help_text, key in (
        ("octravpn_mesh_rx_bytes", "Bytes received from mesh peers", "rx_bytes"),
        ("octravpn_mesh_tx_bytes", "Bytes sent to mesh peers", "tx_bytes"),
    ):
        yield GaugeMetricFamily(name, help_text, value=sum(p[key] for p in peers))
    policy = (mesh.get("policy") or {}).get("state")
    yield GaugeMetricFamily(
        "octravpn_mesh_policy_current",
        "1 if the policy in force is the one on chain",
        value=1.0 * (policy == "enforced"),
    )


def render_metrics(daemon) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(daemon))
    return generate_latest(registry).decode()
