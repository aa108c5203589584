import boa

from tests.contract.harness import ZERO, actor


def test_owner_creates_invite(hn, alice):
    tid = hn.tailnet(alice)
    key = actor("invite")
    expires = boa.env.timestamp + 3_600
    with hn.as_(alice):
        hn.vpn.precommit_join_token(tid, key.address, expires, 3)
    event = hn.event("JoinTokenPrecommitted")
    assert (event.tailnet_id, event.invite_key, event.expires_at, event.max_uses) == (tid, key.address, expires, 3)
    token = hn.vpn.get_join_token(tid, key.address)
    assert (token.expires_at, token.uses_left, token.committed) == (expires, 3, True)


def test_not_owner_reverts(hn, alice, bob):
    tid = hn.tailnet(alice)
    with hn.as_(bob), boa.reverts("not tailnet owner"):
        hn.vpn.precommit_join_token(tid, actor("invite").address, boa.env.timestamp + 60, 1)


def test_empty_key_reverts(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("invite key required"):
        hn.vpn.precommit_join_token(tid, ZERO, boa.env.timestamp + 60, 1)


def test_expiry_in_the_past_reverts(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("invite already expired"):
        hn.vpn.precommit_join_token(tid, actor("invite").address, boa.env.timestamp, 1)


def test_zero_uses_reverts(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("max uses > 0"):
        hn.vpn.precommit_join_token(tid, actor("invite").address, boa.env.timestamp + 60, 0)


def test_key_can_be_committed_only_once(hn, alice):
    tid = hn.tailnet(alice)
    key = actor("invite")
    with hn.as_(alice):
        hn.vpn.precommit_join_token(tid, key.address, boa.env.timestamp + 60, 1)
        hn.vpn.revoke_join_token(tid, key.address)
        with boa.reverts("already committed"):
            hn.vpn.precommit_join_token(tid, key.address, boa.env.timestamp + 60, 1)
