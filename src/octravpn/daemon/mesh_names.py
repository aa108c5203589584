"""The mesh's names on this host: its name server (`mesh.dns`) on an address of the loopback interface, and the
host's resolver pointed at it through the one owner of the resolver (`host.dns`), which gives it back when the
server stops."""

from __future__ import annotations

import logging
from collections.abc import Callable

from octravpn.daemon.mesh_view import MapInForce
from octravpn.host.dns import DNSManager
from octravpn.host.mesh import MeshChanges, MeshHost
from octravpn.mesh.dns import RESOLVER_ADDRESS, SUFFIX, NameServer
from octravpn.wireguard.runner import CommandError

log = logging.getLogger("octravpn.daemon.mesh")


class NameService:
    def __init__(self, host: MeshHost, dns: DNSManager, *, me: str, in_force: Callable[[], MapInForce | None]) -> None:
        self.host, self.dns, self.me, self.in_force = host, dns, me, in_force
        self.server: NameServer | None = None

    def names(self) -> dict[str, tuple]:
        """What the server answers: this device's and its peers' names, from the map in force."""
        built = self.in_force()
        return built.names(self.me) if built is not None else {}

    def run(self, changes: MeshChanges, save: Callable[[], None]) -> None:
        """Serve (if not yet), and point the host's resolver at the server: again at every step, since a DHCP
        client may have rewritten it."""
        if self.server is None:
            try:
                self.host.add_resolver_address(changes, RESOLVER_ADDRESS, save)
                self.server = NameServer(self.names, self.dns.upstream)
            except (OSError, CommandError) as exc:
                log.warning("cannot answer names: %s", exc)
                return
        self.dns.update(resolver=RESOLVER_ADDRESS, search=(SUFFIX,))

    def stop(self, changes: MeshChanges | None, save: Callable[[], None]) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.dns.config.resolver is not None:
            self.dns.update(resolver=None, search=())
        if changes is not None and changes.resolver_address:
            self.host.remove_resolver_address(changes)
            save()

    def shown(self) -> dict | None:
        if self.server is None:
            return None
        return {"resolver": RESOLVER_ADDRESS, "suffix": SUFFIX, "upstream": self.dns.upstream()}
