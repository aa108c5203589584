"""`make demo`: the whole on-chain story on a local devnet, through the CLI.

Every step is the `octravpn` command a user would type, printed before its
output. It runs in a throwaway home (config, wallets, chain) and stops the
devnet at the end, so it leaves nothing behind.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from octravpn.chain.devnet import free_port
from octravpn.config import isolated_environment
from octravpn.wireguard.keys import Keypair

DEMO_PASSWORD = "octravpn-demo"  # devnet wallets only hold test funds


class Demo:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**isolated_environment(home), "OCTRAVPN_PASSWORD": DEMO_PASSWORD}

    def run(self, title: str, *args: str, capture_json: bool = False):
        shown = " ".join(shlex.quote(a) for a in args)
        print(f"\n## {title}\n$ octravpn {shown}", flush=True)
        command = [sys.executable, "-m", "octravpn.cli.main", *(["--json"] if capture_json else []), *args]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise SystemExit(f"demo step failed ({done.returncode}): {done.stderr.strip()}")
        if capture_json:
            data = json.loads(done.stdout)
            print(json.dumps(data, indent=1))
            return data
        print(done.stdout.rstrip())
        return None


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="octravpn-demo-") as tmp:
        demo = Demo(Path(tmp))
        acl = demo.home / "acl.hujson"
        acl.write_text('{"acls": [{"action": "accept", "src": ["group:members"], "dst": ["*:*"]}]}\n')
        wg = Keypair.generate()
        try:
            demo.run("Start a local devnet: anvil, the contract, five funded wallets", "devnet", "up", "--port", str(free_port()))  # never a devnet the user runs
            demo.run("The operator stakes", "-w", "operator", "operator", "bond", "1.5")
            demo.run("…and registers its WireGuard exit, with a separate receipt key", "-w", "operator", "operator", "register",
                     "--endpoint", "127.0.0.1:51820", "--wg-pubkey", wg.public_b64, "--region", "local",
                     "--price", "0.000002", "--receipt-wallet", "operator-receipts")
            tailnet = demo.run("Alice creates a tailnet with a treasury", "-w", "alice", "tailnet", "create",
                               "--deposit", "0.5", "--acl", str(acl), capture_json=True)
            tid = str(tailnet["id"])
            demo.run("…allows the exit", "-w", "alice", "tailnet", "add-exit", tid, "operator")
            invite = demo.run("…and invites Bob", "-w", "alice", "tailnet", "invite", tid, "--expires", "1h",
                              capture_json=True)
            demo.run("Bob joins with the invite", "-w", "bob", "tailnet", "join", invite["invite"])
            session = demo.run("Bob opens a session through the exit, locking 0.01 from the treasury",
                               "-w", "bob", "session", "open", "--tailnet", tid, "--exit", "operator",
                               "--max-pay", "0.01", capture_json=True)
            sid = str(session["id"])
            used = str(250 * 1_000_000)  # 250 MB carried
            demo.run("The exit claims the bytes it carried", "-w", "operator", "session", "claim", sid, used)
            demo.run("Bob confirms the same figure: the session settles", "-w", "bob", "session", "confirm", sid, used)
            demo.run("The operator's earnings", "earnings", "show", "operator")
            demo.run("The tailnet after the session", "tailnet", "show", tid)
        finally:
            subprocess.run([sys.executable, "-m", "octravpn.cli.main", "devnet", "down"], env=demo.env,
                           capture_output=True, timeout=60)


def main() -> int:
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
