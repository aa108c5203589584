"""Leaving a relay for a direct path: a trial both ends of a relayed pair run at once. Pure: no clock of its own,
no I/O; the daemon asks and answers (`mesh.peerapi`) and sets WireGuard's endpoints.

A pair goes through a relay when no direct candidate brought a handshake in time (`mesh.relaying`); often only
because one end had not yet learned where its NAT shows it. Once relayed, a handshake stays fresh, so nothing
else would try direct again. So, as Tailscale's disco sends "call me maybe" through DERP, the end of the pair
with the lower key proposes a trial through the relayed tunnel whenever the pair's endpoints differ from those
of its last trial (either end learned or lost an endpoint; the first view after relaying counts as new). The
proposal lists slots: in each, where the proposer sends and where the peer sends. Both ends then send straight
to the slot's endpoints for `SLOT_SECONDS` each (two NATs that map one public port per local port let each
other's packets in once both have sent), and each end asks the other where it sees it: an answer that names
no relay, while WireGuard still sends to the slot's endpoint, proves the direct path both ways, and the pair
stays direct. When the slots run out the pair goes back to its relay, and the same endpoints are not tried
again: a NAT that maps every destination anew will not do better the second time.

A peer can make this device send its WireGuard packets only to endpoints that peer announced, for at most
`MAX_SLOTS * SLOT_SECONDS`, once per change of its announcement: what it can cost is its own path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

SLOT_SECONDS = 4.0  # a few of the daemon's steps: time for both ends to switch and for one question and answer
MAX_SLOTS = 4  # a failed trial costs the pair at most this many slots without a path
PROPOSE_AGAIN = 5.0  # seconds before proposing again after no answer or a refusal (the peer's map may lag)
MAX_PROPOSALS = 6  # for one view of the pair's endpoints: then it counts as tried
MAX_ENDPOINT = 64


@dataclass(frozen=True)
class Slot:
    proposer_sends_to: str  # one of the peer's announced endpoints
    peer_sends_to: str  # one of the proposer's announced endpoints


def plan(peer_candidates: list[str], own_endpoints: list[str]) -> tuple[Slot, ...]:
    """The slots of a trial, the most promising first: every pairing of the first candidates of both ends, in
    order of their joint rank, at most MAX_SLOTS."""
    pairs = [(i, j) for i in range(len(peer_candidates)) for j in range(len(own_endpoints))]
    pairs.sort(key=lambda pair: (pair[0] + pair[1], pair[0]))
    return tuple(Slot(peer_candidates[i], own_endpoints[j]) for i, j in pairs[:MAX_SLOTS])


def accepted(slots: tuple[Slot, ...], proposer_announced: tuple[str, ...]) -> tuple[Slot, ...]:
    """The slots a proposal's receiver runs: those where it would send to an endpoint the proposer announced."""
    return tuple(slot for slot in slots if slot.peer_sends_to in proposer_announced)


@dataclass(frozen=True)
class Trial:
    slots: tuple[Slot, ...]
    since: float
    proposer: bool  # this device proposed it (it sends to `proposer_sends_to`)

    def slot(self, now: float) -> Slot | None:
        """The slot in force at `now` (None: the trial is over)."""
        index = int((now - self.since) // SLOT_SECONDS)
        return self.slots[index] if 0 <= index < len(self.slots) else None

    def sends_to(self, now: float) -> str | None:
        slot = self.slot(now)
        if slot is None:
            return None
        return slot.proposer_sends_to if self.proposer else slot.peer_sends_to


View = tuple[tuple[str, ...], tuple[str, ...]]  # (the peer's announced endpoints, this device's own)


@dataclass
class _Pair:
    tried: View | None = None  # the endpoints of the last trial (or of the last view given up on)
    proposing: View | None = None
    proposals: int = 0
    propose_at: float = 0.0
    outcome: str = ""  # what the last trial came to, for `status`


@dataclass
class Upgrades:
    """Each relayed peer's trials. The step thread proposes and judges; the peer service's thread starts the
    trials peers propose: one lock between them."""

    trials: dict[str, Trial] = field(default_factory=dict)  # peer key -> the trial running
    pairs: dict[str, _Pair] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def due(self, key: str, view: View, now: float) -> bool:
        """Whether to propose a trial to a relayed peer now (this device being the proposer of the pair)."""
        with self.lock:
            if key in self.trials:
                return False
            pair = self.pairs.setdefault(key, _Pair())
            if view == pair.tried:
                return False
            if view != pair.proposing:
                pair.proposing, pair.proposals, pair.propose_at = view, 0, now
            return now >= pair.propose_at

    def unanswered(self, key: str, why: str, now: float) -> None:
        """A proposal came to nothing: again in a while, and after MAX_PROPOSALS these endpoints count as tried."""
        with self.lock:
            pair = self.pairs.setdefault(key, _Pair())
            pair.proposals += 1
            pair.propose_at = now + PROPOSE_AGAIN
            pair.outcome = why
            if pair.proposals >= MAX_PROPOSALS:
                pair.tried = pair.proposing

    def begin(self, key: str, slots: tuple[Slot, ...], *, proposer: bool, view: View, now: float) -> bool:
        """Start a trial (False: one is running with this peer already, there is nothing to try, or, proposed by
        the peer, these endpoints were tried: a peer cannot keep its path in trials)."""
        with self.lock:
            pair = self.pairs.setdefault(key, _Pair())
            if key in self.trials or not slots or (not proposer and view == pair.tried):
                return False
            self.trials[key] = Trial(slots, now, proposer)
            pair.tried, pair.outcome = view, "trying"
            return True

    def running(self, key: str, now: float) -> Trial | None:
        with self.lock:
            trial = self.trials.get(key)
            if trial is not None and trial.slot(now) is None:
                del self.trials[key]
                self.pairs.setdefault(key, _Pair()).outcome = "failed: no direct path answered"
                return None
            return trial

    def succeeded(self, key: str, endpoint: str) -> None:
        with self.lock:
            self.trials.pop(key, None)
            self.pairs.setdefault(key, _Pair()).outcome = f"direct at {endpoint}"

    def forget(self, keys: set[str]) -> None:
        """Drop what concerns peers no longer relayed."""
        with self.lock:
            for key in [k for k in self.pairs if k not in keys]:
                del self.pairs[key]
            for key in [k for k in self.trials if k not in keys]:
                del self.trials[key]

    def outcome(self, key: str) -> str:
        with self.lock:
            pair = self.pairs.get(key)
            return pair.outcome if pair else ""

    def outcomes(self) -> dict[str, str]:
        with self.lock:
            return {key: pair.outcome for key, pair in self.pairs.items() if pair.outcome}
