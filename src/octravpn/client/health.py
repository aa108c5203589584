"""Is the exit still there? Decided from what the daemon observes, with no I/O here.

Two signs of life: the exit's handshake API answered (outside the tunnel), or
the tunnel received something (WireGuard only accepts datagrams authenticated
by the exit's key). An idle tunnel receives nothing, so while it is quiet and
the API does not answer, the daemon sends an ICMP echo through it to the exit's tunnel address, which the
exit answers: a live exit shows up as received bytes within a round trip.
The exit counts as unreachable when neither sign came for `dead_after`
seconds: the exit host is gone, its WireGuard with it, or the path to it.
Probes go out only while the API fails, so a healthy idle tunnel stays idle.
An exit whose agent died but whose WireGuard still carries traffic is not
unreachable: the tunnel works, and receipts resume when the agent returns.
"""

from __future__ import annotations

from dataclasses import dataclass

PROBE_WHEN_QUIET = 1.0  # seconds without received bytes before the daemon probes the tunnel
DEAD_AFTER = 6.0  # seconds without a sign of life: the exit is unreachable


@dataclass
class ExitHealth:
    since: float  # when the tunnel came up (a grace for the first handshake)
    dead_after: float = DEAD_AFTER
    last_api_answer: float | None = None
    last_received: float | None = None
    received_bytes: int = 0
    api_error: str | None = None

    def received(self, total_bytes: int, now: float) -> None:
        """The tunnel's cumulative received bytes (the exit's datagrams), read each tick."""
        if total_bytes != self.received_bytes:
            self.received_bytes = total_bytes
            self.last_received = now

    def api_answered(self, now: float) -> None:
        self.last_api_answer, self.api_error = now, None

    def api_failed(self, error: str) -> None:
        self.api_error = error

    def last_sign_of_life(self) -> float:
        return max(t for t in (self.since, self.last_api_answer, self.last_received) if t is not None)

    def should_probe(self, now: float) -> bool:
        """Only while the API fails: an answering API is a sign of life already, and probes are traffic (billed,
        and they would keep an idle session from ever idling out)."""
        return self.api_error is not None and now - (self.last_received or self.since) >= PROBE_WHEN_QUIET

    def unreachable_since(self, now: float) -> float | None:
        """When the exit was last heard from, if that is longer ago than `dead_after`; else None."""
        last = self.last_sign_of_life()
        return last if now - last >= self.dead_after else None
