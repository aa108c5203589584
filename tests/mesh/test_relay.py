"""The relay: it pairs two devices only when both asked with good signatures over a fresh challenge made for the
address they ask from, and the policy lets them talk; then it forwards their datagrams each way, from the port
the other side sends to. A captured request moves nothing, one member cannot fill it, and it answers nobody with
more than they sent (real UDP on loopback)."""

import json
import socket
import subprocess
import sys
import time

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from octravpn.chain.devnet import REPO_ROOT
from octravpn.mesh import relay as relay_module
from octravpn.mesh.peerapi import parse_answer
from octravpn.mesh.relay import RelayServer, check_request, request_relay
from octravpn.protocol.eip712 import Domain, sign
from octravpn.protocol.errors import RemoteProtocolError
from octravpn.protocol.relaywire import (
    MAX_DATAGRAM,
    Challenges,
    RelayRequest,
    decode_answer,
    decode_challenge,
    decode_request,
    encode_answer,
    encode_request,
    hello,
)

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
RELAY, LAPTOP, PHONE, OUTSIDER = (Account.from_key(bytes([i]) * 32) for i in (7, 8, 9, 10))
PAIRS_ALLOWED = {(LAPTOP.address.lower(), PHONE.address.lower()), (PHONE.address.lower(), LAPTOP.address.lower())}


def allowed(device: str, peer: str) -> str | None:
    return None if (device, peer) in PAIRS_ALLOWED else "the tailnet's policy does not let these two devices talk"


def _request(signer, peer, *, relay=RELAY, expires=None, tailnet=0, key=None):
    """A request maker: signs over the challenge the relay hands out (what `request_relay` calls)."""

    def make(challenge: bytes) -> bytes:
        request = RelayRequest(
            tailnet_id=tailnet,
            device=signer.address,
            peer=peer.address,
            relay=relay.address,
            expires=expires if expires is not None else int(time.time()) + 60,
            challenge=challenge,
        )
        return encode_request(request, sign(DOMAIN, request, (key or signer).key))

    return make


@pytest.fixture
def relay():
    server = RelayServer(relay=RELAY.address, tailnet_id=0, domain=DOMAIN, allowed=allowed, port=0)
    yield server
    server.close()


def _udp(address: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    sock.settimeout(2)
    return sock


def test_a_pair_is_relayed_once_both_asked_and_datagrams_go_each_way_unchanged(relay):
    control = ("127.0.0.1", relay.port)
    first = request_relay(control, _request(LAPTOP, PHONE))
    assert first.ready is False and first.port is None and first.error is None  # until the phone asks too
    phone = request_relay(control, _request(PHONE, LAPTOP))
    laptop = request_relay(control, _request(LAPTOP, PHONE))
    assert phone.ready and laptop.ready and phone.port != laptop.port
    laptop_wg, phone_wg = _udp(), _udp()  # stand-ins for the two WireGuard sockets
    phone_wg.sendto(b"hello from the phone", ("127.0.0.1", phone.port))  # learned, nowhere to send yet
    laptop_wg.sendto(b"\x04ciphertext", ("127.0.0.1", laptop.port))
    data, source = phone_wg.recvfrom(100)
    assert data == b"\x04ciphertext" and source == ("127.0.0.1", phone.port)  # from where the phone sends
    phone_wg.sendto(b"\x04reply", ("127.0.0.1", phone.port))
    data, source = laptop_wg.recvfrom(100)
    assert data == b"\x04reply" and source == ("127.0.0.1", laptop.port)
    assert relay.shown()["pairs"] == 1 and relay.shown()["forwarded_datagrams"] == 2


def test_datagrams_from_another_address_than_the_request_came_from_are_not_relayed(relay):
    control = ("127.0.0.1", relay.port)
    request_relay(control, _request(LAPTOP, PHONE))
    phone = request_relay(control, _request(PHONE, LAPTOP))
    laptop = request_relay(control, _request(LAPTOP, PHONE))
    laptop_wg, phone_wg, intruder = _udp(), _udp(), _udp("127.0.0.2")
    phone_wg.sendto(b"phone", ("127.0.0.1", phone.port))
    intruder.sendto(b"hijack", ("127.0.0.1", laptop.port))  # would make the relay send the phone's traffic there
    laptop_wg.sendto(b"laptop", ("127.0.0.1", laptop.port))
    assert phone_wg.recvfrom(100)[0] == b"laptop"
    phone_wg.sendto(b"back", ("127.0.0.1", phone.port))
    assert laptop_wg.recvfrom(100)[0] == b"back"


def _exchange(sock: socket.socket, relay: RelayServer, make) -> tuple[bytes, dict]:
    """hello, challenge, request from one socket: (the request datagram, the relay's answer)."""
    sock.sendto(hello(), ("127.0.0.1", relay.port))
    datagram = make(decode_challenge(sock.recvfrom(MAX_DATAGRAM)[0]))
    sock.sendto(datagram, ("127.0.0.1", relay.port))
    return datagram, json.loads(sock.recvfrom(MAX_DATAGRAM)[0])


def test_a_captured_request_replayed_from_anywhere_moves_nothing(relay):
    """A request was once good for 10 minutes from any address: replayed, it moved the laptop's leg to the
    replayer, who then got the phone's traffic and blackholed the pair."""
    laptop, phone, replayer = _udp(), _udp(), _udp("127.0.0.2")
    captured, first = _exchange(laptop, relay, _request(LAPTOP, PHONE))
    assert first["error"] is None
    _exchange(phone, relay, _request(PHONE, LAPTOP))
    _, ready = _exchange(laptop, relay, _request(LAPTOP, PHONE))
    assert ready["ready"] and relay.pairs
    (pair,) = relay.pairs.values()
    leg_ip = pair.legs[LAPTOP.address.lower()].request_ip
    for sender in (replayer, laptop):  # from another address, and again from the same one
        sender.sendto(captured, ("127.0.0.1", relay.port))
        answer = json.loads(sender.recvfrom(MAX_DATAGRAM)[0])
        assert answer["ready"] is False and "challenge" in answer["error"]
    assert pair.legs[LAPTOP.address.lower()].request_ip == leg_ip == "127.0.0.1"


def test_challenges_are_bound_to_an_address_taken_once_and_expire():
    challenges, here, there = Challenges(), ("192.0.2.1", 5000), ("192.0.2.1", 5001)
    made = challenges.make(here, 100.0)
    assert "not made for this address" in challenges.take(made, there, 101.0)
    assert challenges.take(made, here, 101.0) is None
    assert "used already" in challenges.take(made, here, 102.0)
    old = challenges.make(here, 100.0)
    assert "older than" in challenges.take(old, here, 131.0)


def test_nothing_unauthenticated_is_answered_with_more_than_it_sent(relay):
    """A 1-byte datagram was once answered with 99 bytes: a reflector for anyone who can spoof a source."""
    sock = _udp()
    sock.settimeout(0.3)
    for datagram in (b"x", b"{}", hello()[:-1], b"[" * 40, b'{"tailnet_id": 1, "pad": "' + b"y" * 60 + b'"}', hello()):
        sock.sendto(datagram, ("127.0.0.1", relay.port))
        try:
            answer = sock.recvfrom(MAX_DATAGRAM)[0]
        except TimeoutError:
            continue  # nothing at all is fine too
        assert len(answer) <= len(datagram), (datagram, answer)
    assert len(encode_answer(error="a long reason " * 20, limit=2)) == 0
    assert len(decode_challenge(relay_answer := encode_challenge_for(relay))) == 32 and len(relay_answer) < len(hello())


def encode_challenge_for(relay: RelayServer) -> bytes:
    sock = _udp()
    sock.sendto(hello(), ("127.0.0.1", relay.port))
    return sock.recvfrom(MAX_DATAGRAM)[0]


def test_one_members_devices_hold_no_more_than_their_share(monkeypatch):
    """One member's devices once filled all 128 pairs of the tailnet's relay."""
    monkeypatch.setattr(relay_module, "MAX_PAIRS", 4)
    monkeypatch.setattr(relay_module, "MIN_SHARE", 1)
    devices = [Account.from_key(bytes([0x40 + i]) * 32) for i in range(6)]
    mallory = {d.address.lower() for d in devices}
    server = RelayServer(
        relay=RELAY.address,
        tailnet_id=0,
        domain=DOMAIN,
        allowed=lambda device, peer: None,
        owner_of=lambda device: "mallory" if device in mallory else device,
        members=lambda: 2,  # a fair share: 4 // 2 = 2 pairs each
        port=0,
    )
    try:
        control = ("127.0.0.1", server.port)
        for first, second in ((0, 1), (2, 3), (4, 5)):
            a, b = devices[first], devices[second]
            request_relay(control, _request(a, b))
            answer = request_relay(control, _request(b, a))
        assert "hold their share of this relay (2 pairs)" in answer.error and len(server.pairs) == 2
        request_relay(control, _request(LAPTOP, PHONE))
        assert request_relay(control, _request(PHONE, LAPTOP)).ready  # another member still gets a pair
    finally:
        server.close()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_request(OUTSIDER, LAPTOP), "policy does not let"),
        (_request(LAPTOP, PHONE, key=OUTSIDER), "signed by"),
        (_request(LAPTOP, PHONE, relay=OUTSIDER), "not this one"),
        (_request(LAPTOP, PHONE, tailnet=3), "serves tailnet 0, not 3"),
        (_request(LAPTOP, PHONE, expires=int(time.time()) - 1), "within 600 s"),
        (_request(LAPTOP, PHONE, expires=int(time.time()) + 3600), "within 600 s"),
        (_request(LAPTOP, LAPTOP), "to itself"),
        (lambda challenge: b'{"not": "a request", "pad": "' + b"x" * 100 + b'"}', "relay request"),
        (lambda challenge: b"[" * 300 + b"]" * 300, "nests deeper than 1 levels"),
    ],
)
def test_a_request_it_will_not_act_on_is_answered_with_why(relay, make, reason):
    answer = request_relay(("127.0.0.1", relay.port), make)
    assert answer.ready is False and reason in answer.error
    assert relay.shown()["pairs"] == 0
    assert request_relay(("127.0.0.1", relay.port), _request(LAPTOP, PHONE)).error is None  # still serving


def test_a_datagram_nested_past_the_interpreters_limit_does_not_end_the_relay():
    """1,024 `[` made the JSON decoder raise RecursionError, which no handler expected: the relay's thread
    ended and the tailnet's relayed pairs with it. Run where the interpreter's recursion limit is its default
    (this test process may have raised it), as in the daemon."""
    script = f"""
import json, sys
from tests.mesh.test_relay import DOMAIN, LAPTOP, PHONE, RELAY, _request, allowed
from octravpn.mesh.relay import RelayServer, request_relay
server = RelayServer(relay=RELAY.address, tailnet_id=0, domain=DOMAIN, allowed=allowed, port=0)
hostile = request_relay(("127.0.0.1", server.port), lambda challenge: b"[" * {MAX_DATAGRAM})
honest = request_relay(("127.0.0.1", server.port), _request(LAPTOP, PHONE), timeout=2)
print(json.dumps([sys.getrecursionlimit(), hostile.error, honest.error]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    limit, hostile, honest = json.loads(done.stdout)
    assert limit < MAX_DATAGRAM  # the decoder would recurse past it
    assert "nests deeper than 1 levels" in hostile and honest is None


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=1100),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_whatever_a_datagram_holds_decoding_it_fails_only_as_a_protocol_error(datagram):
    for decode in (
        lambda: decode_request(datagram, DOMAIN),
        lambda: decode_answer(datagram),
        lambda: decode_challenge(datagram),
    ):
        try:
            decode()
        except RemoteProtocolError:
            pass
    assert parse_answer(datagram) is None or isinstance(parse_answer(datagram), str)


def test_the_request_and_answer_formats_check_what_they_carry():
    request = decode_request(_request(LAPTOP, PHONE)(b"\x01" * 32), DOMAIN)
    assert request.device == LAPTOP.address and request.peer == PHONE.address and request.relay == RELAY.address
    assert request.challenge == b"\x01" * 32
    assert check_request(request, relay=RELAY.address.lower(), tailnet_id=0, now=time.time(), allowed=allowed) is None
    for bad in (b'{"port": 0, "ready": true, "error": null}', b"[]", b'{"port": 1, "ready": "yes", "error": null}'):
        with pytest.raises(RemoteProtocolError):
            decode_answer(bad)
    answer = decode_answer(encode_answer(port=5000, ready=True, limit=100))
    assert (answer.port, answer.ready, answer.error) == (5000, True, None)
