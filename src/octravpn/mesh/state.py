"""What a device keeps on disk for its mesh: its preferences, its last announcement, the newest `seq` it took
from each peer (so an indexer's replay is refused after a restart too), the policy keeper's state (the document
in force beside it), and what it changed on the host. The verified announcements it holds are in their own file
(`netmap.json`: a restart keeps the map while indexers are away), the mesh's WireGuard key in another."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from octravpn.config import replace_file
from octravpn.errors import ConfigError
from octravpn.host.mesh import MeshChanges
from octravpn.mesh.prefs import MeshPrefs
from octravpn.wireguard.keys import Keypair, decode_key, encode_key


@dataclass
class MeshState:
    prefs: MeshPrefs = field(default_factory=MeshPrefs)
    seq: int = 0  # of the last announcement signed
    announced: dict | None = None  # its fields (what a change is detected against)
    hostname_since: int = 0  # the seq of the first announcement with the current hostname
    expires: int = 0  # of the last announcement signed
    seen: dict[str, int] = field(default_factory=dict)  # peer key -> newest seq taken
    policy: dict | None = None  # the policy keeper's state (`mesh.policy_keeper`; the document in force beside)
    host: MeshChanges | None = None

    def to_json(self) -> dict:
        return {
            "prefs": self.prefs.to_json(),
            "seq": self.seq,
            "announced": self.announced,
            "hostname_since": self.hostname_since,
            "expires": self.expires,
            "seen": self.seen,
            "policy": self.policy,
            "host": self.host.to_json() if self.host else None,
        }

    @classmethod
    def load(cls, path: Path) -> MeshState:
        if not path.exists():
            return cls()
        try:
            body = json.loads(path.read_text())
            return cls(
                prefs=MeshPrefs.from_json(body["prefs"]),
                seq=int(body["seq"]),
                announced=body.get("announced"),
                hostname_since=int(body.get("hostname_since", 0)),
                expires=int(body.get("expires", 0)),
                seen={str(k): int(v) for k, v in body.get("seen", {}).items()},
                policy=body.get("policy"),
                host=MeshChanges.from_json(body["host"]) if body.get("host") else None,
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"cannot read the mesh state {path}: {exc}; move it away to start afresh") from exc

    def save(self, path: Path) -> None:
        replace_file(path, json.dumps(self.to_json(), indent=1, sort_keys=True), private=True)


def load_or_create_key(path: Path) -> Keypair:
    """The mesh's WireGuard key: made once, kept (peers know it from the announcement), readable by root only."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path} is readable by others: `chmod 600 {path}` (or delete it for a new key)")
        try:
            return Keypair.from_private(decode_key(path.read_text().strip()))
        except ValueError as exc:
            raise ConfigError(f"{path} holds no WireGuard key ({exc}): delete it for a new one") from exc
    keys = Keypair.generate()
    replace_file(path, encode_key(keys.private) + "\n", private=True)
    return keys


def load_held(path: Path) -> list[dict]:
    """The announcements kept at the last step, raw (the caller verifies them again); [] if none or unreadable."""
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return body if isinstance(body, list) else []


def save_held(path: Path, announcements: list[dict]) -> None:
    replace_file(path, json.dumps(announcements), private=True)
