"""Wall time of `octravpn devnet up`: first start (wallets + deployment) and restart.

Run: `.venv/bin/python bench/devnet_up.py [runs]` (default 5). Each run uses a
fresh home and its own port; figures are medians of whole CLI invocations,
Python start-up included.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from octravpn.chain.devnet import free_port
from octravpn.config import isolated_environment


def _timed(env: dict, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "octravpn.cli.main", *args], env=env, check=True, capture_output=True, timeout=120
    )
    return time.perf_counter() - started


def main(runs: int) -> int:
    first, restart = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            env = {**isolated_environment(Path(home)), "OCTRAVPN_PASSWORD": "bench"}
            first.append(_timed(env, "devnet", "up", "--port", str(free_port())))
            _timed(env, "devnet", "down")
            restart.append(_timed(env, "devnet", "up"))
            _timed(env, "devnet", "down")
    print(
        f"devnet up, first start (5 wallets + deploy): median {statistics.median(first):.2f} s, max {max(first):.2f} s"
    )
    print(
        f"devnet up, restart with saved chain:         median {statistics.median(restart):.2f} s, max {max(restart):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
