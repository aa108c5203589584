"""Whether the exit may judge its clients' signing lag now.

A client is cut for leaving too many bytes unsigned only if it could have
signed them: not while the exit's chain is unreachable (it cannot check a
device's receipts, and its own reads stall), not right after the agent
started (its interface kept carrying traffic while it was down), and not
until clients have had `catch_up` seconds after either to sign what the exit
asks for. Pure: the owner passes the time and says what happened.
"""

from __future__ import annotations


class SigningClock:
    def __init__(self, *, catch_up: float, now: float) -> None:
        self.catch_up = catch_up
        self.outage_since: float | None = None
        self.judge_from = now + catch_up  # a start is a catch-up too

    def chain_failed(self, now: float) -> bool:
        """The chain could not be read; True when this begins an outage (say it once)."""
        if self.outage_since is not None:
            return False
        self.outage_since = now
        return True

    def chain_answered(self, now: float) -> float | None:
        """The chain was read; the outage's length in seconds when this ends one."""
        if self.outage_since is None:
            return None
        lasted, self.outage_since = now - self.outage_since, None
        self.judge_from = now + self.catch_up
        return lasted

    def judging(self, now: float) -> bool:
        return self.outage_since is None and now >= self.judge_from

    @property
    def chain_down(self) -> bool:
        return self.outage_since is not None
