"""This device as a relay for its tailnet (`mesh.relay`), when its preferences say so: the pairs it relays are
judged by its own view of the roster and the policy, never by what the asking devices claim."""

from __future__ import annotations

import logging
from collections.abc import Callable

from octravpn.acl import compile_device
from octravpn.daemon.mesh_view import MapInForce
from octravpn.mesh.relay import RelayServer
from octravpn.protocol.eip712 import Domain

log = logging.getLogger("octravpn.daemon.mesh")


class RelayService:
    def __init__(
        self,
        *,
        me: str,
        domain: Domain,
        port: int,
        in_force: Callable[[], MapInForce | None],
        clock: Callable[[], float],
    ) -> None:
        self.me, self.domain, self.port, self.in_force, self.clock = me, domain, port, in_force, clock
        self.server: RelayServer | None = None

    def run(self, tailnet: int) -> None:
        if self.server is not None and self.server.tailnet_id == tailnet:
            return
        self.stop()
        try:
            self.server = RelayServer(
                relay=self.me,
                tailnet_id=tailnet,
                domain=self.domain,
                allowed=self.allowed,
                owner_of=self.owner_of,
                members=lambda: len(built.netmap.network.members) if (built := self.in_force()) else 1,
                port=self.port,
                clock=self.clock,
            )
        except OSError as exc:
            log.warning("cannot relay: %s", exc)

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def allowed(self, device: str, peer: str) -> str | None:
        """The relay's check of a pair: both on the roster and the policy lets them talk (its own view)."""
        built = self.in_force()
        if built is None or built.resolver is None:
            return "this relay has no policy in force: it relays for nobody"
        keys = {d.key for d in built.netmap.network.devices}
        if device not in keys or peer not in keys:
            return "both devices must be on the tailnet's roster"
        if peer not in compile_device(built.resolver, device).peers:
            return "the tailnet's policy does not let these two devices talk"
        return None

    def owner_of(self, device: str) -> str | None:
        built = self.in_force()
        if built is None:
            return None
        return next((d.owner for d in built.netmap.network.devices if d.key == device), None)

    def shown(self) -> dict | None:
        return self.server.shown() if self.server else None
