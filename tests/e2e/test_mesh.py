"""The tailnet mesh, end to end through the command line: real daemons in network namespaces, real WireGuard
(wireguard-go), a devnet, a real indexer and the tailnet's policy from it.

The tailnet is alice's, with bob as a member. alice has a laptop and a server (tagged `tag:server`), bob a
laptop and a phone; carol's device belongs to a wallet in no tailnet (the contract owner's). The policy: every
member reaches their own devices; alice reaches her server; bob reaches exactly TCP and UDP port 8080 of the
server.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from eth_hash.auto import keccak

from octravpn import config
from octravpn.acl.nftables import table_name
from octravpn.chain.devnet import free_port
from octravpn.daemon.paths import read_socket
from octravpn.lab import WEB_ADDRESS, Lab, fetch, unique
from octravpn.lab_cli import LabCLI
from octravpn.protocol.announce import Announcement, SignedAnnouncement
from octravpn.protocol.eip712 import Domain, sign
from octravpn.wireguard.keys import Keypair, encode_key
from tests.acl.netns_services import HeldConnection
from tests.e2e.agents import Exit, wireguard_go
from tests.e2e.meshlab import MeshLab
from tests.e2e.probes import reaches, serve
from tests.support.waiting import wait_for

HOSTS = ("alice-laptop", "alice-server", "bob-laptop", "bob-phone", "carol")
OWNERS = {"alice-laptop": "alice", "alice-server": "alice", "bob-laptop": "bob", "bob-phone": "bob", "carol": "owner"}


def policy(alice: str, bob: str, *, bob_port: int = 8080) -> str:
    return json.dumps(
        {
            "tagOwners": {"tag:server": [alice]},
            "acls": [
                {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"]},
                {"action": "accept", "src": [alice], "dst": ["tag:server:*"]},
                {"action": "accept", "src": [bob], "dst": [f"tag:server:{bob_port}"]},
            ],
        }
    )


class Mesh(MeshLab):
    """The lab, its command line, and each host's daemon by name."""

    def __init__(self, lab: Lab, cli: LabCLI, indexer: str, tailnet: int, home) -> None:
        super().__init__(lab, cli, indexer, home, HOSTS)
        self.tailnet = tailnet
        self.wallets = {name: cli.run("wallet", "show", name)["address"].lower() for name in ("alice", "bob", "owner")}
        network = config.load(env=cli.env).network()
        self.domain = Domain(chain_id=network.chain_id, verifying_contract=network.contract)

    def address(self, name: str) -> str:
        return self.mesh(name)["addresses"][0]

    def lab_resolv(self, name: str) -> Path:
        """The host's /etc/resolv.conf (`ip netns exec` bind-mounts this file there)."""
        return Path(f"/etc/netns/{self.hosts[name].name}/resolv.conf")

    def ping(self, source: str, target: str, *, count: int = 1) -> dict:
        return self.run(source, "ping", target, "--count", str(count))

    def set_policy(self, document: str, *extra: str) -> None:
        """The owner publishes a policy: its document goes on chain, where every device reads it."""
        path = self.home / f"policy-{time.monotonic_ns()}.hujson"
        path.write_text(document)
        self.cli.run("-w", "alice", "tailnet", "set-acl", str(self.tailnet), str(path), *extra)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    home = tmp_path_factory.mktemp("mesh")
    lab = Lab.build(clients=len(HOSTS), exits=1)
    cli = LabCLI(lab, home)
    indexer_process = world = None
    try:
        (home / "www").mkdir()
        lab.serve_web(str(home / "www"))
        registered = cli.setup()
        indexer_process, indexer = cli.start_indexer(log=home / "indexer.log")
        world = Mesh(lab, cli, indexer, registered.tailnet_id, home)
        world.set_policy(policy(world.wallets["alice"], world.wallets["bob"]))
        for name in HOSTS:
            world.join(name, OWNERS[name])
        server = cli.device(world.hosts["alice-server"])
        cli.run("-w", "alice", "tailnet", "tag", str(registered.tailnet_id), server, "tag:server")  # alice owns it
        yield world
    finally:
        if world is not None:
            world.stop_all()
        if indexer_process is not None:
            cli.stop(indexer_process)
        cli.down_devnet()
        lab.delete()


def _metrics(mesh: Mesh, name: str) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(read_socket(mesh.cli.socket(mesh.hosts[name]))))
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        text = b""
        while chunk := sock.recv(65536):
            text += chunk
    return text.decode()


EXPECTED_PEERS = {
    "alice-laptop": {"alice-server"},
    "alice-server": {"alice-laptop", "bob-laptop", "bob-phone"},
    "bob-laptop": {"bob-phone", "alice-server"},
    "bob-phone": {"bob-laptop", "alice-server"},
}


def test_members_devices_become_peers_as_the_policy_says_and_the_outsider_is_nobodys(mesh):
    for name, peers in EXPECTED_PEERS.items():
        wait_for(
            lambda name=name, peers=peers: set(mesh.peers(name)) == peers,
            what=f"{name}'s peers {peers}",
            explain=mesh.explain,
        )
    carol = wait_for(
        lambda: (m := mesh.mesh("carol"))["state"] != "not-registered" and m, what="carol's daemon to see her key"
    )
    assert carol["state"] == "no-tailnet" and "in no tailnet" in carol["error"]
    server = mesh.peers("alice-server")
    assert (
        server["bob-laptop"]["owner"] == mesh.wallets["bob"]
        and server["bob-laptop"]["addresses"] == mesh.mesh("bob-laptop")["addresses"]
    )
    assert mesh.mesh("alice-server")["tags"] == ["tag:server"]
    assert mesh.peers("bob-laptop")["alice-server"]["tags"] == ["tag:server"]


# (source, destination, kind, port, allowed): what the policy says, tried with real packets
PACKETS = [
    ("bob-laptop", "alice-server", "tcp", 8080, True),
    ("bob-laptop", "alice-server", "udp", 8080, True),
    ("bob-laptop", "alice-server", "icmp", None, True),  # a rule without proto allows ICMP, as Tailscale's
    ("bob-laptop", "alice-server", "tcp", 22, False),
    ("bob-laptop", "alice-server", "udp", 22, False),
    ("alice-server", "bob-laptop", "tcp", 8080, False),  # the other direction: nothing allows it
    ("alice-server", "bob-laptop", "udp", 8080, False),
    ("alice-server", "bob-laptop", "icmp", None, False),
    ("alice-laptop", "alice-server", "tcp", 22, True),
    ("alice-laptop", "alice-server", "udp", 22, True),
    ("alice-laptop", "alice-server", "icmp", None, True),
    ("alice-server", "alice-laptop", "tcp", 22, False),  # a tagged device is nobody's own device
    ("alice-server", "alice-laptop", "icmp", None, False),
    ("bob-laptop", "bob-phone", "tcp", 22, True),
    ("bob-phone", "bob-laptop", "udp", 8080, True),
    ("bob-phone", "bob-laptop", "icmp", None, True),
    ("bob-laptop", "alice-laptop", "tcp", 22, False),  # not peers at all
    ("bob-laptop", "alice-laptop", "icmp", None, False),
    ("alice-laptop", "bob-laptop", "tcp", 8080, False),
]


def test_tcp_udp_and_icmp_pass_or_not_exactly_as_the_policy_says_both_ways_over_ipv4_and_ipv6(mesh):
    servers = [serve(mesh.hosts[name], 22, 8080) for name in EXPECTED_PEERS]
    try:
        for name, peers in EXPECTED_PEERS.items():
            wait_for(
                lambda name=name, peers=peers: set(mesh.peers(name)) == peers,
                what=f"{name}'s peers",
                explain=mesh.explain,
            )
        addresses = {name: mesh.mesh(name)["addresses"] for name in EXPECTED_PEERS}
        wrong = []
        for source, destination, kind, port, allowed in PACKETS:
            for address in addresses[destination]:  # IPv4, then IPv6
                if reaches(mesh.hosts[source], kind, address, port) != allowed:
                    wrong.append(f"{source} -> {destination} {address} {kind} {port}: expected allowed={allowed}")
        assert not wrong, wrong
    finally:
        for server in servers:
            server.kill()
            server.wait()


def test_an_outsider_cannot_announce_itself_and_a_hand_made_interface_reaches_nothing(mesh):
    carol = mesh.hosts["carol"]
    device = mesh.cli.device(carol)
    server = mesh.mesh("alice-server")
    # Carol's daemon does not even try; signed by hand, the indexer refuses it.
    key = bytes.fromhex((mesh.cli.state_dir(carol) / "device.key").read_text().strip().removeprefix("0x"))
    announcement = Announcement(
        tailnet_id=mesh.tailnet,
        device=device,
        wg_pubkey=Keypair.generate().public,
        hostname="carol",
        hostname_since=1,
        endpoints=("192.0.2.130:41641",),
        seq=1,
        expires=int(time.time()) + 3600,
    )
    body = SignedAnnouncement(announcement=announcement, signature=sign(mesh.domain, announcement, key)).to_json()
    answer = httpx.put(f"{mesh.indexer}/v1/tailnets/{mesh.tailnet}/announcements", json=body, timeout=10)
    assert answer.status_code == 403 and "member" in answer.json()["error"]
    # A WireGuard interface made by hand towards the server's endpoint: the server knows no such key.
    interface, keys = unique("oc"), Keypair.generate()
    carol.run("wireguard-go", interface)
    try:
        private = mesh.home / "carol.key"
        private.write_text(encode_key(keys.private))
        carol.run(
            "wg",
            "set",
            interface,
            "private-key",
            str(private),
            "peer",
            server["wg_pubkey"],
            "allowed-ips",
            "100.64.0.0/10",
            "endpoint",
            server["endpoints"][0],
        )
        carol.run("ip", "addr", "add", "100.64.7.7/32", "dev", interface)
        carol.run("ip", "link", "set", interface, "up")
        carol.run("ip", "route", "add", "100.64.0.0/10", "dev", interface)
        assert not reaches(carol, "icmp", server["addresses"][0])
        assert not reaches(carol, "tcp", server["addresses"][0], 8080)
        live = mesh.hosts["alice-server"].run("wg", "show", server["interface"], "peers").stdout.split()
        assert encode_key(keys.public) not in live
    finally:
        carol.run("ip", "link", "del", interface, check=False)


def test_ping_says_how_it_got_there_and_ip_gives_the_addresses(mesh):
    server = mesh.mesh("alice-server")
    answer = mesh.ping("bob-laptop", "alice-server", count=2)
    assert answer["answered"] == 2 and answer["path"] == "direct" and answer["address"] == server["addresses"][0]
    assert answer["endpoint"] == server["endpoints"][0] and all(rtt > 0 for rtt in answer["rtt_ms"])
    assert mesh.ping("bob-laptop", "alice-server.octravpn.internal")["address"] == server["addresses"][0]
    text = mesh.run("bob-laptop", "ping", "alice-server", json_out=False)
    assert f"pong from alice-server ({server['addresses'][0]}) via {server['endpoints'][0]} (direct)" in text
    assert mesh.run("bob-laptop", "ip", json_out=False).split() == mesh.mesh("bob-laptop")["addresses"]
    assert mesh.run("bob-laptop", "ip", "-4", "alice-server", json_out=False).split() == [server["addresses"][0]]
    metrics = _metrics(mesh, "bob-laptop")
    assert "octravpn_mesh_running 1.0" in metrics and 'octravpn_mesh_peers{path="direct"} 2.0' in metrics
    assert "octravpn_mesh_policy_current 1.0" in metrics
    table = mesh.run("bob-laptop", "status", json_out=False)
    assert "mesh peers" in table and "alice-server" in table and "tag:server" in table
    # Not a peer: the policy lets neither reach the other. A name nobody has: said so.
    with pytest.raises(Exception, match="not a peer of this device"):
        mesh.ping("bob-laptop", "alice-laptop")
    with pytest.raises(Exception, match="no device 'nobody'"):
        mesh.ping("bob-laptop", "nobody")


def test_names_resolve_to_the_tailnet_addresses_and_everything_else_goes_to_the_usual_resolver(mesh):
    laptop = mesh.hosts["bob-laptop"]
    server = mesh.mesh("alice-server")
    resolv = (mesh.lab_resolv("bob-laptop")).read_text()
    assert "nameserver 100.100.100.100" in resolv and "search octravpn.internal" in resolv
    found = laptop.run("getent", "ahostsv4", "alice-server.octravpn.internal").stdout.split()
    assert found[0] == server["addresses"][0]
    assert laptop.run("getent", "ahostsv6", "alice-server").stdout.split()[0] == server["addresses"][1]  # search
    assert reaches(laptop, "icmp", "alice-server")  # by name
    # Not a peer, or nobody: no such name (and the question never leaves the device).
    assert laptop.run("getent", "hosts", "alice-laptop.octravpn.internal", check=False).returncode != 0
    assert laptop.run("getent", "hosts", "nobody.octravpn.internal", check=False).returncode != 0
    # Any other name is asked of the resolver the host had: the lab's internet host, which knows one name.
    assert mesh.mesh("bob-laptop")["dns"]["upstream"] == ["192.0.2.65"]
    upstream = subprocess.Popen(
        ["ip", "netns", "exec", mesh.lab.internet.name, sys.executable, "-c", UPSTREAM_DNS],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert upstream.stdout.readline().strip() == "ready"
        assert laptop.run("getent", "ahostsv4", "web.example").stdout.split()[0] == WEB_ADDRESS
    finally:
        upstream.kill()
        upstream.wait()


class HostileIndexer:
    """An indexer that serves what the test tells it to: forged and replayed announcements among real ones."""

    def __init__(self, address: str, real: str) -> None:
        self.real, self.extra = real, []
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the standard library's name)
                signed = {"Authorization": self.headers.get("authorization", "")}
                answer = httpx.get(f"{hostile.real}{self.path}", headers=signed, timeout=5)
                body = answer.json()
                if "/announcements" in self.path and answer.status_code == 200:
                    body["items"] = hostile.extra + body["items"]
                data = json.dumps(body).encode()
                self.send_response(answer.status_code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(200)  # "stored", and thrown away
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((address, free_port()), Handler)
        self.url = f"http://{address}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_indexer_serving_forged_or_replayed_announcements_changes_nothing(mesh):
    """alice-server asks the real indexer and a hostile one; the hostile one serves bob-laptop's announcement
    from before a change (a replay) and one naming bob-laptop's key with an attacker's WireGuard key and
    endpoint, signed by another key (a forgery). Neither changes bob-laptop as the server sees it."""
    bob = mesh.mesh("bob-laptop")
    device = mesh.cli.device(mesh.hosts["bob-laptop"]).lower()
    old = next(a for a in mesh.read_mailbox("bob-laptop") if a["device"].lower() == device)
    mesh.run("bob-laptop", "set", "--relay")  # a new announcement (it now relays), a higher seq
    wait_for(lambda: mesh.mesh("bob-laptop").get("relay"), what="bob-laptop to relay", explain=mesh.explain)
    wait_for(
        lambda: next(a for a in mesh.read_mailbox("bob-laptop") if a["device"].lower() == device)["seq"] > old["seq"],
        what="the new announcement at the indexer",
    )
    attacker = Account.create()
    forged = Announcement(
        tailnet_id=mesh.tailnet,
        device=old["device"],
        wg_pubkey=Keypair.generate().public,
        hostname="bob-laptop",
        hostname_since=old["hostname_since"],
        endpoints=("192.0.2.250:41641",),
        seq=old["seq"] + 10**9,
        expires=int(time.time()) + 3600,
    )
    hostile = HostileIndexer(mesh.lab.chain_address, mesh.indexer)
    try:
        hostile.extra = [
            {k: v for k, v in old.items() if k != "stored_at"},
            SignedAnnouncement(announcement=forged, signature=sign(mesh.domain, forged, attacker.key)).to_json(),
        ]
        server = mesh.hosts["alice-server"]
        mesh.cli.stop_daemon(server)
        mesh.start("alice-server", "--indexer", hostile.url)
        peer = wait_for(
            lambda: mesh.peers("alice-server").get("bob-laptop"), what="bob-laptop again", explain=mesh.explain
        )
        refused = mesh.mesh("alice-server")["refused"]
        assert peer["wg_pubkey"] == bob["wg_pubkey"], peer
        assert any("replay" in reason for reason in refused.values()), refused
        forgery = f"announcement of {old['device']} signed by {attacker.address}"
        assert any(forgery.lower() in reason.lower() for reason in refused.values()), refused
        assert reaches(mesh.hosts["bob-laptop"], "icmp", mesh.address("alice-server"))
    finally:
        mesh.cli.stop_daemon(mesh.hosts["alice-server"])
        mesh.start("alice-server")
        hostile.close()
        mesh.run("bob-laptop", "set", "--no-relay")


@pytest.fixture
def exit_node(mesh, tmp_path):
    """An exit beside the mesh; stopped whatever the test did (the lab kills what is left when it goes)."""
    node = Exit(mesh.cli, tmp_path, "--dns", "203.0.113.53").start()
    try:
        yield node
    finally:
        node.stop()


def test_an_exit_session_and_the_mesh_at_the_same_time(mesh, exit_node):
    """bob-laptop connects through the exit (kill switch on): the web goes through the exit, mesh addresses
    through the mesh, and the mesh's own packets leave by the uplink, not inside the exit's tunnel."""
    laptop = mesh.hosts["bob-laptop"]
    try:
        mesh.run("bob-laptop", "up", "--exit", "operator", "--interface", unique("ov"), "--max-pay", "0.01")
        assert fetch(laptop, f"http://{WEB_ADDRESS}/index.html") is not None
        assert reaches(laptop, "icmp", mesh.address("alice-server"))
        assert reaches(laptop, "tcp", mesh.address("alice-server"), 8080) is False  # nobody listens: refused
        seen_by_server = mesh.peers("alice-server")["bob-laptop"]["endpoint"]
        assert seen_by_server == mesh.mesh("bob-laptop")["endpoints"][0], seen_by_server  # not the exit's address
        # Names: the mesh still answers them, and passes other names to the exit's servers now.
        assert "nameserver 100.100.100.100" in mesh.lab_resolv("bob-laptop").read_text()
        wait_for(
            lambda: mesh.mesh("bob-laptop")["dns"]["upstream"] == ["203.0.113.53"],
            what="the exit's DNS",
            explain=mesh.explain,
        )
        assert reaches(laptop, "icmp", "alice-server")
        the_exit_operator_reaches_nothing_of_the_tailnet(mesh, exit_node)
    finally:
        mesh.run("bob-laptop", "down", "--settle-wait", "0")
    wait_for(lambda: mesh.mesh("bob-laptop")["dns"]["upstream"] == ["192.0.2.65"], what="the host's own DNS again")
    assert "nameserver 100.100.100.100" in mesh.lab_resolv("bob-laptop").read_text()


UDP_SINK = """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", int(sys.argv[1])))
sock.settimeout(float(sys.argv[2]))
print("ready", flush=True)
try:
    while True:
        data, source = sock.recvfrom(64)
        print(source[0], data.decode(), flush=True)
except TimeoutError:
    pass
"""

DNS_QUESTION = """
import socket, sys
from dnslib import DNSRecord
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(2)
sock.sendto(DNSRecord.question("alice-server.octravpn.internal").pack(), ("100.100.100.100", 53))
try:
    print(DNSRecord.parse(sock.recv(512)).short())
except TimeoutError:
    print("no answer")
"""


def the_exit_operator_reaches_nothing_of_the_tailnet(mesh, exit_node):
    """The exit's operator, root on its host, routes the device's tailnet addresses and its resolver into the
    session's tunnel (the device's side of the tunnel takes any source from the exit): once it reached the
    device's tailnet services (TCP both ways), asked its resolver for the tailnet's names, and spoofed a peer's
    100.x source. Now none of it gets in: tailnet addresses are accepted on the mesh interface only."""
    exit_host, tunnel = mesh.lab.exits[0], exit_node.interface
    laptop = mesh.hosts["bob-laptop"]
    (dump,) = [line for line in exit_host.run("wg", "show", tunnel, "allowed-ips").stdout.splitlines() if line]
    client_key, client_address = dump.split()[0], dump.split()[1]
    bob_v4, bob_v6 = mesh.mesh("bob-laptop")["addresses"]
    phone_v4 = mesh.address("bob-phone")
    targets = [f"{bob_v4}/32", f"{bob_v6}/128", "100.100.100.100/32"]
    exit_host.run("wg", "set", tunnel, "peer", client_key, "allowed-ips", ",".join([client_address, *targets]))
    for target in targets:
        exit_host.run("ip", "-6" if ":" in target else "-4", "route", "replace", target, "dev", tunnel)
    services = serve(laptop, 7777)
    sink = subprocess.Popen(
        ["ip", "netns", "exec", laptop.name, sys.executable, "-c", UDP_SINK, "7778", "6"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout.readline().strip() == "ready"
        assert reaches(mesh.hosts["bob-phone"], "tcp", bob_v4, 7777)  # a peer the policy lets in: it listens
        for address in (bob_v4, bob_v6):
            assert not reaches(exit_host, "tcp", address, 7777), f"the exit reached {address}"
        asked = exit_host.run(sys.executable, "-c", DNS_QUESTION).stdout.strip()
        assert asked == "no answer", asked
        # bob-phone's own datagram arrives; the exit's, sent as bob-phone (its tailnet address), does not.
        mesh.hosts["bob-phone"].run(sys.executable, "-c", SEND_UDP, bob_v4, "7778", "genuine")
        exit_host.run("ip", "addr", "add", f"{phone_v4}/32", "dev", "lo")
        exit_host.run(sys.executable, "-c", SEND_UDP, bob_v4, "7778", "spoofed", phone_v4)
        received = sink.communicate(timeout=30)[0]
        assert "genuine" in received and "spoofed" not in received, received
    finally:
        services.kill()
        services.wait()
        sink.kill()
        sink.wait()


SEND_UDP = """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if len(sys.argv) > 4:
    sock.bind((sys.argv[4], 0))
sock.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
"""


def test_a_new_policy_takes_effect_from_the_chain_and_one_that_does_not_parse_keeps_the_last_good_one(mesh):
    server = serve(mesh.hosts["alice-server"], 8080, 9090)
    laptop, address = mesh.hosts["bob-laptop"], mesh.address("alice-server")
    try:
        assert reaches(laptop, "tcp", address, 8080) and not reaches(laptop, "tcp", address, 9090)
        mesh.set_policy(policy(mesh.wallets["alice"], mesh.wallets["bob"], bob_port=9090))  # no indexer involved
        wait_for(lambda: reaches(laptop, "tcp", address, 9090), what="port 9090 open to bob", explain=mesh.explain)
        assert not reaches(laptop, "tcp", address, 8080)
        # A document on chain that does not parse here: the last good policy stays for the grace, and says so.
        mesh.set_policy('{"acls": [{"action": "allow"', "--force")
        shown = wait_for(
            lambda: (p := mesh.mesh("alice-server")["policy"])["state"] == "previous" and p,
            what="status",
            explain=mesh.explain,
        )
        assert "does not parse here" in shown["error"] and shown["until"] > time.time(), shown
        assert reaches(laptop, "tcp", address, 9090) and not reaches(laptop, "tcp", address, 8080)
        mesh.set_policy(policy(mesh.wallets["alice"], mesh.wallets["bob"]))
        wait_for(lambda: reaches(laptop, "tcp", address, 8080), what="the first policy again", explain=mesh.explain)
        assert mesh.mesh("alice-server")["policy"]["state"] == "enforced"
    finally:
        server.kill()
        server.wait()


def test_a_tightened_policy_cuts_a_peers_open_connection(mesh):
    """A peer's connection opened before a tightening once lived on (the filter admitted established packets
    first, and nothing was flushed)."""
    server, laptop = mesh.hosts["alice-server"], mesh.hosts["bob-laptop"]
    held = HeldConnection(server.name, laptop.name, mesh.address("alice-server"), 8080)
    try:
        assert held.say("before") == "before"
        tighter = policy(mesh.wallets["alice"], mesh.wallets["bob"], bob_port=9090)
        mesh.set_policy(tighter)
        wanted = {"hash": "0x" + keccak(tighter.encode()).hex(), "state": "enforced"}
        wait_for(lambda: mesh.mesh("alice-server")["policy"] == wanted, what="the policy in force")
        assert held.say("after") == "timeout"  # cut at its next packet
    finally:
        held.close()
        mesh.set_policy(policy(mesh.wallets["alice"], mesh.wallets["bob"]))


def test_names_and_tags_belong_to_whom_the_tailnet_says(mesh):
    """A device cannot take another's name (the indexer and every peer refuse it), nor lose its tag to a member
    who does not own it (the grant is on chain; devices judge it under the policy)."""
    phone, server_address = mesh.hosts["bob-phone"], mesh.address("alice-server")
    mesh.run("bob-phone", "set", "--hostname", "alice-server")
    refused = wait_for(
        lambda: next((e for e in mesh.mesh("bob-phone")["indexers"].values() if "held by" in e), None),
        what="the indexer to refuse the name",
        explain=mesh.explain,
    )
    assert "alice-server" in refused
    assert mesh.hosts["bob-laptop"].run("getent", "ahostsv4", "alice-server").stdout.split()[0] == server_address
    mesh.run("bob-phone", "set", "--hostname", "bob-phone")
    # bob owns no tag: a grant he sends past the command line's check changes nothing, and says why.
    from octravpn.chain.client import open_client

    bob = open_client(config.load(env=mesh.cli.env).network(), mesh.cli.account("bob"))
    bob.set_device_tags(mesh.tailnet, mesh.cli.device(mesh.hosts["alice-server"]), [])
    wait_for(
        lambda: "may not apply or remove tag:server" in (mesh.mesh("alice-server")["refused_self"] or ""),
        what="the refusal",
        explain=mesh.explain,
    )
    assert mesh.peers("bob-laptop")["alice-server"]["tags"] == ["tag:server"]
    del phone


def test_a_revoked_device_drops_out_everywhere_and_takes_its_mesh_down(mesh):
    phone = mesh.hosts["bob-phone"]
    device = mesh.cli.device(phone)
    assert reaches(mesh.hosts["bob-laptop"], "icmp", mesh.address("bob-phone"))
    phone_address = mesh.address("bob-phone")
    mesh.cli.run("-w", "bob", "device", "revoke", device)
    wait_for(
        lambda: "bob-phone" not in mesh.peers("alice-server"), what="the server to drop the phone", explain=mesh.explain
    )
    wait_for(
        lambda: "bob-phone" not in mesh.peers("bob-laptop"), what="the laptop to drop the phone", explain=mesh.explain
    )
    state = wait_for(lambda: (m := mesh.mesh("bob-phone"))["state"] != "running" and m, what="the phone to leave")
    assert state["state"] == "not-registered", state
    assert phone.run("ip", "link", "show", mesh.interfaces["bob-phone"], check=False).returncode != 0
    assert not reaches(mesh.hosts["bob-laptop"], "icmp", phone_address)


def test_a_removed_member_drops_out_everywhere(mesh):
    laptop = mesh.hosts["bob-laptop"]
    server_address = mesh.address("alice-server")
    assert reaches(laptop, "icmp", server_address)
    mesh.cli.run("-w", "alice", "tailnet", "remove-member", str(mesh.tailnet), "bob")
    wait_for(
        lambda: set(mesh.peers("alice-server")) == {"alice-laptop"}, what="the server to drop bob", explain=mesh.explain
    )
    state = wait_for(lambda: (m := mesh.mesh("bob-laptop"))["state"] != "running" and m, what="bob's mesh to go")
    assert state["state"] == "no-tailnet", state
    assert laptop.run("ip", "link", "show", mesh.interfaces["bob-laptop"], check=False).returncode != 0
    assert not reaches(laptop, "icmp", server_address)
    assert reaches(mesh.hosts["alice-laptop"], "icmp", server_address)


def test_stopping_the_daemon_takes_the_mesh_off_the_host_and_a_restart_puts_it_back(mesh):
    name, host = "alice-laptop", mesh.hosts["alice-laptop"]
    interface = mesh.interfaces[name]
    assert mesh.cli.stop_daemon(host) == 0  # SIGTERM
    assert host.run("ip", "link", "show", interface, check=False).returncode != 0
    assert host.run("nft", "list", "table", "inet", table_name(interface), check=False).returncode != 0
    assert "5270" not in host.run("ip", "rule", "show").stdout
    assert not wireguard_go(interface)
    assert "100.100.100.100" not in host.run("ip", "addr", "show", "dev", "lo").stdout
    assert "100.100.100.100" not in mesh.lab_resolv(name).read_text()  # the resolver it had, given back
    mesh.start(name)
    wait_for(lambda: "alice-server" in mesh.peers(name), what="the mesh back", explain=mesh.explain)
    assert reaches(host, "icmp", mesh.address("alice-server"))
    # kill -9 leaves everything in place (wireguard-go lives on); `daemon cleanup` takes it all away.
    resolv = mesh.lab_resolv(name)
    assert mesh.cli.stop_daemon(host, kill=True) == -9
    assert host.run("ip", "link", "show", interface, check=False).returncode == 0
    assert "nameserver 100.100.100.100" in resolv.read_text()
    mesh.cli.run("daemon", "cleanup", "--state-dir", str(mesh.cli.state_dir(host)), host=host)
    assert host.run("ip", "link", "show", interface, check=False).returncode != 0
    assert host.run("nft", "list", "table", "inet", table_name(interface), check=False).returncode != 0
    assert "5270" not in host.run("ip", "rule", "show").stdout and not wireguard_go(interface)
    assert "100.100.100.100" not in host.run("ip", "addr", "show", "dev", "lo").stdout
    assert "100.100.100.100" not in resolv.read_text()
    mesh.start(name)
    wait_for(lambda: "alice-server" in mesh.peers(name), what="the mesh back again", explain=mesh.explain)


UPSTREAM_DNS = f"""
import socket
from dnslib import A, QTYPE, RCODE, RR, DNSRecord
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", 53))
print("ready", flush=True)
while True:
    data, source = sock.recvfrom(512)
    query = DNSRecord.parse(data)
    reply = query.reply()
    if str(query.q.qname) == "web.example." and query.q.qtype == QTYPE.A:
        reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A("{WEB_ADDRESS}"), ttl=60))
    elif str(query.q.qname) != "web.example.":
        reply.header.rcode = RCODE.NXDOMAIN
    sock.sendto(reply.pack(), source)
"""
