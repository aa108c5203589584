"""`make demo` tells the whole story: a page through a real tunnel, settled on chain."""

import json
import re
import subprocess
import sys

from octravpn.lab import require_root_and_tools


def test_demo_walks_through_the_whole_story():
    require_root_and_tools()
    result = subprocess.run([sys.executable, "-m", "octravpn.demo"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    steps = [line.split()[2:] for line in result.stdout.splitlines() if line.startswith("$ octravpn ")]
    assert steps[0][:3] == ["devnet", "up", "--host"]
    assert ["-w", "operator", "node", "run"] in [s[:4] for s in steps]
    commands = [s[0] for s in steps if not s[0].startswith("-")]
    assert commands[commands.index("daemon") :] == [
        "daemon",
        "status",
        "up",
        "status",
        "down",
        "up",
        "down",
        "session",
        "earnings",
        "tailnet",
        "set",
        "daemon",
        "status",
        "set",
        "ping",
        "ip",
    ]  # the first status: the device key; then the mesh (the policy is on chain already; the second status: the
    # laptop's device key)
    assert ["-w", "bob", "device", "add"] in [s[:4] for s in steps]  # the daemon's key, registered as Bob's device
    assert ["indexer", "run"] in [s[:2] for s in steps] and ["exits", "list"] in [s[:2] for s in steps]
    up = next(s for s in steps if s[0] == "up")
    assert up[up.index("--exit") + 1] == "auto"
    assert "hello from the internet host, through an OctraVPN exit" in result.stdout
    left = result.stdout.split("Bob disconnects:", 1)[1]
    left_open = json.loads(left[left.index("{") : left.index("\n}\n") + 2])
    assert left_open["left_open"]["keep_alive"] == 86400
    again = result.stdout.split("Bob connects again", 1)[1]
    assert json.loads(again[again.index("{") : again.index("\n}\n") + 2])["session"] == left_open["session"]
    down = result.stdout.split("Bob disconnects and ends the session", 1)[1]
    settlement = json.loads(down[down.index("{") : down.index("\n}\n") + 2])["settlement"]
    assert settlement["status"] == "settled" and settlement["bytes_used"] > 0 and settlement["paid"]["base_units"] > 0
    assert re.search(
        r'"reputation": \{[^}]*"base_units": [1-9]', result.stdout
    )  # value paid by tailnets it does not own
    assert re.search(
        r"pong from bobs-box \(100\.[0-9.]+\) via 192\.0\.2\.2:41641 \(direct\) in [0-9.]+ ms", result.stdout
    )
