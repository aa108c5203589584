"""The host's resolver configuration: one owner, one `set(config)`, one backup (as Tailscale's `net/dns` manager).

Two parts of the daemon have a say in it: the mesh, whose name server answers the tailnet's names and passes
the rest on, and an exit session, whose servers are the ones to ask while traffic leaves through the exit. The
manager combines them (`resolver_config`, pure): the mesh's server if it runs, with its search domain (it asks
the exit's servers for other names, or the host's own); else the exit's servers; else the host's own
configuration, given back. So neither part needs to know whether the other is there.

On a host without a resolver daemon the configuration is `/etc/resolv.conf`, rewritten in place (it is often
a bind mount, or a symlink's target). Before the first rewrite the manager keeps what the file held, in a
record beside the daemon's state, so a later process (a restarted daemon, `octravpn daemon cleanup`) can give
it back. If something else (a DHCP client) rewrites the file meanwhile, that is the host's own configuration
now: the manager keeps it as the new original and writes its own again at the next `set`.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from octravpn.config import replace_file

MARK = "# written by octravpnd"  # the first line of every file the manager writes begins so,
OWN_SERVERS = "; the host's own servers:"  # and names the host's servers: a lost record still restores them


@dataclass(frozen=True)
class DNSConfig:
    """What the daemon wants of the host's resolver (`DNSManager.set`)."""

    resolver: str | None = None  # the mesh's name server, if it runs: it answers first
    search: tuple[str, ...] = ()  # the mesh's search domain (a bare hostname resolves)
    servers: tuple[str, ...] = ()  # an exit session's servers, if it uses them


def resolver_config(config: DNSConfig, host_servers: list[str]) -> str | None:
    """The resolv.conf `config` asks for (None: the host's own). Pure."""
    first = f"{MARK}{OWN_SERVERS} {' '.join(host_servers) or 'none'}\n"
    if config.resolver:
        search = f"search {' '.join(config.search)}\n" if config.search else ""
        return f"{first}nameserver {config.resolver}\n{search}options edns0 trust-ad\n"
    if config.servers:
        return first + "".join(f"nameserver {server}\n" for server in config.servers)
    return None


def recovered(ours: str) -> str:
    """The host's own configuration, rebuilt from the first line of a file the manager wrote (when the record
    of the original is lost): its name servers, without its other options."""
    first = ours.split("\n", 1)[0]
    named = first.split(OWN_SERVERS, 1)[1].split() if OWN_SERVERS in first else []
    return "".join(f"nameserver {server}\n" for server in _addresses(named))


def is_ours(text: str) -> bool:
    return text.startswith(MARK)


def nameservers(text: str) -> list[str]:
    """The `nameserver` addresses of a resolv.conf."""
    lines = (line.split() for line in text.splitlines())
    return _addresses(parts[1] for parts in lines if len(parts) >= 2 and parts[0] == "nameserver")


def _addresses(words) -> list[str]:
    """The words that are IP addresses (a zone index dropped), normalized."""
    found = []
    for word in words:
        try:
            found.append(str(ipaddress.ip_address(word.split("%")[0])))
        except ValueError:
            continue
    return found


class DNSManager:
    """The one writer of the host's resolver configuration. Thread-safe: the mesh's step and the exit's
    connection both call it."""

    def __init__(self, path: Path, record: Path) -> None:
        self.path, self.record = path, record
        self.config = DNSConfig()
        self.lock = threading.Lock()

    def set(self, config: DNSConfig) -> None:
        """Make the host's resolver do what `config` says (again, if something rewrote it since)."""
        with self.lock:
            self.config = config
            self._apply()

    def update(self, **changes) -> None:
        """`set` with some of the current configuration's fields changed (each part changes its own)."""
        with self.lock:
            self.config = replace(self.config, **changes)
            self._apply()

    def upstream(self) -> list[str]:
        """Where the mesh's name server passes on what is not the tailnet's: the exit's servers, else the host's."""
        servers = self.config.servers
        return list(servers) if servers else self.host_servers()

    def host_servers(self) -> list[str]:
        """The host's own name servers (from the kept original while the file is ours)."""
        return nameservers(self._own(self._current()))

    def restore(self) -> None:
        """Give the host its own configuration back (what `down`, `daemon stop` and `daemon cleanup` do)."""
        self.set(DNSConfig())

    # ------------------------------------------------------------------
    def _apply(self) -> None:
        current = self._current()
        own = self._own(current)
        wanted = resolver_config(self.config, nameservers(own))
        if wanted is None:
            if is_ours(current):
                self._write(own)
            self.record.unlink(missing_ok=True)
            return
        if self._original() != own:  # kept before the file is written: a crash between the two loses nothing
            replace_file(self.record, json.dumps({"file": str(self.path), "original": own}), private=True)
        if current != wanted:
            self._write(wanted)

    def _current(self) -> str:
        return self.path.read_text() if self.path.exists() else ""

    def _own(self, current: str) -> str:
        """The host's own configuration: the file if it is not ours (perhaps rewritten by a DHCP client since),
        else the original kept, else what the file's first line says of it."""
        if not is_ours(current):
            return current
        kept = self._original()
        return kept if kept is not None else recovered(current)

    def _original(self) -> str | None:
        try:
            kept = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return None
        if (
            not isinstance(kept, dict)
            or kept.get("file") != str(self.path)
            or not isinstance(kept.get("original"), str)
        ):
            return None
        return kept["original"]

    def _write(self, text: str) -> None:
        with self.path.open("w") as handle:  # in place: /etc/resolv.conf is often a bind mount or a symlink's target
            handle.write(text)


def give_back(record: Path) -> bool:
    """From the record alone (`octravpn daemon cleanup`, the daemon stopped): give the host its own resolver
    configuration back. False if there was nothing to give back."""
    try:
        kept = json.loads(record.read_text())
        path = Path(kept["file"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    DNSManager(path, record).restore()
    return True
