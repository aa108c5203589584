"""Throughput and agent cost of an OctraVPN tunnel, on one machine.

In one lab (client, exit and internet namespaces, `octravpn.lab`):
  a) WireGuard set up by hand (wireguard-go, wg, ip, nftables NAT), no OctraVPN agents;
  b) an OctraVPN session, the exit agent and the device daemon running (metering every second, receipts every 64 MB).
iperf3 runs client -> internet host through each, alternating a, b for ROUNDS rounds of SECONDS
each; the ratio b/a of the medians is reported. In each round of b, one more run downloads (iperf3
-R) and compares what the exit's WireGuard counted for the client with what the client's counted:
datagrams the exit sent and counted that never arrived (what the client's `--loss` is for).
Also: the exit agent's and the device daemon's CPU and peak RSS during the b runs, and the exit
agent's CPU and RSS with 100 idle sessions (`up` to the first byte is `bench/daemon.py`'s). Needs root and iperf3 (`make bench`).
Run: .venv/bin/python bench/tunnel.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from octravpn.lab import EXIT_PUBLIC, WEB_ADDRESS, Lab, unique
from octravpn.lab_cli import PASSWORD, LabCLI
from octravpn.wireguard.keys import Keypair

ROUNDS, SECONDS, IDLE_SESSIONS = 5, 8, 100
TICKS = os.sysconf("SC_CLK_TCK")


def iperf(lab: Lab, *reverse: str) -> float:
    done = lab.client.run("iperf3", "-c", WEB_ADDRESS, "-t", str(SECONDS), "-J", *reverse, timeout=SECONDS + 30)
    return json.loads(done.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6


def counted(host, interface: str, peer: str | None = None) -> int:
    """rx + tx that WireGuard counted on `interface` (for `peer`, or its only peer)."""
    for line in host.run("wg", "show", interface, "transfer").stdout.splitlines():
        key, rx, tx = line.split()
        if peer is None or key == peer:
            return int(rx) + int(tx)
    raise RuntimeError(f"no peer {peer} on {interface}")


def exit_overcount_percent(lab: Lab, client_if: str, exit_if: str) -> float:
    """How much more the exit counts than the client for one download run through the session."""
    peer = lab.client.run("wg", "show", client_if, "public-key").stdout.strip()
    client_before, exit_before = counted(lab.client, client_if), counted(lab.exit, exit_if, peer)
    iperf(lab, "-R")
    client, exit_ = counted(lab.client, client_if) - client_before, counted(lab.exit, exit_if, peer) - exit_before
    return 100 * (exit_ - client) / client


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class ManualTunnel:
    """Baseline: the same path, configured with the standard tools only."""

    def __init__(self, lab: Lab) -> None:
        self.lab, self.exit_if, self.client_if = lab, unique("me"), unique("mc")
        exit_keys, client_keys = Keypair.generate(), Keypair.generate()
        ex, cl = lab.exit, lab.client
        for host, name, keys in ((ex, self.exit_if, exit_keys), (cl, self.client_if, client_keys)):
            host.run("wireguard-go", name)
            key_file = f"/tmp/{name}.key"
            Path(key_file).write_text(keys.private_b64 + "\n")
            host.run("wg", "set", name, "private-key", key_file)
            os.remove(key_file)
        ex.run(
            "wg",
            "set",
            self.exit_if,
            "listen-port",
            "51899",
            "peer",
            client_keys.public_b64,
            "allowed-ips",
            "10.99.0.2/32",
        )
        cl.run(
            "wg",
            "set",
            self.client_if,
            "peer",
            exit_keys.public_b64,
            "allowed-ips",
            "0.0.0.0/0",
            "endpoint",
            f"{EXIT_PUBLIC}:51899",
        )
        ex.run("ip", "addr", "add", "10.99.0.1/24", "dev", self.exit_if)
        cl.run("ip", "addr", "add", "10.99.0.2/24", "dev", self.client_if)
        for host, name in ((ex, self.exit_if), (cl, self.client_if)):
            host.run("ip", "link", "set", name, "up")
        ex.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        subprocess.run(
            ["ip", "netns", "exec", ex.name, "nft", "-f", "-"],
            check=True,
            text=True,
            input=f"""
table ip manual_nat {{
    chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; oifname "{lab.uplink}" ip saddr 10.99.0.0/24 masquerade; }}
}}""",
        )

    def route(self, on: bool) -> None:
        self.lab.client.run(
            "ip", "route", "replace" if on else "del", f"{WEB_ADDRESS}/32", *(("dev", self.client_if) if on else ())
        )

    def delete(self) -> None:
        self.lab.exit.run("ip", "link", "del", self.exit_if, check=False)
        self.lab.client.run("ip", "link", "del", self.client_if, check=False)
        self.lab.exit.run("nft", "delete", "table", "ip", "manual_nat", check=False)


def idle_sessions(cli: LabCLI, lab: Lab, count: int) -> None:
    """`count` sessions opened and joined from the client host (no traffic): peers the exit keeps metering."""
    code = f"""
import time
from octravpn import config
from octravpn.chain.client import open_client
from octravpn.client.connect import Connector, join
from octravpn.wallet import Keystore
from octravpn.wireguard.keys import Keypair
settings = config.load(); network = settings.network()
account = Keystore(settings.keystore_dir).unlock("bob", {PASSWORD!r})
connector = Connector(client=open_client(network, account), account=account)
located = connector.locate(connector.client.registered_exits()[0])
for _ in range({count}):
    sid = connector.open_session(located.address, None, 10**15, located.price_per_mb).session_id
    join(connector.domain, account, located.api_url, located.wg_pubkey, sid, Keypair.generate(), clock=time.time)
"""
    subprocess.run(
        ["ip", "netns", "exec", lab.client.name, sys.executable, "-c", code], env=cli.env, check=True, timeout=600
    )


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="octravpn-bench-"))
    lab = Lab.build(clients=1)
    cli = LabCLI(lab, home)
    servers, manual, node, daemon = [], None, None, None
    try:
        lab.serve_web(str(home))
        cli.setup()
        daemon = cli.start_daemon(lab.client, log=home / "daemon.log")
        cli.run("-w", "bob", "device", "add", cli.device(lab.client), "--fund", "1", host=lab.client)
        exit_interface = unique("oe")
        node = cli.start_exit("--metrics", "off", log=home / "exit.log", interface=exit_interface)
        servers.append(
            subprocess.Popen(
                ["ip", "netns", "exec", lab.internet.name, "iperf3", "-s", "-B", WEB_ADDRESS],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        time.sleep(0.5)
        manual = ManualTunnel(lab)
        baseline, octra, exit_cpu, client_cpu, client_rss, overcount = [], [], [], [], 0.0, []
        interface = unique("oc")
        for _ in range(ROUNDS):
            manual.route(True)
            baseline.append(iperf(lab))
            manual.route(False)
            up = cli.run("up", "--exit", "operator", "--interface", interface, "--max-pay", "0.1", host=lab.client)
            client_pid = daemon.pid
            start_exit, start_client, started = cpu_seconds(node.pid), cpu_seconds(client_pid), time.monotonic()
            octra.append(iperf(lab))
            elapsed = time.monotonic() - started
            exit_cpu.append(100 * (cpu_seconds(node.pid) - start_exit) / elapsed)
            client_cpu.append(100 * (cpu_seconds(client_pid) - start_client) / elapsed)
            client_rss = max(client_rss, peak_rss_mb(client_pid))
            overcount.append(exit_overcount_percent(lab, interface, exit_interface))
            cli.run("down", host=lab.client)
            assert up["status"] == "connected"
        exit_rss_full = peak_rss_mb(node.pid)
        idle_sessions(cli, lab, IDLE_SESSIONS)
        time.sleep(3)
        start, started = cpu_seconds(node.pid), time.monotonic()
        time.sleep(30)
        idle_cpu = 100 * (cpu_seconds(node.pid) - start) / (time.monotonic() - started)
        peers = len(lab.exit.run("wg", "show", exit_interface, "peers").stdout.split())
        result = {
            "iperf3_mbit_s_manual": [round(x) for x in baseline],
            "iperf3_mbit_s_octravpn": [round(x) for x in octra],
            "ratio_b_over_a": round(statistics.median(octra) / statistics.median(baseline), 3),
            "download_exit_counts_more_than_client_percent": [round(x, 2) for x in overcount],
            "exit_agent_cpu_percent_full_speed": round(statistics.median(exit_cpu), 1),
            "device_daemon_cpu_percent_full_speed": round(statistics.median(client_cpu), 1),
            "exit_agent_peak_rss_mb_full_speed": round(exit_rss_full, 1),
            "device_daemon_peak_rss_mb": round(client_rss, 1),
            "exit_agent_cpu_percent_100_idle": round(idle_cpu, 1),
            "exit_agent_peak_rss_mb_100_idle": round(peak_rss_mb(node.pid), 1),
            "idle_sessions": peers,
        }
        print(json.dumps(result, indent=1))
    finally:
        for server in servers:
            server.terminate()
        if manual is not None:
            manual.delete()
        if daemon is not None:
            cli.stop_daemon(lab.client)
        if node is not None:
            cli.stop(node)
        cli.down_devnet()
        lab.delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
