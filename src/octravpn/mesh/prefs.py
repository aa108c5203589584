"""A device's mesh preferences (`octravpn set --hostname/--tailnet/--mesh/--relay/--mesh-dns`), each checked.
Standard library only: the thin command line and the local API's request types use them. A device's tags are
not among them: a tag owner grants them on chain (`octravpn tailnet tag`)."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, replace

from octravpn.errors import UsageError
from octravpn.names import HOSTNAME


@dataclass(frozen=True)
class MeshPrefs:
    enabled: bool = True
    hostname: str | None = None  # None: the machine's own name
    tailnet: int | None = None  # None: the one tailnet the device's member is in
    relay: bool = False  # offer to relay for the tailnet's devices (needs a public address)
    dns: bool = True  # answer the tailnet's names (split DNS: the host's resolver points at the mesh's)

    def to_json(self) -> dict:
        return {
            "enabled": self.enabled,
            "hostname": self.hostname,
            "tailnet": self.tailnet,
            "relay": self.relay,
            "dns": self.dns,
        }

    @classmethod
    def from_json(cls, body: dict) -> MeshPrefs:
        return cls(
            enabled=bool(body.get("enabled", True)),
            hostname=body.get("hostname"),
            tailnet=body.get("tailnet"),
            relay=bool(body.get("relay", False)),
            dns=bool(body.get("dns", True)),
        )

    def changed(self, **changes) -> MeshPrefs:
        """These preferences with `changes` applied, each checked: a bad one is a `UsageError` naming it."""
        if changes.get("hostname") is not None:
            hostname = changes["hostname"].lower()
            if not HOSTNAME.fullmatch(hostname):
                raise UsageError(
                    f"hostname {changes['hostname']!r}: one DNS label, 1-63 letters, digits and inner hyphens"
                )
            changes["hostname"] = hostname
        if changes.get("tailnet") is not None and changes["tailnet"] < 0:
            raise UsageError("--tailnet takes a tailnet id (0 or more)")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def machine_hostname() -> str:
    """The machine's name as one DNS label (`My_Laptop.local` -> `my-laptop`)."""
    label = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().split(".")[0].lower()).strip("-")[:63].strip("-")
    return label or "device"
