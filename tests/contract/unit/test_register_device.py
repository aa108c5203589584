import boa

from tests.contract.harness import ZERO, actor


def test_wallet_registers_device(hn, alice):
    laptop = actor("laptop")
    with hn.as_(alice):
        hn.vpn.register_device(laptop.address)
    event = hn.event("DeviceRegistered")
    assert (event.wallet, event.device) == (alice.address, laptop.address)
    assert hn.vpn.get_device_owner(laptop.address) == alice.address
    assert hn.vpn.is_device_of(laptop.address, alice.address)


def test_registering_again_is_a_silent_no_op(hn, alice):
    laptop = actor("laptop")
    with hn.as_(alice):
        hn.vpn.register_device(laptop.address)
        hn.vpn.register_device(laptop.address)
    assert hn.events() == []


def test_device_of_another_wallet_reverts(hn, alice, bob):
    laptop = actor("laptop")
    with hn.as_(alice):
        hn.vpn.register_device(laptop.address)
    with hn.as_(bob), boa.reverts("device attached to another wallet"):
        hn.vpn.register_device(laptop.address)


def test_empty_or_own_address_reverts(hn, alice):
    with hn.as_(alice):
        for device in (ZERO, alice.address):
            with boa.reverts("device must be another, non-empty address"):
                hn.vpn.register_device(device)
