"""Which policy a device enforces, from the document the chain carries. Pure: the caller gives it the chain's
document and the time.

The owner publishes a policy document in a transaction (`update_acl`); the event carries the document, so every
device that reads the chain has it, and no indexer can withhold or delay it. A device enforces the chain's
current document from the block it reads it in. If that document does not parse here (written by hand past
the command line's checks, or in a newer syntax than this device knows), the last good policy stays for
`GRACE` seconds, shown in `status`, so a slip is not an outage; then the device fails closed: nothing is
allowed until a document it can read is on chain. A tailnet with no policy allows nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from octravpn.acl import PolicyError, parse_policy
from octravpn.acl.policy import Policy

GRACE = 120.0  # seconds the last good policy outlives a document on chain that does not parse here
NO_POLICY = bytes(32)


def parse_document(document: bytes) -> Policy:
    """`PolicyError` for anything that is not a policy (bytes that are not UTF-8 included)."""
    try:
        return parse_policy(document.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PolicyError(f"not UTF-8 text (byte {exc.start})") from None


def parsed_or_none(document: bytes) -> Policy | None:
    """A document from the chain's history, parsed; None if it does not parse (what `mesh.tagging` takes)."""
    try:
        return parse_document(document)
    except PolicyError:
        return None


@dataclass
class PolicyKeeper:
    tailnet: int | None = None
    in_force: tuple[bytes, Policy] | None = None  # (hash, policy) enforced now; None: nothing is allowed
    wanted: bytes = NO_POLICY  # the chain's hash
    error: str | None = None  # why the chain's document is not the one in force
    unreadable_since: float | None = None  # when this device first saw the chain's document fail to parse

    def update(self, tailnet: int, wanted: bytes, document: bytes, now: float) -> bool:
        """Follow the chain's document; True if what is in force changed."""
        before = self.in_force[0] if self.in_force else None
        if tailnet != self.tailnet:  # another tailnet's policy says nothing about this one
            self.tailnet, self.in_force, self.unreadable_since = tailnet, None, None
        if wanted != self.wanted:
            self.wanted, self.unreadable_since = wanted, None
        if wanted == NO_POLICY:
            self.in_force, self.error = None, None
        elif self.in_force is None or self.in_force[0] != wanted:
            try:
                self.in_force, self.error, self.unreadable_since = (wanted, parse_document(document)), None, None
            except PolicyError as exc:
                self.error = f"the policy 0x{wanted.hex()} on chain does not parse here: {exc}"
                if self.unreadable_since is None:
                    self.unreadable_since = now
                if self.in_force is not None and now - self.unreadable_since >= GRACE:
                    self.in_force = None  # the grace is over: fail closed
        return (self.in_force[0] if self.in_force else None) != before

    def view(self, now: float) -> dict:
        """What `status` says about the policy."""
        if self.wanted == NO_POLICY:
            return {"hash": None, "state": "none", "note": "the tailnet has no policy on chain: nothing is allowed"}
        wanted = "0x" + self.wanted.hex()
        if self.in_force is not None and self.in_force[0] == self.wanted:
            return {"hash": wanted, "state": "enforced"}
        if self.in_force is not None:
            until = (self.unreadable_since or now) + GRACE
            return {
                "hash": wanted,
                "state": "previous",
                "enforced": "0x" + self.in_force[0].hex(),
                "error": self.error,
                "until": round(until),
                "note": f"the last good policy stays {max(0, round(until - now))} s more, then nothing is allowed",
            }
        return {
            "hash": wanted,
            "state": "closed",
            "enforced": None,
            "error": self.error,
            "note": "nothing is allowed until the tailnet's owner publishes a policy this device can read",
        }

    # ------------------------------------------------------------------ kept across restarts
    def to_json(self) -> dict:
        return {
            "tailnet": self.tailnet,
            "hash": "0x" + self.in_force[0].hex() if self.in_force else None,
            "wanted": "0x" + self.wanted.hex(),
            "unreadable_since": self.unreadable_since,
        }

    @classmethod
    def from_json(cls, body: dict | None, document: bytes | None) -> PolicyKeeper:
        """The keeper as saved, with the document in force beside it (checked against its hash: a damaged or
        swapped file is not taken)."""
        from eth_hash.auto import keccak

        keeper = cls()
        if not isinstance(body, dict):
            return keeper
        keeper.tailnet = body.get("tailnet") if isinstance(body.get("tailnet"), int) else None
        since = body.get("unreadable_since")
        keeper.unreadable_since = float(since) if isinstance(since, (int, float)) else None
        try:
            keeper.wanted = bytes.fromhex(str(body.get("wanted", "")).removeprefix("0x")) or NO_POLICY
            held = body.get("hash")
            if held and document is not None and keccak(document) == bytes.fromhex(held.removeprefix("0x")):
                keeper.in_force = (keccak(document), parse_document(document))
        except (ValueError, PolicyError):
            keeper.in_force = None
        return keeper
