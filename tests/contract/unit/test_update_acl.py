import boa
from eth_hash.auto import keccak


def test_owner_publishes_new_policy_hash(hn, alice):
    tid = hn.tailnet(alice)
    new_hash = keccak(b'{"acls": []}')
    with hn.as_(alice):
        hn.vpn.update_acl(tid, new_hash)
    event = hn.event("TailnetAclUpdated")
    assert (event.tailnet_id, event.acl_policy) == (tid, new_hash)
    assert hn.vpn.get_tailnet(tid).acl_policy == new_hash


def test_not_owner_reverts(hn, alice, bob):
    tid = hn.tailnet(alice)
    with hn.as_(bob), boa.reverts("not tailnet owner"):
        hn.vpn.update_acl(tid, keccak(b"x"))


def test_empty_hash_reverts(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("acl required"):
        hn.vpn.update_acl(tid, bytes(32))
