"""How octravpnd is set up (from `octravpn daemon run`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from octravpn.config import Network


@dataclass(frozen=True, kw_only=True)
class DaemonSettings:
    state_dir: Path
    network: Network
    indexers: tuple[str, ...] = ()  # the first for `--exit auto` when the request names none; all for the mesh
    tick_seconds: float = 1.0
    chain_poll_seconds: float = 5.0
    chain_backoff_max: float = 30.0
    dead_after: float = 6.0
    failover_retry_seconds: float = 5.0
    dns_file: Path = Path("/etc/resolv.conf")

    mesh_interface: str = "ovpn-mesh"
    mesh_port: int = 41641

    @property
    def state_path(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def indexer_url(self) -> str | None:
        return self.indexers[0] if self.indexers else None
