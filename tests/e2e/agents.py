"""What the agent e2e tests share: a lab and chain per module with a device daemon on every client
(registered as a device of bob), exit nodes that each test starts and stops (and that must leave
nothing behind), and the client commands they run."""

import json
import os
import sqlite3
import subprocess
from pathlib import Path

from octravpn import config
from octravpn.chain.client import open_client
from octravpn.lab import WEB_ADDRESS, Lab, fetch, unique
from octravpn.lab_cli import CommandFailed, LabCLI
from octravpn.node import egress
from tests.support.waiting import wait_for

BIG = 1_000_000  # bytes of /big.bin
LEEWAY = 1_000_000  # the client's default


def make_world(tmp_path_factory, *, clients: int = 2, exits: int = 1, erc20: bool = False):
    home = tmp_path_factory.mktemp("lab")
    lab = Lab.build(clients=clients, exits=exits)
    cli = LabCLI(lab, home)
    try:
        web = home / "www"
        web.mkdir()
        (web / "big.bin").write_bytes(os.urandom(BIG))
        lab.serve_web(str(web))
        registered = cli.setup(erc20=erc20)
        for host in lab.clients:
            start_device(cli, host, home)
        chain = open_client(config.load(env=cli.env).network())
        yield lab, cli, registered, chain
    finally:
        for host in lab.clients:
            if host.name in cli.daemons:
                _disconnect(cli, host)
                cli.stop_daemon(host)
        cli.down_devnet()
        lab.delete()


class Exit:
    """One test's exit node: started with options, stopped (or killed) at will."""

    def __init__(self, cli: LabCLI, directory: Path, *options: str, index: int = 0, wallet: str = "operator") -> None:
        self.cli, self.options, self.index, self.wallet = cli, options, index, wallet
        self.state_dir, self.log = directory / "exit-state", directory / "exit.log"
        self.interface = unique("oe")
        self.process = None

    def start(self) -> "Exit":
        self.process = self.cli.start_exit(
            "--state-dir",
            str(self.state_dir),
            "--metrics",
            "off",
            *self.options,
            log=self.log,
            interface=self.interface,
            index=self.index,
            wallet=self.wallet,
        )
        return self

    def stop(self, *, kill: bool = False) -> int | None:
        if self.process and self.process.poll() is None:
            return self.cli.stop(self.process, kill=kill)
        return None

    def leftovers(self) -> list[str]:
        """What a stopped exit left on its host: its interface, its nftables table, its wireguard-go."""
        host, found = self.cli.lab.exits[self.index], []
        if host.run("ip", "link", "show", self.interface, check=False).returncode == 0:
            found.append(f"interface {self.interface}")
        table = egress.table_name(self.interface)
        if host.run("nft", "list", "table", "inet", table, check=False).returncode == 0:
            found.append(f"nftables table {table}")
        if wireguard_go(self.interface):
            found.append(f"wireguard-go {self.interface}")
        return found

    def db(self, query: str, *args):
        with sqlite3.connect(self.state_dir / "node.db") as db:
            return db.execute(query, args).fetchall()


def _disconnect(cli: LabCLI, host) -> None:
    """After a test that failed while connected: `down`, so the daemon's tunnel does not outlive the lab (a daemon
    that stops keeps its connection for the next start, by design)."""
    try:
        if cli.run("status", host=host)["status"] != "down":
            cli.run("down", "--settle-wait", "0", host=host)
    except CommandFailed:
        pass  # the failure that brought us here says more


def start_device(cli: LabCLI, host, home: Path, *options: str):
    """octravpnd on `host`, its device key registered for bob and given gas money."""
    process = cli.start_daemon(host, *options, log=home / f"daemon-{host.name}.log")
    device = cli.device(host)
    if not cli.run("status", host=host)["member"]:
        cli.run("-w", "bob", "device", "add", device, "--fund", "1", host=host)
    return process


def exit_starter(world, tmp_path):
    started = []

    def start(*options: str) -> Exit:
        node = Exit(world[1], tmp_path, *options).start()
        started.append(node)
        return node

    yield start
    lab, cli = world[0], world[1]
    for host in lab.clients:  # a test that failed while connected leaves no tunnel to the tests after it
        if host.name in cli.daemons:
            _disconnect(cli, host)
    for node in started:  # SIGTERM, as systemd stops it: a clean exit that leaves nothing behind
        assert node.stop() in (0, None), node.log.read_text()[-2000:]
        wait_for(lambda: not node.leftovers(), timeout=10, what=f"the exit to remove {node.leftovers()}")


def wireguard_go(interface: str) -> list[str]:
    found = subprocess.run(["pgrep", "-a", "-f", f"wireguard-go {interface}$"], capture_output=True, text=True).stdout
    return found.splitlines()


def _up(cli, host, interface, *extra):
    return cli.run("up", "--exit", "operator", "--interface", interface, "--max-pay", "0.01", *extra, host=host)


def _status(cli, host, interface=None):
    return cli.run("status", host=host)


def _down(cli, host, *extra):
    """`down --end`: disconnect and end the session (the tests of settlement); `down` alone leaves it open."""
    return cli.run("down", "--end", *extra, host=host)


def _carry(cli, host, interface, *, times: int) -> dict:
    """Fetch /big.bin `times` times, each until the client signed the receipt the exit asked for it."""
    status = _status(cli, host, interface)
    for _ in range(times):
        signed = status["receipts_signed"]
        assert fetch(host, f"http://{WEB_ADDRESS}/big.bin", timeout=20) is not None
        status = wait_for(
            lambda: (s := _status(cli, host, interface))["receipts_signed"] > signed and s,
            what="a receipt",
            explain=lambda: json.dumps(_status(cli, host, interface))[:2000],
        )
    return status


def _settled(chain, session_id):
    return [e for e in chain.session_events(session_id) if e.name == "SessionSettled"]


def one_batch_pays_one_session_and_skips_a_revoked_devices(world, start_exit, tmp_path) -> None:
    """A laptop stolen and its key revoked: the exit's next checkpoints go out as one batch; the revoked key's
    receipts prove nothing any more, so its session is skipped with the reason, and the other session is paid
    in the same transaction."""
    lab, cli, registered, chain = world
    node = start_exit("--receipt-every", "0.2", "--max-unsigned", "2", "--checkpoint-at", "1000")  # not yet
    host = lab.clients[1]
    cli.stop_daemon(host)  # this machine's daemon, replaced by one with a key of its own to revoke
    cli.start_daemon(host, "--state-dir", str(tmp_path / "stolen-laptop"), log=tmp_path / "daemon.log")
    kept, stolen = unique("oc"), unique("oc")
    try:
        kept_session = _up(cli, lab.client, kept)["session"]
        laptop = cli.run("-w", "bob", "up", "--exit", "operator", "--interface", stolen, "--max-pay", "0.01", host=host)
        _carry(cli, lab.client, kept, times=1)
        _carry(cli, host, stolen, times=1)
        cli.run("-w", "bob", "device", "revoke", laptop["device"])
        node.stop()
        start_exit("--receipt-every", "0.2", "--max-unsigned", "2", "--checkpoint-at", "0.0000001")  # same store

        def skipped():
            return [e for e in chain.session_events(laptop["session"]) if e.name == "SettlementSkipped"]

        (skip,) = wait_for(skipped, timeout=60, what="the exit's batch")
        assert skip.args["reason"] == "receipt not signed by the opener or its device"
        (paid,) = [e for e in chain.session_events(kept_session) if e.name == "SessionCheckpointed"]
        assert paid.tx_hash == skip.tx_hash  # one transaction, one item skipped, the other paid
        assert chain.session(kept_session).bytes_paid == paid.args["bytes_used"] > 0
        assert chain.session(laptop["session"]).bytes_paid == 0
        # Refused once, that receipt is not sent again with the next checkpoint (each item costs gas).
        _carry(cli, lab.client, kept, times=1)
        wait_for(
            lambda: len([e for e in chain.session_events(kept_session) if e.name == "SessionCheckpointed"]) == 2,
            timeout=60,
            what="the exit's next checkpoint",
        )
        assert len(skipped()) == 1
        assert _down(cli, lab.client)["settlement"]["status"] == "settled"
    finally:
        cli.run("down", "--settle-wait", "0", host=host)
        cli.stop_daemon(host)
        cli.start_daemon(host, log=tmp_path / "daemon-again.log")  # the world's own daemon, for the tests after
