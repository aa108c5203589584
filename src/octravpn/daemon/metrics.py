"""The daemon's Prometheus metrics, rendered from its snapshot and counters (served on the read socket)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

STATUSES = ("down", "connecting", "connected", "exit-unreachable", "ended", "disconnecting")


class _Collector:
    def __init__(self, daemon) -> None:
        self.daemon = daemon

    def collect(self):
        daemon = self.daemon
        snapshot = daemon.status()
        state = GaugeMetricFamily("octravpn_client_state", "1 for the connection's current state", labels=["state"])
        for name in STATUSES:
            state.add_metric([name], 1.0 if snapshot["status"] == name else 0.0)
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
        for name, value in daemon.counters.items():
            yield CounterMetricFamily(
                f"octravpn_client_{name}", f"{name.replace('_', ' ')} since the daemon started", value=value
            )


def render_metrics(daemon) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(daemon))
    return generate_latest(registry).decode()
