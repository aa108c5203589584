import pytest

from octravpn.protocol import Domain, Join, RemoteProtocolError, recover
from octravpn.protocol.invites import Invite

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
MEMBER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def test_round_trip_and_key_address():
    invite = Invite.new(chain_id=31337, contract=CONTRACT.lower(), tailnet_id=4)
    text = invite.encode()
    assert text.startswith(f"ovpn-invite-1.31337.{CONTRACT}.4.")
    assert Invite.decode(text) == invite
    assert Invite.new(chain_id=1, contract=CONTRACT, tailnet_id=0).key != invite.key


def test_join_signature_recovers_to_the_invite_key():
    invite = Invite.new(chain_id=31337, contract=CONTRACT, tailnet_id=4)
    domain = Domain(chain_id=31337, verifying_contract=CONTRACT)
    assert recover(domain, Join(tailnet_id=4, member=MEMBER), invite.join_signature(MEMBER)) == invite.key_address


@pytest.mark.parametrize(
    "text, reason",
    [
        ("tskey-auth-abc", "not an OctraVPN invite"),
        (f"ovpn-invite-1.x.{CONTRACT}.4.{'00' * 32}", "malformed"),
        (f"ovpn-invite-1.1.0x12.4.{'00' * 32}", "malformed"),
        (f"ovpn-invite-1.1.{CONTRACT}.4.zz", "not hex"),
        (f"ovpn-invite-1.1.{CONTRACT}.4.{'00' * 31}", "not 32 bytes"),
    ],
)
def test_damaged_invites_are_refused(text, reason):
    with pytest.raises(RemoteProtocolError, match=reason):
        Invite.decode(text)
