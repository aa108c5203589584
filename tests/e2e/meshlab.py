"""What the mesh's e2e tests share: devices by name in a lab, each with a daemon whose mesh uses the lab's
indexer, and waiting for the meshes to show something (with every device's view in the failure)."""

from __future__ import annotations

import json
import time

from octravpn.lab import Lab, unique
from octravpn.lab_cli import LabCLI


class MeshLab:
    """The lab's clients by device name, their daemons, and what each one's mesh shows."""

    def __init__(self, lab: Lab, cli: LabCLI, indexer: str, home, names: tuple[str, ...]) -> None:
        self.lab, self.cli, self.indexer, self.home, self.names = lab, cli, indexer, home, names
        self.hosts = dict(zip(names, lab.clients, strict=True))
        self.interfaces = {name: unique("om") for name in names}

    def run(self, name: str, *args: str, **options):
        return self.cli.run(*args, host=self.hosts[name], **options)

    def mesh(self, name: str) -> dict:
        return self.run(name, "status")["mesh"]

    def peers(self, name: str) -> dict[str, dict]:
        return {p["name"]: p for p in self.mesh(name).get("peers", [])}

    def read_mailbox(self, name: str) -> list[dict]:
        """The tailnet's announcements as the indexer serves them to device `name` (a signed read)."""
        import httpx

        from octravpn import config
        from octravpn.protocol.announce import MailboxRead
        from octravpn.protocol.eip712 import Domain, sign

        network = config.load(env=self.cli.env).network()
        key = bytes.fromhex(
            (self.cli.state_dir(self.hosts[name]) / "device.key").read_text().strip().removeprefix("0x")
        )
        status = self.mesh(name)
        read = MailboxRead(
            subject=status["tailnet"], reader=self.cli.device(self.hosts[name]), timestamp=int(time.time())
        )
        signature = sign(Domain(chain_id=network.chain_id, verifying_contract=network.contract), read, key)
        url = f"{self.indexer}/v1/tailnets/{status['tailnet']}/announcements"
        return httpx.get(url, headers={"Authorization": read.header(signature)}, timeout=5).json()["items"]

    def start(self, name: str, *extra: str) -> None:
        self.cli.start_daemon(
            self.hosts[name],
            "--indexer",
            self.indexer,
            "--mesh-interface",
            self.interfaces[name],
            *extra,
            log=self.home / f"daemon-{name}.log",
        )

    def join(self, name: str, wallet: str, *settings: str) -> None:
        """The device's daemon, its key registered for `wallet`, its hostname `name`, and `settings`."""
        self.start(name)
        host = self.hosts[name]
        self.cli.run("-w", wallet, "device", "add", self.cli.device(host), "--fund", "1", host=host)
        self.run(name, "set", "--hostname", name, *settings)

    def explain(self) -> str:
        """Every device's mesh, for a test that timed out waiting on them."""
        return "the meshes: " + json.dumps({name: self.mesh(name) for name in self.names}, indent=1)

    def stop_all(self) -> None:
        for host in self.lab.clients:
            if host.name in self.cli.daemons:
                self.cli.stop_daemon(host)  # SIGTERM: each daemon takes its mesh down
