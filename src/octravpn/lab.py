"""A lab of hosts in network namespaces, joined by veth links: what the e2e
tests, `make demo` and the benchmarks run clients and exits in.

Every name carries a per-run suffix, so parallel runs (and the interface
sockets wireguard-go keeps in the shared /var/run/wireguard) never collide.
Only addresses of these hosts are ever sent traffic.

`Lab` is the standard topology: clients and an exit, each linked to an
"internet" host that routes between them and serves a web page on a public
(documentation-range) address. The host running the lab reaches the
internet host over one more link, where the devnet listens, so every host
reaches the chain; the internet host masquerades towards it, so parallel labs
with the same addresses need no routes on the machine itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def sh(
    *argv: str, namespace: str | None = None, check: bool = True, timeout: float = 30.0
) -> subprocess.CompletedProcess:
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

    def nft(self, script: str) -> None:
        """Load an nftables script in this host."""
        subprocess.run(
            ["ip", "netns", "exec", self.name, "nft", "-f", "-"],
            check=True,
            text=True,
            capture_output=True,
            input=script,
        )

    def delete(self) -> None:
        """Stop whatever still runs in the host (a daemon, an exit, its wireguard-go: whatever the test that
        started it did), then remove the host. A process would otherwise outlive its namespace."""
        _stop_all(lambda: _pids(self.name))
        sh("ip", "netns", "del", self.name, check=False)


def _pids(namespace: str) -> list[int]:
    listed = sh("ip", "netns", "pids", namespace, check=False).stdout.split()
    return [int(pid) for pid in listed if pid.isdigit()]


def _stop_all(pids, *, grace: float = 5.0) -> None:
    """SIGTERM every process `pids()` lists (so each cleans up after itself), SIGKILL what is left after `grace`."""
    for pid in pids():
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids():
        _signal(pid, signal.SIGKILL)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass  # gone already


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
    missing = [
        tool
        for tool in ("ip", "wg", "wireguard-go", "ping", "nft")
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode
    ]
    if os.geteuid() != 0 or missing:
        raise RuntimeError(f"e2e tests need root and {missing or 'nothing more'}: run them through `make test`")


WEB_ADDRESS = "203.0.113.80"  # the internet host's web server
EXIT_PUBLIC = "198.51.100.2"  # the exit's public (uplink) address
# Every exit's link to the internet host: (internet side, exit side); the first is EXIT_PUBLIC's.
EXIT_LINKS = (("198.51.100.1", EXIT_PUBLIC), ("198.18.0.1", "198.18.0.2"))
MAX_CLIENTS = 8
EXIT_PORT = 51820  # WireGuard (UDP) and the handshake API (TCP)
WEB_PAGE = b"<html><body>hello from the internet host, through an OctraVPN exit</body></html>\n" * 64


@dataclass
class Lab:
    internet: Host
    exits: list[Host]
    clients: list[Host]
    uplinks: list[str]  # each exit's interface towards the internet host
    internet_links: list[str]  # the internet host's end of each exit's link (take it down: the exit is gone)
    client_links: list[str]  # each client's interface towards the internet host (outside any tunnel)
    chain_address: str  # this machine's address on its link to the internet host: where the devnet listens
    processes: list[subprocess.Popen] = field(default_factory=list)
    nats: dict[int, Host] = field(default_factory=dict)  # client index -> the NAT host it sits behind

    @classmethod
    def build(cls, *, clients: int = 1, exits: int = 1, nat: dict[int, str] | None = None) -> Lab:
        """`nat`: client index -> "eim" (a home router's NAT: one public port per local port, whatever the
        destination) or "edm" (a new random public port for every destination: no hole punching through it)."""
        if not 0 < clients <= MAX_CLIENTS or not 0 < exits <= len(EXIT_LINKS):
            raise ValueError(f"a lab has 1-{MAX_CLIENTS} clients and 1-{len(EXIT_LINKS)} exits")
        require_root_and_tools()
        nat = nat or {}
        if set(nat) - set(range(clients)) or set(nat.values()) - {"eim", "edm"}:
            raise ValueError('nat maps client indexes to "eim" or "edm"')
        internet = Host(unique("ovi"))
        exit_hosts = [Host(unique("ove")) for _ in range(exits)]
        hosts = [Host(unique("ovc")) for _ in range(clients)]
        nat_hosts = {index: Host(unique("ovn")) for index in nat}
        try:
            internet.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            internet.run("ip", "addr", "add", f"{WEB_ADDRESS}/32", "dev", "lo")
            uplinks, internet_links = [], []
            for exit_, (gateway, public) in zip(exit_hosts, EXIT_LINKS, strict=False):
                near, uplink = link(internet, f"{gateway}/24", exit_, f"{public}/24")
                exit_.run("ip", "route", "add", "default", "via", gateway)
                uplinks.append(uplink)
                internet_links.append(near)
            client_links = []
            for index, client in enumerate(hosts):
                base = 32 * index  # 192.0.2.0/27, 192.0.2.32/27, ...: up to MAX_CLIENTS
                if index in nat:
                    client_links.append(_behind_nat(internet, nat_hosts[index], client, base, nat[index], index))
                else:
                    client_links.append(link(internet, f"192.0.2.{base + 1}/27", client, f"192.0.2.{base + 2}/27")[1])
                    client.run("ip", "route", "add", "default", "via", f"192.0.2.{base + 1}")
                # `ip netns exec` bind-mounts this over /etc/resolv.conf, so DNS changes stay in the lab.
                resolv = f"/etc/netns/{client.name}/resolv.conf"
                os.makedirs(os.path.dirname(resolv), exist_ok=True)
                with open(resolv, "w") as handle:
                    handle.write(f"nameserver 192.0.2.{base + 1}\n")
            chain_address = _link_to_machine(internet)
        except BaseException:
            for host in (internet, *exit_hosts, *hosts, *nat_hosts.values()):
                host.delete()
            raise
        return cls(
            internet=internet,
            exits=exit_hosts,
            clients=hosts,
            uplinks=uplinks,
            internet_links=internet_links,
            client_links=client_links,
            chain_address=chain_address,
            nats=nat_hosts,
        )

    @property
    def client(self) -> Host:
        return self.clients[0]

    @property
    def exit(self) -> Host:
        return self.exits[0]

    @property
    def uplink(self) -> str:
        return self.uplinks[0]

    def serve_web(self, directory: str) -> None:
        """A web server on the internet host (port 80), serving `WEB_PAGE` as /index.html."""
        with open(os.path.join(directory, "index.html"), "wb") as handle:
            handle.write(WEB_PAGE)
        process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.internet.name,
                sys.executable,
                "-m",
                "http.server",
                "80",
                "--bind",
                WEB_ADDRESS,
                "--directory",
                directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if fetch(self.internet, f"http://{WEB_ADDRESS}/index.html", timeout=1) is not None:
                return
            time.sleep(0.1)
        raise RuntimeError("the lab's web server did not start")

    def delete(self) -> None:
        for process in self.processes:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        for host in (*self.clients, *self.exits, *self.nats.values(), self.internet):
            host.delete()
            try:
                os.remove(f"/etc/netns/{host.name}/resolv.conf")
                os.rmdir(f"/etc/netns/{host.name}")
            except OSError:
                pass


def _behind_nat(internet: Host, router: Host, client: Host, base: int, kind: str, index: int) -> str:
    """`client` on a private network (10.0.INDEX.0/24) behind `router`, whose public address is
    192.0.2.BASE+2. The router masquerades as home routers do, and like them drops what arrives unasked
    (which also keeps such packets from leaving conntrack entries that would steal the mapping a hole punch
    needs). "edm" maps every new destination to a random port. Returns the client's interface."""
    public = link(internet, f"192.0.2.{base + 1}/27", router, f"192.0.2.{base + 2}/27")[1]
    router.run("ip", "route", "add", "default", "via", f"192.0.2.{base + 1}")
    router.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
    inside = link(router, f"10.0.{index}.1/24", client, f"10.0.{index}.2/24")[1]
    client.run("ip", "route", "add", "default", "via", f"10.0.{index}.1")
    mapping = " fully-random" if kind == "edm" else ""
    router.nft(
        f"""table inet lab_router {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "{public}" masquerade{mapping}
    }}
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname "{public}" ct state established,related accept
        iifname "{public}" drop
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname "{public}" ct state established,related accept
        iifname "{public}" drop
    }}
}}
"""
    )
    return inside


def _link_to_machine(internet: Host) -> str:
    """A veth between this machine and the internet host, in a /30 of 10.254.0.0/16 picked per lab."""
    number = uuid.uuid4().int % (256 * 64)
    third, fourth = number // 64, (number % 64) * 4
    mine, theirs = f"10.254.{third}.{fourth + 1}", f"10.254.{third}.{fourth + 2}"
    here, there = unique("vr"), unique("vr")
    sh("ip", "link", "add", here, "type", "veth", "peer", "name", there)
    sh("ip", "link", "set", there, "netns", internet.name)
    sh("ip", "addr", "add", f"{mine}/30", "dev", here)
    sh("ip", "link", "set", here, "up")
    internet.run("ip", "addr", "add", f"{theirs}/30", "dev", there)
    internet.run("ip", "link", "set", there, "up")
    internet.nft(
        f"""table ip lab_nat {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname "{there}" masquerade
    }}
}}
"""
    )
    return mine


def fetch(host: Host, url: str, *, timeout: float = 5.0, interface: str | None = None) -> bytes | None:
    """GET `url` from inside `host` (optionally bound to one interface); the body, or None if it failed."""
    if interface is None:
        code = (
            "import sys, urllib.request\n"
            f"sys.stdout.buffer.write(urllib.request.urlopen({url!r}, timeout={timeout}).read())"
        )
    else:
        # SO_BINDTODEVICE through a tiny connection class: the request leaves by this interface only.
        code = (
            "import socket, sys, http.client\n"
            "class C(http.client.HTTPConnection):\n"
            "    def connect(self):\n"
            "        self.sock = socket.socket()\n"
            f"        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, {interface!r}.encode())\n"
            f"        self.sock.settimeout({timeout})\n"
            "        self.sock.connect((self.host, self.port))\n"
            f"u = {url!r}.split('/', 3)\n"
            f"c = C(u[2], timeout={timeout}); c.request('GET', '/' + u[3])\n"
            "sys.stdout.buffer.write(c.getresponse().read())"
        )
    argv = [sys.executable, "-c", code]
    done = subprocess.run(["ip", "netns", "exec", host.name, *argv], capture_output=True, timeout=timeout + 10)
    return done.stdout if done.returncode == 0 else None
