"""The relay: it pairs two devices only when both asked with good signatures and the policy lets them talk,
then forwards their datagrams each way, from the port the other side sends to (real UDP on loopback)."""

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
from octravpn.mesh.peerapi import parse_answer
from octravpn.mesh.relay import RelayServer, check_request, request_relay
from octravpn.protocol.eip712 import Domain, sign
from octravpn.protocol.errors import RemoteProtocolError
from octravpn.protocol.relaywire import (
    MAX_DATAGRAM,
    RelayRequest,
    decode_answer,
    decode_request,
    encode_answer,
    encode_request,
)

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
RELAY, LAPTOP, PHONE, OUTSIDER = (Account.from_key(bytes([i]) * 32) for i in (7, 8, 9, 10))
PAIRS_ALLOWED = {(LAPTOP.address.lower(), PHONE.address.lower()), (PHONE.address.lower(), LAPTOP.address.lower())}


def allowed(device: str, peer: str) -> str | None:
    return None if (device, peer) in PAIRS_ALLOWED else "the tailnet's policy does not let these two devices talk"


def _request(signer, peer, *, relay=RELAY, expires=None, tailnet=0, key=None) -> bytes:
    request = RelayRequest(
        tailnet_id=tailnet,
        device=signer.address,
        peer=peer.address,
        relay=relay.address,
        expires=expires if expires is not None else int(time.time()) + 60,
    )
    return encode_request(request, sign(DOMAIN, request, (key or signer).key))


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


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (lambda: _request(OUTSIDER, LAPTOP), "policy does not let"),
        (lambda: _request(LAPTOP, PHONE, key=OUTSIDER), "signed by"),
        (lambda: _request(LAPTOP, PHONE, relay=OUTSIDER), "not this one"),
        (lambda: _request(LAPTOP, PHONE, tailnet=3), "serves tailnet 0, not 3"),
        (lambda: _request(LAPTOP, PHONE, expires=int(time.time()) - 1), "within 600 s"),
        (lambda: _request(LAPTOP, PHONE, expires=int(time.time()) + 3600), "within 600 s"),
        (lambda: _request(LAPTOP, LAPTOP), "to itself"),
        (lambda: b"{not json", "relay request"),
        (lambda: b"x" * 2000, "at most 1024 bytes"),
        (lambda: b"[" * 300 + b"]" * 300, "nests deeper than 1 levels"),
        (lambda: b'{"tailnet_id": [[[]]]}', "nests deeper than 1 levels"),
    ],
)
def test_a_request_it_will_not_act_on_is_answered_with_why(relay, datagram, reason):
    answer = request_relay(("127.0.0.1", relay.port), datagram())
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
hostile = request_relay(("127.0.0.1", server.port), b"[" * {MAX_DATAGRAM})
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
    for decode in (lambda: decode_request(datagram, DOMAIN), lambda: decode_answer(datagram)):
        try:
            decode()
        except RemoteProtocolError:
            pass
    assert parse_answer(datagram) is None or isinstance(parse_answer(datagram), str)


def test_the_request_and_answer_formats_check_what_they_carry():
    request = decode_request(_request(LAPTOP, PHONE), DOMAIN)
    assert request.device == LAPTOP.address and request.peer == PHONE.address and request.relay == RELAY.address
    assert check_request(request, relay=RELAY.address.lower(), tailnet_id=0, now=time.time(), allowed=allowed) is None
    for bad in (b'{"port": 0, "ready": true, "error": null}', b"[]", b'{"port": 1, "ready": "yes", "error": null}'):
        with pytest.raises(RemoteProtocolError):
            decode_answer(bad)
    answer = decode_answer(encode_answer(port=5000, ready=True))
    assert (answer.port, answer.ready, answer.error) == (5000, True, None)
