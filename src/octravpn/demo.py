"""`make demo`: the whole story on one machine, through the command line.

A local devnet; an exit node in its own network namespace; a client in
another; an "internet" host with a web server between them. The operator
stakes, registers and runs its node; Alice creates a tailnet and adds Bob;
an indexer follows the chain; Bob's machine runs the device daemon
(octravpnd), which Bob registers as his device; Bob lists the exits and
connects to the best one (`octravpn up --exit auto`), fetches a page through
the tunnel, and disconnects (`octravpn down`), which leaves the session open; connects again with no
transaction (the daemon rejoins it), and disconnects for good (`octravpn down --end`): the last receipt, signed
by the device key, settles the session on chain and the operator's earnings grow. Then the mesh: Alice uploads
the tailnet's policy to the indexer, her laptop (a third namespace) runs its daemon and is registered as her
device, and pings Bob's machine by name, straight over WireGuard, as the policy allows. Every step prints the
command a user types. It leaves nothing behind: namespaces, devnet and home are removed.
Needs root (namespaces, WireGuard).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from octravpn.lab import WEB_ADDRESS, Lab, fetch, unique
from octravpn.lab_cli import LabCLI


def run() -> None:
    if os.geteuid() != 0:
        raise SystemExit("the demo needs root: it creates network namespaces and WireGuard interfaces")
    with tempfile.TemporaryDirectory(prefix="octravpn-demo-") as tmp:
        home = Path(tmp)
        lab = Lab.build(clients=2)
        cli = LabCLI(lab, home, echo=True)
        node = indexer = daemon = laptop = None
        try:
            web = home / "www"
            web.mkdir()
            lab.serve_web(str(web))
            registered = cli.setup()
            node = cli.start_exit(
                "--receipt-every", "0.001", "--dns", "203.0.113.53", log=home / "exit.log", interface=unique("oe")
            )
            indexer, indexer_url = cli.start_indexer(log=home / "indexer.log")
            cli.run(
                "exits",
                "list",
                "--indexer",
                indexer_url,
                json_out=False,
                host=lab.client,
                title="Bob looks for exits (the indexer's discovery API)",
            )
            daemon = cli.start_daemon(lab.client, "--indexer", indexer_url, log=home / "daemon.log")
            device = cli.device(lab.client)
            cli.run(
                "-w",
                "bob",
                "device",
                "add",
                device,
                "--fund",
                "0.1",
                host=lab.client,
                title="Bob registers his machine's device key (made by the daemon) and sends it gas money",
            )
            interface = unique("oc")
            up = ("up", "--exit", "auto", "--indexer", indexer_url, "--interface", interface)
            cli.run(
                *up,
                "--max-pay",
                "0.01",
                host=lab.client,
                title="Bob connects through the best exit his tailnet allows (a session opens, locking 0.01)",
            )
            print(
                f"\n## Bob fetches a page from the internet host, through the tunnel (on {lab.client.name})\n"
                f"$ curl http://{WEB_ADDRESS}/index.html",
                flush=True,
            )
            page = fetch(lab.client, f"http://{WEB_ADDRESS}/index.html")
            if page is None:
                raise SystemExit(
                    "the page did not come through the tunnel: see the exit's log " + str(home / "exit.log")
                )
            print(page.decode().splitlines()[0] + f"  … ({len(page)} bytes)", flush=True)
            time.sleep(2.5)  # a receipt round: the exit asks, the daemon signs with the device key
            cli.run(
                "status", host=lab.client, title="Bob's status, from the daemon: tunnel, bytes, receipts, deposit left"
            )
            cli.run(
                "down",
                host=lab.client,
                title="Bob disconnects: last receipt signed, network restored, the session left open for his next up",
            )
            cli.run(
                *up,
                host=lab.client,
                title="Bob connects again: the daemon rejoins the session it left open (no transaction, no block)",
            )
            ended = cli.run(
                "down",
                "--end",
                host=lab.client,
                title="Bob disconnects and ends the session: the exit settles with his last receipt",
            )
            cli.run("session", "show", str(ended["session"]), title="The session on chain")
            cli.run("earnings", "show", "operator", title="The operator's earnings")
            cli.run("tailnet", "show", str(registered.tailnet_id), title="The tailnet's treasury after the refund")
            laptop = lab.clients[1]
            _mesh(cli, lab.client, laptop, registered.tailnet_id, indexer_url, home)
        finally:
            if laptop is not None and laptop.name in cli.daemons:
                cli.stop_daemon(laptop)
            if daemon is not None:
                cli.stop_daemon(lab.client)
            if indexer is not None:
                cli.stop(indexer)
            if node is not None:
                cli.stop(node)
            cli.down_devnet()
            lab.delete()


def _mesh(cli: LabCLI, bob, laptop, tailnet_id: int, indexer_url: str, home: Path) -> None:
    """Alice's laptop joins the tailnet's mesh and reaches Bob's machine by name (the policy Alice published with
    the tailnet is on chain: every device reads it there)."""
    cli.run("set", "--hostname", "bobs-box", host=bob, title="Bob names his machine in the tailnet")
    cli.start_daemon(laptop, "--indexer", indexer_url, log=home / "laptop.log")
    cli.run(
        "-w",
        "alice",
        "device",
        "add",
        cli.device(laptop),
        "--fund",
        "0.1",
        host=laptop,
        title="Alice registers her laptop's device key",
    )
    cli.run("set", "--hostname", "alices-laptop", host=laptop, title="…and names it")
    deadline = time.monotonic() + 60
    while not any(p["name"] == "bobs-box" and p["last_handshake"] for p in _peers(cli, laptop)):
        if time.monotonic() > deadline:
            raise SystemExit("the laptop did not reach Bob's machine: see " + str(home / "laptop.log"))
        time.sleep(0.5)
    cli.run(
        "ping",
        "bobs-box",
        host=laptop,
        json_out=False,
        title="Alice's laptop pings Bob's machine by name, straight over WireGuard (the policy lets members talk)",
    )
    cli.run("ip", "bobs-box", host=laptop, json_out=False, title="Bob's machine's tailnet addresses")


def _peers(cli: LabCLI, host) -> list[dict]:
    echo, cli.echo = cli.echo, False  # polling: not a step of the story
    try:
        return cli.run("status", host=host)["mesh"].get("peers", [])
    finally:
        cli.echo = echo


def main() -> int:
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
