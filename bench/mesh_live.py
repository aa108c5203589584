"""The mesh, live: real daemons in a lab, on the devnet, with an indexer (`octravpn.lab`).

- throughput: iperf3 between two member devices through the mesh, and through WireGuard set up by hand with
  `wg` between the same two hosts, alternating, ROUNDS rounds of SECONDS each; the ratio of the medians
  (goal >= 0.95);
- join: from `device add` of a new device (its daemon already running) to the first echo it answers from a
  peer, repeated JOINS times with a new device key each (goal <= 5 s);
- leave: from `device revoke` of such a device to the moment its peer no longer has it (goal <= 10 s);
- policy: from `tailnet set-acl` with a new policy (its document on chain) to the moment the peer's filter
  admits the newly allowed port (goal <= 10 s);
- removal: from `tailnet remove-member` of bob to the moment alice's device no longer has bob's (goal <= 10 s).
Needs root and iperf3 (`make bench-mesh`). Run: .venv/bin/python bench/mesh_live.py
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from octravpn.lab import Lab, unique
from octravpn.lab_cli import LabCLI
from octravpn.wireguard.keys import Keypair, encode_key

ROUNDS, SECONDS, JOINS = 5, 8, 3
POLICY = {"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["*:*"]}]}


def iperf(host, address: str) -> float:
    done = host.run("iperf3", "-c", address, "-t", str(SECONDS), "-J", timeout=SECONDS + 30)
    return json.loads(done.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6


class ByHand:
    """WireGuard between the same two hosts, configured with wg and ip only."""

    def __init__(self, lab: Lab, home: Path) -> None:
        self.hosts = lab.clients[:2]
        self.names = [unique("wh"), unique("wh")]
        keys = [Keypair.generate(), Keypair.generate()]
        underlay = ["192.0.2.2", "192.0.2.34"]
        for index, host in enumerate(self.hosts):
            other = 1 - index
            key_file = home / f"byhand{index}.key"
            key_file.write_text(encode_key(keys[index].private))
            host.run("wireguard-go", self.names[index])
            host.run(
                "wg", "set", self.names[index], "private-key", str(key_file), "listen-port", str(51900 + index),
                "peer", encode_key(keys[other].public), "allowed-ips", f"10.99.0.{other + 1}/32",
                "endpoint", f"{underlay[other]}:{51900 + other}",
            )  # fmt: skip
            host.run("ip", "addr", "add", f"10.99.0.{index + 1}/24", "dev", self.names[index])
            host.run("ip", "link", "set", self.names[index], "up")

    def close(self) -> None:
        for host, name in zip(self.hosts, self.names, strict=True):
            host.run("ip", "link", "del", name, check=False)


def wait(predicate, *, timeout: float, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise RuntimeError("timed out")


def answers(host, address: str) -> bool:
    return host.run("ping", "-c", "1", "-W", "0.3", address, check=False).returncode == 0


def tcp_open(host, address: str, port: int) -> bool:
    code = f"import socket; socket.create_connection(({address!r}, {port}), timeout=0.3)"
    return host.run(sys.executable, "-c", code, check=False).returncode == 0


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="octravpn-bench-mesh-"))
    lab = Lab.build(clients=3)
    cli = LabCLI(lab, home)
    processes, by_hand = [], None
    try:
        tailnet = cli.setup().tailnet_id
        indexer_process, indexer = cli.start_indexer(log=home / "indexer.log")
        processes.append(indexer_process)

        def start(host, name: str, wallet: str | None) -> str:
            cli.start_daemon(
                host, "--indexer", indexer, "--mesh-interface", unique("om"), log=home / f"daemon-{host.name}.log"
            )
            cli.run("set", "--hostname", name, host=host)
            device = cli.device(host)
            if wallet:
                cli.run("-w", wallet, "device", "add", device, "--fund", "1", host=host)
            return device

        a, b, c = lab.clients
        start(a, "a", "alice")
        start(b, "b", "bob")
        peer_b = wait(
            lambda: {p["name"]: p for p in cli.run("status", host=a)["mesh"].get("peers", [])}.get("b"), timeout=60
        )
        b_address = peer_b["addresses"][0]
        wait(lambda: answers(a, b_address), timeout=30)

        # throughput
        server = subprocess.Popen(["ip", "netns", "exec", b.name, "iperf3", "-s"], stdout=subprocess.DEVNULL)
        processes.append(server)
        by_hand = ByHand(lab, home)
        wait(lambda: answers(a, "10.99.0.2"), timeout=30)
        hand, mesh = [], []
        for _ in range(ROUNDS):
            hand.append(iperf(a, "10.99.0.2"))
            mesh.append(iperf(a, b_address))
        by_hand.close()
        by_hand = None

        # join and leave
        joins, leaves = [], []
        for round_ in range(JOINS):
            cli.start_daemon(
                c, "--indexer", indexer, "--mesh-interface", unique("om"),
                "--state-dir", str(home / f"newcomer{round_}"), log=home / f"daemon-c{round_}.log",
            )  # fmt: skip
            cli.run("set", "--hostname", f"new{round_}", host=c)
            device = cli.device(c)
            started = time.monotonic()
            cli.run("-w", "bob", "device", "add", device, "--fund", "1", host=c)

            def peer_address(name=f"new{round_}"):
                rows = cli.run("status", host=a)["mesh"].get("peers", [])
                return next((p["addresses"][0] for p in rows if p["name"] == name), None)

            address = wait(peer_address, timeout=30)
            wait(lambda address=address: answers(a, address), timeout=30, step=0)
            joins.append(time.monotonic() - started)
            started = time.monotonic()
            cli.run("-w", "bob", "device", "revoke", device)
            wait(lambda: peer_address() is None, timeout=30)
            leaves.append(time.monotonic() - started)
            cli.stop_daemon(c)

        # a new policy: port 7 closed, opened, closed again
        listener = subprocess.Popen(
            ["ip", "netns", "exec", b.name, sys.executable, "-c",
             "import socket; s=socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0);"
             "s.bind(('::', 7)); s.listen(64)\nwhile True: s.accept()[0].close()"],
        )  # fmt: skip
        processes.append(listener)
        policies = []
        for round_, port in enumerate((22, 7, 22)):
            document = {"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": [f"*:{port}"]}]}
            path = home / f"policy{round_}.hujson"
            path.write_text(json.dumps(document))
            opens = port == 7
            started = time.monotonic()
            cli.run("-w", "alice", "tailnet", "set-acl", str(tailnet), str(path))
            wait(lambda opens=opens: tcp_open(a, b_address, 7) == opens, timeout=30, step=0)
            policies.append(time.monotonic() - started)

        # bob removed from the tailnet
        started = time.monotonic()
        cli.run("-w", "alice", "tailnet", "remove-member", str(tailnet), "bob")
        wait(lambda: not any(p["name"] == "b" for p in cli.run("status", host=a)["mesh"].get("peers", [])), timeout=30)
        removal = time.monotonic() - started

        result = {
            "iperf3_mbit_s_by_hand": [round(x) for x in hand],
            "iperf3_mbit_s_mesh": [round(x) for x in mesh],
            "throughput_ratio": round(statistics.median(mesh) / statistics.median(hand), 3),
            "device_add_to_first_ping_s": [round(x, 2) for x in joins],
            "device_add_to_first_ping_median_s": round(statistics.median(joins), 2),
            "revoke_to_gone_s": [round(x, 2) for x in leaves],
            "policy_to_enforced_s": [round(x, 2) for x in policies],
            "remove_member_to_gone_s": round(removal, 2),
        }
        print(json.dumps(result, indent=1))
        return 0
    finally:
        if by_hand is not None:
            by_hand.close()
        for host in lab.clients:
            if host.name in cli.daemons:
                cli.stop_daemon(host)
        for process in processes:
            process.kill()
            process.wait()
        cli.down_devnet()
        lab.delete()


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    sys.exit(main())
