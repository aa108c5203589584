"""register_device: a key binds to a wallet only with its own signature (finding 3: no squatting)."""

import boa

from tests.contract.harness import ZERO, actor


def test_wallet_registers_device_with_its_consent(h, alice):
    laptop = actor("laptop")
    h.register_device(alice, laptop)
    event = h.event("DeviceRegistered")
    assert (event.wallet, event.device) == (alice.address, laptop.address)
    assert h.vpn.get_device_owner(laptop.address) == alice.address
    assert h.vpn.is_device_of(laptop.address, alice.address)
    assert tuple(h.vpn.get_device(laptop.address)) == (alice.address, 0)


def test_registering_someone_elses_key_without_its_signature_reverts(h, alice, bob):
    """The attack: mallory registers bob's wallet as her device, so bob's `up --exit auto` used her tailnet."""
    mallory = actor("mallory")
    for forged in (h.device_sig(mallory, mallory), h.device_sig(bob, alice), b"\x00" * 65):
        with h.as_(mallory), boa.reverts():
            h.vpn.register_device(bob.address, forged)
    with h.as_(mallory), boa.reverts("device key did not sign the binding"):
        h.vpn.register_device(bob.address, h.device_sig(bob, alice))
    assert h.vpn.get_device_owner(bob.address) == ZERO


def test_a_consent_cannot_be_replayed_by_another_wallet(hn, alice, bob):
    laptop = actor("laptop")
    consent = hn.device_sig(laptop, alice)
    with hn.as_(bob), boa.reverts("device key did not sign the binding"):
        hn.vpn.register_device(laptop.address, consent)


def test_registering_again_is_a_silent_no_op(hn, alice):
    laptop = actor("laptop")
    hn.register_device(alice, laptop)
    hn.register_device(alice, laptop)
    assert hn.events() == []


def test_device_of_another_wallet_reverts(hn, alice, bob):
    laptop = actor("laptop")
    hn.register_device(alice, laptop)
    with boa.reverts("device attached to another wallet"):
        hn.register_device(bob, laptop)


def test_a_revoked_key_never_binds_again(hn, alice, bob):
    laptop = actor("laptop")
    hn.register_device(alice, laptop)
    with hn.as_(alice):
        hn.vpn.revoke_device(laptop.address)
    for wallet in (alice, bob):
        with boa.reverts("device key was revoked: make a new key"):
            hn.register_device(wallet, laptop)


def test_empty_or_own_address_reverts(hn, alice):
    with hn.as_(alice):
        for device in (ZERO, alice.address):
            with boa.reverts("device must be another, non-empty address"):
                hn.vpn.register_device(device, b"\x00" * 65)


def test_a_members_wallet_cannot_be_registered_as_a_device(hn, alice, bob):
    """A reusable invite let one person hold a member wallet and register it as another member's device: the
    roster then held the key twice and every device's network map failed."""
    hn.tailnet(alice)
    for device in (alice, bob):
        if device is bob:
            hn.tailnet(bob)
        with boa.reverts("a member's wallet cannot be a device key"):
            hn.register_device(actor("owner-of-" + device.alias), device)


def test_a_former_members_wallet_can_be_registered(hn, alice, bob):
    tid = hn.tailnet(alice)
    with hn.as_(alice):
        hn.vpn.add_member(tid, bob.address)
        hn.vpn.remove_member(tid, bob.address)
    hn.register_device(alice, bob)
    assert hn.vpn.get_device_owner(bob.address) == alice.address


def test_a_wallet_has_at_most_64_live_devices(hn, alice):
    keys = [actor(f"laptop-{i}") for i in range(65)]
    for key in keys[:64]:
        hn.register_device(alice, key)
    with boa.reverts("wallet has 64 live devices: revoke one first"):
        hn.register_device(alice, keys[64])
    with hn.as_(alice):
        hn.vpn.revoke_device(keys[0].address)
    hn.register_device(alice, keys[64])  # a revoked one makes room
    assert hn.vpn.get_device_owner(keys[64].address) == alice.address
