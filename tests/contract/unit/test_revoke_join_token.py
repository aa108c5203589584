import boa

from tests.contract.harness import actor


def test_owner_revokes_invite(hn, alice):
    tid = hn.tailnet(alice)
    key = actor("invite")
    with hn.as_(alice):
        hn.vpn.precommit_join_token(tid, key.address, boa.env.timestamp + 60, 5)
        hn.vpn.revoke_join_token(tid, key.address)
    event = hn.event("JoinTokenRevoked")
    assert (event.tailnet_id, event.invite_key) == (tid, key.address)
    assert hn.vpn.get_join_token(tid, key.address).uses_left == 0


def test_not_owner_reverts(hn, alice, bob):
    tid = hn.tailnet(alice)
    key = actor("invite")
    with hn.as_(alice):
        hn.vpn.precommit_join_token(tid, key.address, boa.env.timestamp + 60, 5)
    with hn.as_(bob), boa.reverts("not tailnet owner"):
        hn.vpn.revoke_join_token(tid, key.address)


def test_no_live_token_reverts(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("no live token"):
        hn.vpn.revoke_join_token(tid, actor("invite").address)
