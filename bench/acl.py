"""How fast a large policy is checked and compiled: a 1,000-rule policy over 500 members (two devices each,
a tenth of them tagged), with 100 tests. Reports the median of a few runs of:
- check: parse the file and run its tests (what `octravpn acl check` does);
- compile: one device's filter and peers, on a resolver built for the network (what a device does when the
  policy or the membership changes), and the resolver itself.

Run: `.venv/bin/python bench/acl.py`
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from octravpn.acl import Device, Network, Resolver, compile_device, parse_policy, run_tests

MEMBERS, RULES, TESTS, GROUPS, TAGS, RUNS = 500, 1_000, 100, 50, 20, 5


def build(seed: int = 7) -> tuple[str, Network]:
    rng = random.Random(seed)
    members = [f"0x{rng.getrandbits(160):040x}" for _ in range(MEMBERS)]
    groups = {f"group:g{i}": rng.sample(members, 20) for i in range(GROUPS)}
    tags = {f"tag:t{i}": [f"group:g{i % GROUPS}"] for i in range(TAGS)}
    hosts = {f"h{i}": f"10.{i}.0.0/16" for i in range(20)}
    kinds = [
        lambda: rng.choice(members),
        lambda: rng.choice(list(groups)),
        lambda: rng.choice(list(tags)),
        lambda: rng.choice(list(hosts)),
        lambda: "autogroup:member",
        lambda: "*",
    ]
    ports = ["*", "22", "80,443", "8000-8099", "5432"]
    acls = [
        {
            "action": "accept",
            "src": [rng.choice(kinds)() for _ in range(rng.randint(1, 3))],
            "dst": [f"{rng.choice(kinds[:4])()}:{rng.choice(ports)}" for _ in range(rng.randint(1, 3))],
        }
        for _ in range(RULES)
    ]
    # Assertions that hold whatever the random rules say: no rule names SCTP, so none allows it.
    tests = [
        {
            "src": rng.choice(members),
            "deny": [f"{rng.choice(members)}:9", f"{rng.choice(list(tags))}:22"],
            "proto": "sctp",
        }
        for _ in range(TESTS)
    ]
    policy = json.dumps({"groups": groups, "tagOwners": tags, "hosts": hosts, "acls": acls, "tests": tests}, indent=1)
    devices = []
    for index, member in enumerate(members):
        for n in range(2):
            number = index * 2 + n + 1
            owned = [t for t, owners in tags.items() if member in groups[owners[0]]]
            requested = frozenset(owned[:1]) if owned and rng.random() < 0.1 else frozenset()
            devices.append(
                Device(
                    key=f"0x{number:040x}",
                    owner=member,
                    tags=requested,  # owned by the member: the grant holds
                    addresses=(
                        ipaddress.ip_address(f"100.64.{number // 256}.{number % 256}"),
                        ipaddress.ip_address(f"fd7a:7670:6e00::{number:x}"),
                    ),
                )
            )
    return policy, Network(members=frozenset(members), devices=tuple(devices))


def median(action) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    text, network = build()
    check = median(lambda: run_tests(Resolver(parse_policy(text))))
    policy = parse_policy(text)
    assert not run_tests(Resolver(policy)), "the generated tests must hold"
    resolver_time = median(lambda: Resolver(policy, network))
    resolver = Resolver(policy, network)
    device = network.devices[123].key
    compile_device(resolver, device)  # warm the alias cache, as a running device has it
    compile_time = median(lambda: compile_device(resolver, device))
    cold = median(lambda: compile_device(Resolver(policy, network), device))
    with tempfile.TemporaryDirectory() as home:
        path = Path(home) / "policy.hujson"
        path.write_text(text)
        env = {**os.environ, "HOME": home, "XDG_CONFIG_HOME": home, "XDG_DATA_HOME": home}
        command = median(
            lambda: subprocess.run(
                [sys.executable, "-m", "octravpn.cli.main", "acl", "check", str(path)],
                env=env,
                capture_output=True,
                check=True,
            )
        )
    print(
        f"policy: {RULES} rules, {MEMBERS} members, {len(network.devices)} devices, {TESTS} tests, "
        f"{len(text) // 1024} KiB"
    )
    print(f"check (parse + tests):                {check * 1000:7.1f} ms")
    print(f"`octravpn acl check FILE`, whole run: {command * 1000:7.1f} ms")
    print(f"resolver for the network:             {resolver_time * 1000:7.1f} ms")
    print(f"compile one device (warm resolver):   {compile_time * 1000:7.1f} ms")
    print(f"compile one device (new resolver):    {cold * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
