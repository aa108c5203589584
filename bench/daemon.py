"""The device daemon as a user meets it: `octravpn status` wall time (also while the chain is stalled),
`octravpn up` to the first byte of a page through the exit, and how long an exit failover leaves a
device without internet.

One lab (`octravpn.lab`) with two exits (the second dearer), an indexer and octravpnd on the client.
- status: STATUS_RUNS runs of the real command (`octravpn status`, a new process each time) while
  connected, then STATUS_RUNS more while the chain RPC is stalled (anvil stopped with SIGSTOP).
- up: UPS times `octravpn up --exit operator` (a new session each time) until the first byte of
  /index.html arrives through the exit, then `down`. A prober already running in the client's
  namespace asks for the page the moment `up` returns (no process start in the measure).
- failover: FAILOVERS times: `up --exit auto` (the first exit), the first exit's link is cut, and
  a page is fetched every 0.1 s: the time from the cut to the first page through the second exit.
Needs root. Run: .venv/bin/python bench/daemon.py (or `make bench-daemon`).
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from octravpn.lab import WEB_ADDRESS, Lab, fetch, unique
from octravpn.lab_cli import LabCLI
from probing import first_byte, start_prober

STATUS_RUNS, UPS, FAILOVERS = 40, 10, 3


def timed_status(cli: LabCLI, host) -> float:
    """Wall time of one `octravpn status`, run as a user runs it (the socket is reachable from any namespace)."""
    env = {**cli.env, "OCTRAVPN_SOCKET": str(cli.socket(host))}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "octravpn.cli.main", "status", "--json"], env=env, capture_output=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr.decode())
    return elapsed


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "median_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
        "max_ms": round(1000 * ordered[-1], 1),
        "runs": len(ordered),
    }


def process_tree(pid: int) -> list[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid, *(p for child in children for p in process_tree(int(child)))]


def first_page(host, *, deadline: float) -> float:
    while time.monotonic() < deadline:
        if fetch(host, f"http://{WEB_ADDRESS}/index.html", timeout=1) is not None:
            return time.monotonic()
        time.sleep(0.1)
    raise RuntimeError("no page through the tunnel in time")


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="octravpn-bench-daemon-"))
    lab = Lab.build(clients=1, exits=2)
    cli = LabCLI(lab, home)
    processes = []
    try:
        web = home / "www"
        web.mkdir()
        lab.serve_web(str(web))
        registered = cli.setup()
        cli.add_exit(registered.tailnet_id, index=1, wallet="operator2", price="0.000003")
        indexer, url = cli.start_indexer(log=home / "indexer.log")
        processes.append(indexer)
        for index, wallet in ((0, "operator"), (1, "operator2")):
            processes.append(
                cli.start_exit(
                    "--metrics",
                    "off",
                    "--state-dir",
                    str(home / f"exit{index}"),
                    "--idle-timeout",
                    "5",
                    log=home / f"exit{index}.log",
                    interface=unique("oe"),
                    index=index,
                    wallet=wallet,
                )
            )
        cli.start_daemon(lab.client, "--indexer", url, log=home / "daemon.log")
        cli.run("-w", "bob", "device", "add", cli.device(lab.client), "--fund", "1", host=lab.client)
        interface = unique("oc")

        ups = []
        prober = start_prober(lab.client)
        processes.append(prober)
        for _ in range(UPS):
            started = time.monotonic()  # CLOCK_MONOTONIC: the same clock in every process on the machine
            cli.run("up", "--exit", "operator", "--interface", interface, "--max-pay", "0.01", host=lab.client)
            ups.append(first_byte(prober) - started)
            cli.run("down", "--end", "--settle-wait", "0", host=lab.client)
        prober.stdin.close()

        cli.run("up", "--exit", "operator", "--interface", interface, "--max-pay", "0.01", host=lab.client)
        connected = [timed_status(cli, lab.client) for _ in range(STATUS_RUNS)]
        anvil = process_tree(int((home / "data" / "octravpn" / "devnet" / "anvil.pid").read_text()))
        for pid in anvil:
            os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(6)  # past the daemon's RPC timeout: it is waiting on the chain now
            stalled = [timed_status(cli, lab.client) for _ in range(STATUS_RUNS)]
            stalled_view = cli.run("status", host=lab.client)["chain"]
        finally:
            for pid in anvil:
                os.kill(pid, signal.SIGCONT)
        cli.run("down", "--end", "--settle-wait", "0", host=lab.client)

        failovers, detected = [], []
        for _ in range(FAILOVERS):
            up = cli.run(
                "up", "--exit", "auto", "--indexer", url, "--interface", interface, "--max-pay", "0.01", host=lab.client
            )
            first_page(lab.client, deadline=time.monotonic() + 30)
            # `auto` ranks by standing, which the sessions before raised: cut whichever exit it chose.
            link = lab.internet_links[0 if up["exit"] == registered.exit_address else 1]
            cut = time.monotonic()
            lab.internet.run("ip", "link", "set", link, "down")
            back = first_page(lab.client, deadline=cut + 60)
            failovers.append(back - cut)
            status = cli.run("status", host=lab.client)
            assert status["exit"] != up["exit"], "the page came through the exit that was cut"
            detected.append(status["last_failover"]["seconds_without_exit"])
            lab.internet.run("ip", "link", "set", link, "up")
            cli.run("down", "--end", "--settle-wait", "0", host=lab.client)
        result = {
            "status_connected": summary(connected),
            "status_chain_stalled": {**summary(stalled), "chain_reachable_said": stalled_view["reachable"]},
            "up_to_first_byte_s": {"median": round(statistics.median(ups), 3), "all": [round(x, 3) for x in ups]},
            "failover_cut_to_first_page_s": {
                "median": round(statistics.median(failovers), 2),
                "all": [round(x, 2) for x in failovers],
            },
            "failover_daemon_reported_silence_s": detected,
        }
        print(json.dumps(result, indent=1))
    finally:
        for link in lab.internet_links:
            lab.internet.run("ip", "link", "set", link, "up", check=False)
        if lab.client.name in cli.daemons:
            cli.stop_daemon(lab.client)
        for process in processes:
            cli.stop(process)
        cli.down_devnet()
        lab.delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
