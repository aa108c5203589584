"""What the benchmarks that connect share: a prober in the client's namespace that fetches a page through the
tunnel each time it is told to (a line on its stdin) and prints when the first byte came (CLOCK_MONOTONIC, the
same clock in every process on the machine), so no process start is counted."""

from __future__ import annotations

import subprocess
import sys

from octravpn.lab import WEB_ADDRESS

PROBER = """
import sys, time, urllib.request
for line in sys.stdin:
    while True:
        try:
            urllib.request.urlopen("http://%s/index.html", timeout=1).read(1)
            break
        except OSError:
            time.sleep(0.005)
    print(time.monotonic(), flush=True)
""".replace("%s", WEB_ADDRESS)


def start_prober(host) -> subprocess.Popen:
    return subprocess.Popen(
        ["ip", "netns", "exec", host.name, sys.executable, "-c", PROBER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def first_byte(prober: subprocess.Popen) -> float:
    """Ask for the page now; when its first byte came."""
    prober.stdin.write("go\n")
    prober.stdin.flush()
    return float(prober.stdout.readline())
