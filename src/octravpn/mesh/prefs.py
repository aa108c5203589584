"""A device's mesh preferences (`octravpn set --hostname/--advertise-tags/--tailnet/--mesh`), each checked.
Standard library only: the thin command line and the local API's request types use them."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, replace

from octravpn.errors import UsageError
from octravpn.names import HOSTNAME, MAX_TAGS, TAG


@dataclass(frozen=True)
class MeshPrefs:
    enabled: bool = True
    hostname: str | None = None  # None: the machine's own name
    tags: tuple[str, ...] = ()
    tailnet: int | None = None  # None: the one tailnet the device's member is in
    relay: bool = False  # offer to relay for the tailnet's devices (needs a public address)
    dns: bool = True  # answer the tailnet's names (split DNS: the host's resolver points at the mesh's)

    def to_json(self) -> dict:
        return {
            "enabled": self.enabled,
            "hostname": self.hostname,
            "tags": list(self.tags),
            "tailnet": self.tailnet,
            "relay": self.relay,
            "dns": self.dns,
        }

    @classmethod
    def from_json(cls, body: dict) -> MeshPrefs:
        return cls(
            enabled=bool(body.get("enabled", True)),
            hostname=body.get("hostname"),
            tags=tuple(body.get("tags", ())),
            tailnet=body.get("tailnet"),
            relay=bool(body.get("relay", False)),
            dns=bool(body.get("dns", True)),
        )

    def changed(self, **changes) -> MeshPrefs:
        """These preferences with `changes` applied, each checked: a bad one is a `UsageError` naming it."""
        if changes.get("hostname") is not None:
            hostname = changes["hostname"].lower()
            if not HOSTNAME.match(hostname):
                raise UsageError(
                    f"hostname {changes['hostname']!r}: one DNS label, 1-63 letters, digits and inner hyphens"
                )
            changes["hostname"] = hostname
        if changes.get("tags") is not None:
            tags = tuple(dict.fromkeys(t.strip().lower() for t in changes["tags"] if t.strip()))
            bad = [t for t in tags if not TAG.match(t)]
            if bad or len(tags) > MAX_TAGS:
                raise UsageError(
                    f"tags {', '.join(bad) or len(tags)}: give at most {MAX_TAGS} tags, each `tag:NAME` "
                    "(letters, digits, - and _)"
                )
            changes["tags"] = tags
        if changes.get("tailnet") is not None and changes["tailnet"] < 0:
            raise UsageError("--tailnet takes a tailnet id (0 or more)")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def machine_hostname() -> str:
    """The machine's name as one DNS label (`My_Laptop.local` -> `my-laptop`)."""
    label = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().split(".")[0].lower()).strip("-")[:63].strip("-")
    return label or "device"
