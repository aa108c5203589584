"""How fast a device builds its tailnet's network map and its own filter: 500 members with a device key each
(1,000 keys), every one with a signed announcement, under the 1,000-rule policy of `bench/acl.py` (one device in
ten tagged on chain). Reports the median of RUNS runs of:
- map: parse and verify all 1,000 announcements against the roster (`take_announcements`, from nothing held),
  then settle names and keys and derive every address (`build_netmap`);
- filter: the resolver for that network and this device's filter and peers (`compile_device`);
- both: what a device does when it first sees the tailnet, or after the membership or the policy changed.

Run: `.venv/bin/python bench/mesh.py`
"""

from __future__ import annotations

import json
import random
import statistics
import time

from eth_account import Account

from octravpn.acl import Resolver, compile_device, parse_policy
from octravpn.mesh.netmap import build_netmap, take_announcements
from octravpn.mesh.roster import Roster
from octravpn.protocol.announce import Announcement, SignedAnnouncement
from octravpn.protocol.eip712 import Domain, sign

MEMBERS, RUNS = 500, 5
NOW = 1_800_000_000
DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")


def world(seed: int = 7):
    rng = random.Random(seed)
    members = [Account.from_key(rng.getrandbits(256).to_bytes(32, "big")) for _ in range(MEMBERS)]
    devices = [Account.from_key(rng.getrandbits(256).to_bytes(32, "big")) for _ in range(MEMBERS)]
    keys = [(m.address.lower(), m.address.lower()) for m in members]
    keys += [(d.address.lower(), m.address.lower()) for d, m in zip(devices, members, strict=True)]
    roster = Roster(members=frozenset(m.address.lower() for m in members), keys=tuple(keys))
    announcements = []
    for index, account in enumerate(members + devices):
        announcement = Announcement(
            tailnet_id=0,
            device=account.address,
            wg_pubkey=rng.randbytes(32),
            hostname=f"host{index}",
            hostname_since=1,
            endpoints=(f"198.51.100.{index % 250 + 1}:41641",),
            seq=1,
            expires=NOW + 3600,
        )
        announcements.append(
            SignedAnnouncement(announcement=announcement, signature=sign(DOMAIN, announcement, account.key)).to_json()
        )
    groups = {f"group:g{i}": [m.address for m in rng.sample(members, 20)] for i in range(50)}
    acls = [
        {
            "action": "accept",
            "src": [rng.choice(list(groups)), "autogroup:member"][rng.randrange(2) :][:1],
            "dst": [f"{rng.choice(['*', 'tag:t1', *list(groups)])}:{rng.choice(['*', '22', '443', '5432'])}"],
        }
        for _ in range(1_000)
    ]
    policy = {"groups": groups, "tagOwners": {"tag:t1": ["group:g1"]}, "acls": acls}
    tags = {account.address.lower(): frozenset({"tag:t1"}) for account in (members + devices)[::10]}
    return roster, announcements, json.dumps(policy), devices[0].address, tags


def main() -> None:
    roster, announcements, document, me, tags = world()
    policy = parse_policy(document)
    maps, filters, both = [], [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        held, refused = take_announcements(DOMAIN, 0, roster, {}, announcements, now=NOW, seen={})
        netmap = build_netmap(0, roster, held, now=NOW, tags=tags)
        built = time.perf_counter()
        device = compile_device(Resolver(policy, netmap.network), me)
        done = time.perf_counter()
        maps.append(built - started)
        filters.append(done - built)
        both.append(done - started)
    assert len(netmap.peers) == 2 * MEMBERS and not netmap.refused and not refused
    print(
        json.dumps(
            {
                "devices": len(netmap.peers),
                "rules": 1_000,
                "peers_of_one_device": len(device.peers),
                "map_ms": round(1000 * statistics.median(maps)),
                "filter_ms": round(1000 * statistics.median(filters)),
                "map_and_filter_ms": round(1000 * statistics.median(both)),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
