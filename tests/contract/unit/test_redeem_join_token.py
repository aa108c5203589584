import boa
import pytest

from tests.contract.harness import actor

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.fixture
def invite(hn, alice):
    tid = hn.tailnet(alice)
    key = actor("invite")
    with hn.as_(alice):
        hn.vpn.precommit_join_token(tid, key.address, boa.env.timestamp + 3_600, 2)
    return tid, key


def test_invitee_joins_with_a_signature_naming_itself(hn, invite, bob):
    tid, key = invite
    with hn.as_(bob):
        hn.vpn.redeem_join_token(tid, key.address, hn.join_sig(key, tid, bob))
    redeemed = hn.event("JoinTokenRedeemed")
    assert (redeemed.tailnet_id, redeemed.member, redeemed.invite_key) == (tid, bob.address, key.address)
    assert hn.event("TailnetMemberAdded").member == bob.address
    assert hn.vpn.is_tailnet_member(tid, bob.address)
    assert hn.vpn.get_join_token(tid, key.address).uses_left == 1


def test_front_runner_copying_the_transaction_is_refused(hn, invite, bob, carol):
    tid, key = invite
    signature = hn.join_sig(key, tid, bob)  # seen in the mempool
    with hn.as_(carol), boa.reverts("join signature is not from the invite key"):
        hn.vpn.redeem_join_token(tid, key.address, signature)
    assert not hn.vpn.is_tailnet_member(tid, carol.address)


def test_multi_use_invite_is_used_up(hn, invite, bob, carol):
    tid, key = invite
    dave = actor("dave")
    for who in (bob, carol):
        with hn.as_(who):
            hn.vpn.redeem_join_token(tid, key.address, hn.join_sig(key, tid, who))
    with hn.as_(dave), boa.reverts("token used up or revoked"):
        hn.vpn.redeem_join_token(tid, key.address, hn.join_sig(key, tid, dave))


def test_expired_invite_reverts(hn, invite, bob):
    tid, key = invite
    boa.env.time_travel(seconds=3_600)
    with hn.as_(bob), boa.reverts("token expired"):
        hn.vpn.redeem_join_token(tid, key.address, hn.join_sig(key, tid, bob))


def test_revoked_invite_reverts(hn, invite, alice, bob):
    tid, key = invite
    with hn.as_(alice):
        hn.vpn.revoke_join_token(tid, key.address)
    with hn.as_(bob), boa.reverts("token used up or revoked"):
        hn.vpn.redeem_join_token(tid, key.address, hn.join_sig(key, tid, bob))


def test_unknown_invite_reverts(hn, invite, bob):
    tid, _ = invite
    stranger = actor("stranger-key")
    with hn.as_(bob), boa.reverts("unknown token"):
        hn.vpn.redeem_join_token(tid, stranger.address, hn.join_sig(stranger, tid, bob))


def test_invite_of_another_tailnet_reverts(hn, invite, alice, bob):
    tid, key = invite
    other = hn.tailnet(alice)
    with hn.as_(bob), boa.reverts("unknown token"):
        hn.vpn.redeem_join_token(other, key.address, hn.join_sig(key, other, bob))


def test_unknown_tailnet_reverts(hn, invite, bob):
    _, key = invite
    with hn.as_(bob), boa.reverts("tailnet not found"):
        hn.vpn.redeem_join_token(9, key.address, hn.join_sig(key, 9, bob))


def test_existing_member_reverts(hn, invite, alice):
    tid, key = invite
    with hn.as_(alice), boa.reverts("already member"):
        hn.vpn.redeem_join_token(tid, key.address, hn.join_sig(key, tid, alice))


def test_signature_of_wrong_length_reverts(hn, invite, bob):
    tid, key = invite
    with hn.as_(bob), boa.reverts("signature must be 65 bytes (r, s, v)"):
        hn.vpn.redeem_join_token(tid, key.address, hn.join_sig(key, tid, bob)[:64])


def test_high_s_signature_reverts(hn, invite, bob):
    tid, key = invite
    sig = hn.join_sig(key, tid, bob)
    s = int.from_bytes(sig[32:64], "big")
    malleated = sig[:32] + (N - s).to_bytes(32, "big") + bytes([55 - sig[64]])
    with hn.as_(bob), boa.reverts("signature s is not canonical (high-s)"):
        hn.vpn.redeem_join_token(tid, key.address, malleated)


def test_bad_v_reverts(hn, invite, bob):
    tid, key = invite
    sig = hn.join_sig(key, tid, bob)
    with hn.as_(bob), boa.reverts("signature v must be 27 or 28"):
        hn.vpn.redeem_join_token(tid, key.address, sig[:64] + bytes([29]))


def test_unrecoverable_signature_reverts(hn, invite, bob):
    tid, key = invite
    with hn.as_(bob), boa.reverts("signature does not recover a signer"):
        hn.vpn.redeem_join_token(tid, key.address, bytes(64) + bytes([27]))


def test_a_removed_member_cannot_rejoin_with_its_old_signature(hn, invite, alice, bob):
    """The attack: resubmitting the old Join signature readmitted a removed member while uses were left."""
    tid, key = invite
    signature = hn.join_sig(key, tid, bob)
    with hn.as_(bob):
        hn.vpn.redeem_join_token(tid, key.address, signature)
    with hn.as_(alice):
        hn.vpn.remove_member(tid, bob.address)
    with hn.as_(bob), boa.reverts("this invite already admitted this wallet once"):
        hn.vpn.redeem_join_token(tid, key.address, signature)
    assert not hn.vpn.is_tailnet_member(tid, bob.address)
