"""What the client agent keeps on disk while up: enough for `status` to show the
session and for `down` to restore the network even if the agent died.
No secrets: the WireGuard key lives only in the interface and the agent."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from octravpn.errors import ConfigError


@dataclass
class ClientState:
    interface: str
    network: str
    session_id: int
    exit: str
    opener: str
    tailnet_id: int
    deposit: int
    price_per_mb: int
    exit_endpoint: str
    api_url: str
    client_address: str
    exit_address: str
    status: str = "connecting"  # connecting, connected, ended, closing, down
    pid: int | None = None
    routes: list[list[str]] = field(default_factory=list)
    kill_switch_table: str | None = None
    dns_file: str | None = None
    dns_backup: str | None = None
    dns: list[str] = field(default_factory=list)
    measured_bytes: int = 0
    signed_seq: int = 0
    signed_bytes: int = 0
    receipts_signed: int = 0
    requests_refused: int = 0
    last_error: str | None = None
    connected_at: float | None = None
    updated_at: float | None = None
    settlement: dict | None = None

    @property
    def network_changed(self) -> bool:
        """Routes or a kill switch are still in place: `down` has something to restore."""
        return bool(self.routes or self.kill_switch_table)

    @property
    def paid_so_far(self) -> int:
        """What the signed receipts commit the tailnet to: bytes * price // 1e6."""
        return self.signed_bytes * self.price_per_mb // 1_000_000

    def save(self, path: Path) -> None:
        """Atomically (write, rename), so `status` never reads half a file. Not fsynced: it is
        rewritten every second, and after a power loss an older copy restores the same network."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        with temporary.open("w") as handle:
            json.dump(asdict(self), handle, indent=1)
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path) -> "ClientState | None":
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"the client state {path} is damaged ({exc}): remove it after checking the network") from exc


def state_path(data_dir: Path, interface: str) -> Path:
    return data_dir / "client" / f"{interface}.json"


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
