"""Prometheus metrics of the exit agent, read from its store and counters at
scrape time (so they are right after a restart too)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from octravpn.node.store import NodeStore


class NodeCollector(Collector):
    def __init__(
        self,
        *,
        store: NodeStore,
        lock: threading.RLock,
        stats_lock: threading.Lock,
        errors: Counter,
        responses: Counter,
    ) -> None:
        self.store = store
        self.lock = lock
        self.stats_lock = stats_lock
        self.errors = errors  # kind -> count
        self.responses = responses  # (route, status) -> count

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            totals = self.store.totals()
        with self.stats_lock:
            errors, responses = dict(self.errors), dict(self.responses)
        sessions = GaugeMetricFamily("octravpn_sessions", "Sessions this exit served, by state", labels=["state"])
        for state, count in totals["sessions"].items():
            sessions.add_metric([state], count)
        yield sessions
        yield CounterMetricFamily(
            "octravpn_metered_bytes", "Bytes metered over all sessions (rx + tx)", value=totals["measured_bytes"]
        )
        yield CounterMetricFamily(
            "octravpn_receipts", "Client-signed receipts accepted and stored", value=totals["receipts"]
        )
        settlements = CounterMetricFamily("octravpn_settlements", "Settlements begun, by method", labels=["method"])
        for method, count in totals["settlements"].items():
            settlements.add_metric([method], count)
        yield settlements
        failures = CounterMetricFamily("octravpn_errors", "Failures of the agent's own work, by kind", labels=["kind"])
        for kind, count in sorted(errors.items()):
            failures.add_metric([kind], count)
        yield failures
        api = CounterMetricFamily("octravpn_api_responses", "Handshake API responses", labels=["route", "status"])
        for (route, status), count in sorted(responses.items()):
            api.add_metric([route, str(status)], count)
        yield api


def registry_for(collector: NodeCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
