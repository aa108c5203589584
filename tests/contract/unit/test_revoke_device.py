import boa

from tests.contract.harness import PRICE, ZERO, actor


def test_wallet_revokes_device(hn, alice):
    laptop = actor("laptop")
    hn.register_device(alice, laptop)
    with hn.as_(alice):
        hn.vpn.revoke_device(laptop.address)
    event = hn.event("DeviceRevoked")
    assert (event.wallet, event.device) == (alice.address, laptop.address)
    assert hn.vpn.get_device_owner(laptop.address) == ZERO
    assert not hn.vpn.is_device_of(laptop.address, alice.address)
    assert tuple(hn.vpn.get_device(laptop.address)) == (alice.address, boa.env.timestamp)


def test_revoked_device_cannot_open_sessions(hn, alice):
    op = hn.operator("op")
    tid = hn.tailnet_with_exit(alice, op)
    laptop = actor("laptop")
    hn.register_device(alice, laptop)
    with hn.as_(alice):
        hn.vpn.revoke_device(laptop.address)
    with hn.as_(laptop), boa.reverts("not a member"):
        hn.vpn.open_session(tid, op.address, 10**16, PRICE)


def test_not_device_owner_reverts(hn, alice, bob):
    laptop = actor("laptop")
    hn.register_device(alice, laptop)
    for who in (bob, alice):
        with hn.as_(who), boa.reverts("not device owner"):
            hn.vpn.revoke_device(laptop.address if who is bob else bob.address)
    with hn.as_(alice):
        hn.vpn.revoke_device(laptop.address)
    with hn.as_(alice), boa.reverts("not device owner"):
        hn.vpn.revoke_device(laptop.address)
