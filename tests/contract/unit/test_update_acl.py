import boa
from eth_hash.auto import keccak

MAX_POLICY_BYTES = 16_384


def test_owner_publishes_a_new_policy_document_in_the_event(hn, alice):
    tid = hn.tailnet(alice)
    document = b'{"acls": []}'
    with hn.as_(alice):
        hn.vpn.update_acl(tid, document)
    event = hn.event("TailnetAclUpdated")
    assert (event.tailnet_id, event.acl_policy, event.document) == (tid, keccak(document), document)
    assert hn.vpn.get_tailnet(tid).acl_policy == keccak(document)


def test_a_document_of_the_largest_size_is_published(hn, alice):
    tid = hn.tailnet(alice)
    document = b"/" * MAX_POLICY_BYTES
    with hn.as_(alice):
        hn.vpn.update_acl(tid, document)
    assert hn.event("TailnetAclUpdated").document == document


def test_a_larger_document_reverts(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts():  # the ABI decoder refuses it: clients check the size before sending
        hn.vpn.update_acl(tid, b"/" * (MAX_POLICY_BYTES + 1))


def test_not_owner_reverts(hn, alice, bob):
    tid = hn.tailnet(alice)
    with hn.as_(bob), boa.reverts("not tailnet owner"):
        hn.vpn.update_acl(tid, b"{}")


def test_unknown_tailnet_reverts(hn, alice):
    with hn.as_(alice), boa.reverts("tailnet not found"):
        hn.vpn.update_acl(7, b"{}")


def test_empty_document_reverts(hn, alice):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("acl required"):
        hn.vpn.update_acl(tid, b"")
