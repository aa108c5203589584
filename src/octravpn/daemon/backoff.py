"""When to try again: the daemon's one backoff, for every loop that meets a service that may be away (the chain
for the connection and for the mesh, a failover's next try). Pure: the caller passes the time."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Backoff:
    """`base` seconds after a first failure, doubling up to `ceiling`; `interval` seconds between tries while
    they succeed (0: at every chance)."""

    base: float
    ceiling: float
    interval: float = 0.0
    delay: float = field(init=False)
    next_at: float = field(default=float("-inf"), init=False)

    def __post_init__(self) -> None:
        self.delay = self.base

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def failed(self, now: float) -> None:
        self.next_at = now + self.delay
        self.delay = min(self.delay * 2, self.ceiling)

    def succeeded(self, now: float) -> None:
        self.delay = self.base
        self.next_at = now + self.interval
