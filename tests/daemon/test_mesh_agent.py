"""The daemon's mesh step with a scripted chain, indexers and host: what it announces, which policy it enforces
(the chain's document; a last good one only for a short grace), what it keeps when indexers fail, and when it
takes the mesh down."""

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from octravpn.chain.client import ChainEvent
from octravpn.daemon.mesh import MeshAgent, MeshSettings
from octravpn.host.dns import DNSManager
from octravpn.mesh import policy_keeper
from octravpn.protocol.announce import Announcement, SignedAnnouncement
from octravpn.protocol.eip712 import Domain, sign
from tests.host.test_mesh_host import Runner

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
ALICE, DEVICE, BOB = (Account.from_key(bytes([i]) * 32) for i in (1, 2, 3))
GOOD = b'{"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["*:22"]}]}'
OTHER = b'{"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["*:*"]}]}'
BROKEN = b'{"acls": [{"action": "allow"'


class Chain:
    def __init__(self):
        self.log, self.head = [], -1

    def add(self, name, **args):
        self.head += 1
        if name == "TailnetAclUpdated":
            args = {"acl_policy": keccak(args["document"]), **args}
        self.log.append(ChainEvent(name, args, self.head, "0x", 0))

    def block_number(self):
        return self.head

    def events(self, first, last):
        return [e for e in self.log if first <= e.block_number <= last]


class Mailbox:
    """An indexer: keeps what is put, serves what it holds (or what a test makes it serve)."""

    urls = ("http://indexer",)

    def __init__(self):
        self.put_bodies, self.refuse, self.others, self.down = [], None, [], False

    def put(self, url, tailnet_id, body):
        self.put_bodies.append(body)
        return self.refuse

    def fetch(self, tailnet_id, *, sign, device, keys):
        if self.down:
            return [], {self.urls[0]: "unreachable (ConnectError)"}
        return [*self.put_bodies[-1:], *self.others], {}

    def close(self):
        pass


def announcement_of(account, *, hostname, seq, key=b"\x55" * 32, expires=None) -> dict:
    a = Announcement(
        tailnet_id=0,
        device=account.address,
        wg_pubkey=key,
        hostname=hostname,
        hostname_since=seq,
        endpoints=("198.51.100.9:41641",),
        seq=seq,
        expires=expires or 50_000,  # within a day of the test clock
    )
    return SignedAnnouncement(announcement=a, signature=sign(DOMAIN, a, account.key)).to_json()


@pytest.fixture
def world(tmp_path):
    chain = Chain()
    chain.add("TailnetCreated", tailnet_id=0, owner=ALICE.address, acl_policy=keccak(GOOD), deposit=1)
    chain.add("TailnetAclUpdated", tailnet_id=0, document=GOOD)
    chain.add("TailnetMemberAdded", tailnet_id=0, member=ALICE.address)
    chain.add("TailnetMemberAdded", tailnet_id=0, member=BOB.address)
    chain.add("DeviceRegistered", wallet=ALICE.address, device=DEVICE.address)
    clock = [1000.0]

    def make() -> MeshAgent:
        settings = MeshSettings(state_dir=tmp_path / "state", indexers=("http://indexer",), interface="m0")
        dns = DNSManager(tmp_path / "resolv.conf", tmp_path / "state" / "dns.json")
        agent = MeshAgent(
            settings,
            account=DEVICE,
            domain=DOMAIN,
            runner=Runner(),
            dns=dns,
            chain=lambda: chain,
            clock=lambda: clock[0],
        )
        agent.mailbox = agent.announcer.mailbox = Mailbox()
        agent.set_prefs(hostname="desk", dns=False)
        agent.start()
        return agent

    class World:
        pass

    w = World()
    w.chain, w.clock, w.make = chain, clock, make
    return w


def _step(world, agent, seconds=1.0):
    world.clock[0] += seconds
    agent.step()
    return agent.shown()


def test_it_announces_itself_and_enforces_the_policy_on_chain(world):
    agent = world.make()
    view = _step(world, agent)
    assert view["state"] == "running" and view["hostname"] == "desk" and view["policy"]["state"] == "enforced"
    first = agent.mailbox.put_bodies[-1]
    assert first["hostname"] == "desk" and first["device"] == DEVICE.address and first["relay"] == ""
    assert first["hostname_since"] == first["seq"] and first["expires"] > world.clock[0]
    assert "tcp dport { 22 }" in agent.host.loaded_filter
    agent.set_prefs(hostname="laptop")
    _step(world, agent)
    renamed = agent.mailbox.put_bodies[-1]
    assert renamed["hostname"] == "laptop" and renamed["seq"] > first["seq"] == first["hostname_since"]
    assert renamed["hostname_since"] == renamed["seq"]  # a new name: claimed from now
    puts = len(agent.mailbox.put_bodies)
    _step(world, agent)
    assert len(agent.mailbox.put_bodies) == puts  # nothing changed: nothing put
    _step(world, agent, seconds=6 * 3600 + 1)  # half its life gone: signed again, the name still held since then
    renewed = agent.mailbox.put_bodies[-1]
    assert renewed["seq"] > renamed["seq"] and renewed["hostname_since"] == renamed["seq"]


def test_a_new_policy_is_enforced_in_the_step_that_reads_it_from_the_chain(world):
    """The document travels in the event: no indexer can withhold or delay it."""
    agent = world.make()
    _step(world, agent)
    world.chain.add("TailnetAclUpdated", tailnet_id=0, document=OTHER)
    view = _step(world, agent)
    assert view["policy"] == {"hash": "0x" + keccak(OTHER).hex(), "state": "enforced"}
    assert "tcp dport" not in agent.host.loaded_filter


def test_a_policy_that_does_not_parse_keeps_the_last_good_one_for_the_grace_then_nothing_is_allowed(world):
    """The old (possibly looser) policy once stayed in force for ever when the new one could not be had."""
    agent = world.make()
    _step(world, agent)
    enforced = agent.host.loaded_filter
    world.chain.add("TailnetAclUpdated", tailnet_id=0, document=BROKEN)
    view = _step(world, agent)
    assert view["policy"]["state"] == "previous" and "does not parse here" in view["policy"]["error"]
    assert view["policy"]["enforced"] == "0x" + keccak(GOOD).hex() and agent.host.loaded_filter == enforced
    assert view["policy"]["until"] == round(world.clock[0] + policy_keeper.GRACE)
    agent.stop()
    restarted = world.make()  # a restart neither loosens the filter nor starts the grace again
    view = _step(world, restarted, seconds=policy_keeper.GRACE / 2)
    assert view["policy"]["state"] == "previous" and "tcp dport { 22 }" in restarted.host.loaded_filter
    view = _step(world, restarted, seconds=policy_keeper.GRACE / 2)
    assert view["policy"]["state"] == "closed" and "nothing is allowed" in view["policy"]["note"]
    assert "tcp dport" not in restarted.host.loaded_filter and view["peers"] == []
    world.chain.add("TailnetAclUpdated", tailnet_id=0, document=OTHER)
    assert _step(world, restarted)["policy"]["state"] == "enforced"


def test_with_no_policy_on_chain_nothing_is_allowed(world):
    agent = world.make()
    agent.keeper.update(0, bytes(32), b"", 0)
    world.chain.log = [e for e in world.chain.log if e.name != "TailnetAclUpdated"]
    view = _step(world, agent)
    assert view["policy"]["state"] == "none" and "nothing is allowed" in view["policy"]["note"]
    rules = [line.strip() for line in agent.host.loaded_filter.splitlines() if line.strip().endswith(" accept")]
    assert all("reply" in rule or "related" in rule or "dport { 41642 }" in rule or "lo" in rule for rule in rules)


def test_a_failed_or_empty_fetch_keeps_every_peer_and_name_also_across_a_restart(world):
    """A failed fetch once rebuilt an empty map and removed every peer and name for that step."""
    agent = world.make()
    agent.mailbox.others = [announcement_of(BOB, hostname="bob-box", seq=5)]
    view = _step(world, agent)
    assert [p["name"] for p in view["peers"]] == ["bob-box"]
    agent.mailbox.down = True
    assert [p["name"] for p in _step(world, agent)["peers"]] == ["bob-box"]
    agent.mailbox.down, agent.mailbox.others = False, []  # an indexer that serves nothing of bob's
    assert [p["name"] for p in _step(world, agent)["peers"]] == ["bob-box"]
    agent.stop()
    restarted = world.make()
    restarted.mailbox.down = True
    assert [p["name"] for p in _step(world, restarted)["peers"]] == ["bob-box"]
    world.chain.add("TailnetMemberRemoved", tailnet_id=0, member=BOB.address)  # only the chain takes him away
    assert _step(world, restarted)["peers"] == []


def test_tags_come_from_grants_on_chain_never_from_the_device(world):
    world.chain.add(
        "TailnetAclUpdated",
        tailnet_id=0,
        document=b'{"tagOwners": {"tag:server": ["' + ALICE.address.encode() + b'"]}, "acls": []}',
    )
    agent = world.make()
    assert _step(world, agent)["tags"] == []
    world.chain.add("DeviceTagsSet", tailnet_id=0, device=DEVICE.address, by=BOB.address, tags=["tag:server"])
    view = _step(world, agent)
    assert view["tags"] == [] and "may not apply or remove tag:server" in view["refused_self"]
    world.chain.add("DeviceTagsSet", tailnet_id=0, device=DEVICE.address, by=ALICE.address, tags=["tag:server"])
    assert _step(world, agent)["tags"] == ["tag:server"]


def test_an_indexer_holding_a_newer_seq_is_outbid(world):
    agent = world.make()
    agent.mailbox.refuse = "refused (HTTP 409): seq 5 is not newer than the 9 held"
    _step(world, agent)
    refused_seq = agent.mailbox.put_bodies[-1]["seq"]
    agent.mailbox.refuse = None
    _step(world, agent, seconds=6)
    assert agent.mailbox.put_bodies[-1]["seq"] > refused_seq


def test_a_revoked_device_takes_its_mesh_down(world):
    agent = world.make()
    assert _step(world, agent)["state"] == "running"
    world.chain.add("DeviceRevoked", wallet=ALICE.address, device=DEVICE.address)
    view = _step(world, agent)
    assert view["state"] == "not-registered" and ["ip", "link", "del", "dev", "m0"] in agent.runner.ran
    assert agent.state.host is None


def test_as_a_relay_it_pairs_only_roster_devices_the_policy_lets_talk(world):
    agent = world.make()
    _step(world, agent)
    me, alice = DEVICE.address.lower(), ALICE.address.lower()
    assert agent.relay.allowed(me, alice) is None  # members reach each other on port 22
    outsider = Account.from_key(b"\x09" * 32).address.lower()
    assert "roster" in agent.relay.allowed(me, outsider)
    world.chain.add("TailnetAclUpdated", tailnet_id=0, document=b'{"acls": []}')
    _step(world, agent)
    assert "policy does not let" in agent.relay.allowed(me, alice)


def test_ping_says_what_is_wrong_before_it_sends_anything(world):
    from octravpn.daemon.mesh_view import MeshUnavailable
    from octravpn.errors import UsageError

    agent = world.make()
    with pytest.raises(MeshUnavailable, match="not running"):
        agent.ping("desk", count=1)
    _step(world, agent)
    with pytest.raises(UsageError, match="no device 'nobody' in tailnet 0"):
        agent.ping("nobody", count=1)


def test_an_indexer_that_took_the_announcement_but_does_not_serve_it_gets_it_again(world):
    agent = world.make()
    _step(world, agent)
    puts = len(agent.mailbox.put_bodies)
    agent.mailbox.fetch = lambda tailnet_id, **_: ([], {})  # it lost it, or withholds it
    _step(world, agent)
    _step(world, agent)
    assert len(agent.mailbox.put_bodies) == puts  # not at once: after PUT_RETRY
    _step(world, agent, seconds=6)
    assert len(agent.mailbox.put_bodies) == puts + 1
    assert agent.mailbox.put_bodies[-1]["seq"] == agent.mailbox.put_bodies[puts - 1]["seq"]  # the same one
