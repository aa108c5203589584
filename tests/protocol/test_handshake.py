import pytest
from eth_account import Account

from octravpn.protocol import Domain, PeerRequest, RemoteProtocolError, sign
from octravpn.protocol.handshake import (
    FRESHNESS_SECONDS,
    HandshakeRefused,
    ReplayGuard,
    SessionView,
    check_peer_request,
)

DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")
OPENER, DEVICE, STRANGER = (Account.from_key(bytes([i]) * 32) for i in (1, 2, 3))
EXIT = "0x" + "e1" * 20
NOW = 1_800_000_000
SESSION = SessionView(session_id=7, exit=EXIT, opener=OPENER.address, status=0)
WG = b"\x05" * 32


def _check(signer=OPENER, *, request=None, session=SESSION, owner=None, now=NOW, replays=None, this_exit=EXIT):
    request = request or PeerRequest(session_id=7, wg_pubkey=WG, timestamp=NOW)
    asked = []

    def device_owner_of(address):
        asked.append(address)
        return owner

    accepted = check_peer_request(
        domain=DOMAIN,
        request=request,
        signature=sign(DOMAIN, request, signer.key),
        session=session,
        this_exit=this_exit,
        device_owner_of=device_owner_of,
        now=now,
        replays=replays or ReplayGuard(),
    )
    assert asked == ([] if signer is OPENER else [signer.address])  # only a non-opener's owner is looked up
    return accepted


def test_opener_is_accepted():
    accepted = _check()
    assert (accepted.session_id, accepted.wg_pubkey, accepted.signer) == (7, WG, OPENER.address)


def test_device_of_the_opener_is_accepted():
    assert _check(DEVICE, owner=OPENER.address).signer == DEVICE.address


@pytest.mark.parametrize(
    "kwargs, status, reason",
    [
        (dict(signer=STRANGER), 403, "not signed by the session opener"),
        (dict(signer=DEVICE, owner=STRANGER.address), 403, "not signed by the session opener"),
        (dict(now=NOW + FRESHNESS_SECONDS + 1), 401, "stale peer request"),
        (dict(now=NOW - FRESHNESS_SECONDS - 1), 401, "stale peer request"),
        (dict(session=None), 404, "session 7 does not exist"),
        (
            dict(session=SessionView(session_id=7, exit="0x" + "e2" * 20, opener=OPENER.address, status=0)),
            403,
            "another exit",
        ),
        (dict(session=SessionView(session_id=7, exit=EXIT, opener=OPENER.address, status=1)), 409, "is not open"),
        (dict(session=SessionView(session_id=7, exit=EXIT, opener=OPENER.address, status=2)), 409, "is not open"),
    ],
)
def test_refusals_say_why(kwargs, status, reason):
    with pytest.raises(HandshakeRefused, match=reason) as refused:
        _check(**kwargs)
    assert refused.value.status == status


def test_a_replayed_request_is_refused_until_it_goes_stale():
    replays = ReplayGuard()
    _check(replays=replays)
    with pytest.raises(RemoteProtocolError, match="replayed peer request"):
        _check(replays=replays, now=NOW + 1)
    fresh = PeerRequest(session_id=7, wg_pubkey=WG, timestamp=NOW + 5)
    _check(request=fresh, replays=replays, now=NOW + 5)  # a new request is fine
    _check(request=PeerRequest(session_id=7, wg_pubkey=WG, timestamp=NOW + 200), replays=replays, now=NOW + 200)
    assert len(replays.seen) == 1  # the stale ones were forgotten
