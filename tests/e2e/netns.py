"""Test hosts in network namespaces, joined by veth links.

Every name carries a per-run suffix, so parallel runs (and the interface
sockets wireguard-go keeps in the shared /var/run/wireguard) never collide.
Only addresses of these hosts are ever sent traffic.
"""

from __future__ import annotations

import os
import subprocess
import uuid


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def sh(*argv: str, namespace: str | None = None, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess:
    full = (["ip", "netns", "exec", namespace] if namespace else []) + list(argv)
    return subprocess.run(full, capture_output=True, text=True, check=check, timeout=timeout)


class Host:
    def __init__(self, name: str) -> None:
        self.name = name
        sh("ip", "netns", "add", name)
        sh("ip", "link", "set", "lo", "up", namespace=name)

    def run(self, *argv: str, check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess:
        return sh(*argv, namespace=self.name, check=check, timeout=timeout)

    def ping(self, address: str, *, count: int = 3) -> bool:
        return self.run("ping", "-c", str(count), "-W", "2", "-i", "0.2", address, check=False).returncode == 0

    def delete(self) -> None:
        sh("ip", "netns", "del", self.name, check=False)


def link(a: Host, a_address: str, b: Host, b_address: str) -> tuple[str, str]:
    """A veth pair between two hosts, with an address on each end; returns the two interface names."""
    end_a, end_b = unique("ve"), unique("ve")
    sh("ip", "link", "add", end_a, "type", "veth", "peer", "name", end_b)
    for host, end, address in ((a, end_a, a_address), (b, end_b, b_address)):
        sh("ip", "link", "set", end, "netns", host.name)
        host.run("ip", "addr", "add", address, "dev", end)
        host.run("ip", "link", "set", end, "up")
    return end_a, end_b


def require_root_and_tools() -> None:
    missing = [tool for tool in ("ip", "wg", "wireguard-go", "ping", "nft") if subprocess.run(["sh", "-c", f"command -v {tool}"],
                                                                                     capture_output=True).returncode]
    if os.geteuid() != 0 or missing:
        raise RuntimeError(f"e2e tests need root and {missing or 'nothing more'}: run them through `make test`")
