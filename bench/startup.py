"""How long `octravpn` takes to start: the median wall time of a few runs of commands that need no chain,
and of one that reads it. Run: `.venv/bin/python bench/startup.py` (it makes its own throwaway home)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 7
COMMANDS = [["--help"], ["--version"], ["wallet", "list"], ["network", "list"], ["session", "-h"]]


def median_seconds(args: list[str], env: dict[str, str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "octravpn.cli.main", *args], env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home, "XDG_CONFIG_HOME": f"{home}/config", "XDG_DATA_HOME": f"{home}/data"}
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        print(f"python itself: {time.perf_counter() - started:.3f} s")
        for args in COMMANDS:
            print(f"octravpn {' '.join(args):<16} {median_seconds(args, env):.3f} s (median of {RUNS})")


if __name__ == "__main__":
    main()
