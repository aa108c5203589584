"""The daemon's mesh step with a scripted chain, indexers and host: what it announces, which policy it
enforces when a new one cannot be had, and when it takes the mesh down."""

import pytest
from eth_account import Account
from eth_hash.auto import keccak

from octravpn.chain.client import ChainEvent
from octravpn.daemon import mesh as agent_module
from octravpn.daemon.mesh import MeshAgent, MeshSettings
from octravpn.mesh.policy_source import PolicyUnavailable
from octravpn.protocol.eip712 import Domain
from tests.mesh.test_host import Runner

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
ALICE, DEVICE = Account.from_key(b"\x01" * 32), Account.from_key(b"\x02" * 32)
GOOD = b'{"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["*:22"]}]}'
OTHER = b'{"acls": [{"action": "accept", "src": ["autogroup:member"], "dst": ["*:*"]}]}'
BROKEN = b'{"acls": [{"action": "allow"'


class Chain:
    def __init__(self):
        self.log, self.head = [], -1

    def add(self, name, **args):
        self.head += 1
        self.log.append(ChainEvent(name, args, self.head, "0x", 0))

    def block_number(self):
        return self.head

    def events(self, first, last):
        return [e for e in self.log if first <= e.block_number <= last]


class Mailbox:
    urls = ("http://indexer",)

    def __init__(self):
        self.put_bodies, self.refuse = [], None

    def put(self, url, tailnet_id, body):
        self.put_bodies.append(body)
        return self.refuse

    def fetch(self, tailnet_id):
        return list(self.put_bodies[-1:]), {}

    def close(self):
        pass


@pytest.fixture
def world(tmp_path, monkeypatch):
    chain, documents = Chain(), {}
    chain.add("TailnetCreated", tailnet_id=0, owner=ALICE.address, acl_policy=keccak(GOOD), deposit=1)
    chain.add("TailnetMemberAdded", tailnet_id=0, member=ALICE.address)
    chain.add("DeviceRegistered", wallet=ALICE.address, device=DEVICE.address)
    documents[keccak(GOOD)] = GOOD

    def fetch_policy(indexers, tailnet_id, expected, timeout):
        if expected not in documents:
            raise PolicyUnavailable(f"no indexer has tailnet {tailnet_id}'s policy 0x{expected.hex()}")
        return documents[expected]

    monkeypatch.setattr(agent_module, "fetch_policy", fetch_policy)
    clock = [1000.0]

    def make() -> MeshAgent:
        settings = MeshSettings(state_dir=tmp_path / "state", indexers=("http://indexer",), interface="m0")
        agent = MeshAgent(
            settings, account=DEVICE, domain=DOMAIN, runner=Runner(), open_chain=lambda: chain, clock=lambda: clock[0]
        )
        agent.mailbox = Mailbox()
        agent.set_prefs(hostname="desk", dns=False)
        agent.start()
        return agent

    class World:
        pass

    w = World()
    w.chain, w.documents, w.clock, w.make = chain, documents, clock, make
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
    assert "tcp dport { 22 }" in agent.host.loaded_filter
    agent.set_prefs(hostname="laptop")
    _step(world, agent)
    assert agent.mailbox.put_bodies[-1]["hostname"] == "laptop" and agent.mailbox.put_bodies[-1]["seq"] > first["seq"]
    puts = len(agent.mailbox.put_bodies)
    _step(world, agent)
    assert len(agent.mailbox.put_bodies) == puts  # nothing changed: nothing put


def test_a_policy_that_cannot_be_fetched_or_parsed_leaves_the_last_good_one_also_after_a_restart(world):
    agent = world.make()
    _step(world, agent)
    enforced = agent.host.loaded_filter
    world.documents[keccak(BROKEN)] = BROKEN
    world.chain.add("TailnetAclUpdated", tailnet_id=0, acl_policy=keccak(BROKEN))
    view = _step(world, agent, seconds=3)
    assert view["policy"]["state"] == "previous" and "does not parse" in view["policy"]["error"]
    assert view["policy"]["enforced"] == "0x" + keccak(GOOD).hex() and agent.host.loaded_filter == enforced
    world.chain.add("TailnetAclUpdated", tailnet_id=0, acl_policy=keccak(OTHER))  # nobody has this one
    view = _step(world, agent, seconds=5)
    assert view["policy"]["state"] == "previous" and "no indexer has" in view["policy"]["error"]
    agent.stop()
    restarted = world.make()  # no indexer has the new one: the kept one holds from the first step on
    view = _step(world, restarted)
    assert view["policy"]["state"] == "previous" and "tcp dport { 22 }" in restarted.host.loaded_filter
    world.documents[keccak(OTHER)] = OTHER
    view = _step(world, restarted, seconds=5)
    assert view["policy"]["state"] == "enforced" and "tcp dport" not in restarted.host.loaded_filter


def test_with_no_policy_on_chain_nothing_is_allowed(world):
    world.chain.add("TailnetAclUpdated", tailnet_id=0, acl_policy=bytes(32))
    agent = world.make()
    view = _step(world, agent)
    assert view["policy"]["state"] == "none" and "nothing is allowed" in view["policy"]["note"]
    rules = [line.strip() for line in agent.host.loaded_filter.splitlines() if line.strip().endswith(" accept")]
    assert all("established" in rule or "dport { 41642 }" in rule for rule in rules), rules  # replies, the peer service
    assert 'iifname "m0" drop' in agent.host.loaded_filter


def test_an_indexer_holding_a_newer_seq_is_outbid(world):
    agent = world.make()
    agent.mailbox.refuse = "refused (HTTP 409): not newer than the announcement held"
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
    assert agent._relay_allowed(me, alice) is None  # members reach each other on port 22
    outsider = Account.from_key(b"\x09" * 32).address.lower()
    assert "roster" in agent._relay_allowed(me, outsider)
    world.documents[keccak(b'{"acls": []}')] = b'{"acls": []}'
    world.chain.add("TailnetAclUpdated", tailnet_id=0, acl_policy=keccak(b'{"acls": []}'))
    _step(world, agent, seconds=3)
    assert "policy does not let" in agent._relay_allowed(me, alice)


def test_ping_says_what_is_wrong_before_it_sends_anything(world):
    from octravpn.daemon.mesh import MeshUnavailable
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
    agent.mailbox.fetch = lambda tailnet_id: ([], {})  # it lost it, or withholds it
    _step(world, agent)
    _step(world, agent)
    assert len(agent.mailbox.put_bodies) == puts  # not at once: after PUT_RETRY
    _step(world, agent, seconds=6)
    assert len(agent.mailbox.put_bodies) == puts + 1
    assert agent.mailbox.put_bodies[-1]["seq"] == agent.mailbox.put_bodies[puts - 1]["seq"]  # the same one
