"""Connecting on a chain that mines blocks on a clock, as a real one does: anvil mining a block every 2 s (a
typical L2) and every 12 s (Ethereum), switched on after the lab is set up (`evm_setAutomine` off,
`evm_setIntervalMining`).

For each block time, one lab (`octravpn.lab`): an exit node, octravpnd on the client, the real contract.
- up to the first byte: UPS times `octravpn up --exit operator` with a new session (`down --end` between),
  then UPS times rejoining the session `down` left open (`down` between). A prober already running in the
  client's namespace asks for a page the moment `up` returns.
- a simulated day: CONNECTS connects and disconnects (`up`, a download of DAY_BYTES / CONNECTS, `down`) to the
  same exit, then `down --end`; every transaction mined meanwhile is counted with its gas, by who sent it.
Needs root. Run: .venv/bin/python bench/connect.py (or `make bench-connect`).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from octravpn import config
from octravpn.chain.client import open_client
from octravpn.lab import WEB_ADDRESS, Lab, fetch, unique
from octravpn.lab_cli import LabCLI
from probing import first_byte, start_prober

BLOCK_TIMES = (2, 12)
UPS, CONNECTS = 5, 20
DAY_BYTES = 1_000_000_000


def timed_ups(cli: LabCLI, host, interface: str, prober, *, down: tuple[str, ...]) -> list[float]:
    times = []
    for _ in range(UPS):
        started = time.monotonic()  # CLOCK_MONOTONIC: the same clock in every process on the machine
        up = cli.run("up", "--exit", "operator", "--interface", interface, "--max-pay", "0.05", host=host)
        times.append(first_byte(prober) - started)
        cli.run("down", *down, "--settle-wait", "0", host=host)
        assert up["status"] == "connected"
    return times


def transactions(w3, first: int, last: int) -> list[tuple[str, int]]:
    """(sender, gas used) of every transaction mined in blocks first..last."""
    sent = []
    for number in range(first, last + 1):
        for tx in w3.eth.get_block(number, full_transactions=True).transactions:
            sent.append((tx["from"].lower(), w3.eth.get_transaction_receipt(tx["hash"]).gasUsed))
    return sent


def one_block_time(block_time: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"octravpn-bench-connect-{block_time}s-"))
    lab = Lab.build(clients=1, exits=1)
    cli = LabCLI(lab, home)
    processes = []
    try:
        web = home / "www"
        web.mkdir()
        piece = DAY_BYTES // CONNECTS
        (web / "piece.bin").write_bytes(b"\0" * piece)
        lab.serve_web(str(web))
        registered = cli.setup()
        processes.append(
            cli.start_exit(
                "--metrics", "off", "--state-dir", str(home / "exit"), log=home / "exit.log", interface=unique("oe")
            )
        )
        cli.start_daemon(lab.client, log=home / "daemon.log")
        cli.run("-w", "bob", "device", "add", cli.device(lab.client), "--fund", "1", host=lab.client)
        chain = open_client(config.load(env=cli.env).network())
        w3 = chain.w3
        w3.provider.make_request("evm_setAutomine", [False])
        w3.provider.make_request("evm_setIntervalMining", [block_time])
        interface = unique("oc")
        prober = start_prober(lab.client)
        processes.append(prober)
        new_session = timed_ups(cli, lab.client, interface, prober, down=("--end",))
        cli.run("up", "--exit", "operator", "--interface", interface, "--max-pay", "0.05", host=lab.client)
        cli.run("down", "--settle-wait", "0", host=lab.client)  # a session left open for the rejoins
        rejoin = timed_ups(cli, lab.client, interface, prober, down=())
        prober.stdin.close()
        cli.run("session", "end", "--settle-wait", str(3 * block_time), host=lab.client)

        time.sleep(2 * block_time)  # what the ups above sent is mined before the day's count begins
        first = w3.eth.block_number + 1
        started = time.monotonic()
        sessions = set()
        carried = 0
        for _ in range(CONNECTS):
            up = cli.run("up", "--exit", "operator", "--interface", interface, "--max-pay", "0.05", host=lab.client)
            sessions.add(up["session"])
            page = fetch(lab.client, f"http://{WEB_ADDRESS}/piece.bin", timeout=120)
            assert page is not None and len(page) == piece, "the download did not come through"
            carried += len(page)
            cli.run("down", "--settle-wait", "0", host=lab.client)
        ended = cli.run("down", "--end", "--settle-wait", str(4 * block_time), host=lab.client)["ended"]
        assert ended[0]["settlement"]["status"] == "settled", ended
        day_seconds = time.monotonic() - started
        time.sleep(2 * block_time)
        last = w3.eth.block_number
        device = cli.device(lab.client).lower()
        operator = registered.exit_address.lower()
        by_sender: dict[str, dict] = {}
        for sender, gas in transactions(w3, first, last):
            who = "device" if sender == device else "exit" if sender == operator else sender
            row = by_sender.setdefault(who, {"transactions": 0, "gas": 0})
            row["transactions"] += 1
            row["gas"] += gas
        return {
            "block_time_s": block_time,
            "up_new_session_to_first_byte_s": _summary(new_session),
            "up_rejoin_to_first_byte_s": _summary(rejoin),
            "day": {
                "connects": CONNECTS,
                "bytes_carried": carried,
                "sessions_opened": len(sessions),
                "wall_s": round(day_seconds, 1),
                "by_sender": by_sender,
                "settled_bytes": ended[0]["settlement"]["bytes_used"],
            },
        }
    finally:
        if lab.client.name in cli.daemons:
            cli.stop_daemon(lab.client)
        for process in processes:
            cli.stop(process)
        cli.down_devnet()
        lab.delete()


def _summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "all": [round(v, 3) for v in values]}


def main() -> int:
    print(json.dumps([one_block_time(block_time) for block_time in BLOCK_TIMES], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
