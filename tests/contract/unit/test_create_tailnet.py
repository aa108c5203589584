import boa

from tests.contract.harness import ACL_DOCUMENT, ACL_HASH, ETHER, MIN_TAILNET_DEPOSIT, actor


def test_create_funds_treasury_and_makes_owner_a_member(h, alice, bob):
    tid0 = h.pay(alice, "create_tailnet", ACL_DOCUMENT, amount=ETHER)
    created = h.event("TailnetCreated")
    published = h.event("TailnetAclUpdated")  # the document itself travels in the event: devices read it there
    assert (published.tailnet_id, published.acl_policy, published.document) == (0, ACL_HASH, ACL_DOCUMENT)
    assert (created.tailnet_id, created.owner, created.acl_policy, created.deposit) == (
        0,
        alice.address,
        ACL_HASH,
        ETHER,
    )
    assert h.event("TailnetMemberAdded").member == alice.address
    tid1 = h.pay(bob, "create_tailnet", ACL_DOCUMENT, amount=MIN_TAILNET_DEPOSIT)
    assert (tid0, tid1) == (0, 1)
    tailnet = h.vpn.get_tailnet(0)
    assert (tailnet.owner, tailnet.treasury, tailnet.member_count, tailnet.acl_policy, tailnet.exit_count) == (
        alice.address,
        ETHER,
        1,
        ACL_HASH,
        0,
    )
    assert tailnet.created_at == boa.env.timestamp
    assert h.vpn.is_tailnet_member(0, alice.address) and not h.vpn.is_tailnet_member(0, bob.address)
    assert h.vpn.tailnet_count_view() == 2
    assert h.vpn_balance() == ETHER + MIN_TAILNET_DEPOSIT


def test_deposit_below_minimum_reverts(h, alice):
    with boa.reverts("tailnet deposit below min"):
        h.pay(alice, "create_tailnet", ACL_DOCUMENT, amount=MIN_TAILNET_DEPOSIT - 1)


def test_empty_acl_reverts(hn, alice):
    with boa.reverts("acl policy required"):
        hn.pay(alice, "create_tailnet", b"", amount=ETHER)


def test_a_live_device_key_cannot_create_a_tailnet(hn, alice):
    """It would become a member: a key on a roster is a member or a device, never both."""
    laptop = actor("laptop")
    hn.register_device(alice, laptop)
    with boa.reverts("a live device key cannot be a member: revoke it first"):
        hn.pay(laptop, "create_tailnet", ACL_DOCUMENT, amount=ETHER)


def test_unknown_tailnet_view_reverts(hn):
    with boa.reverts("tailnet not found"):
        hn.vpn.get_tailnet(0)
