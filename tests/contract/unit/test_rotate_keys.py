import boa

from octravpn.protocol.earnings_keys import EarningsKeypair


def test_rotate_replaces_wireguard_and_earnings_keys(hn):
    op = hn.operator("op")
    new = EarningsKeypair(secret=99)
    new_wg = bytes.fromhex("22" * 32)
    with hn.as_(op.account):
        hn.vpn.rotate_keys(new_wg, new.public, new.encrypt_zero(4))
    event = hn.event("KeysRotated")
    assert (event.addr, event.wg_pubkey) == (op.address, new_wg)
    record = hn.vpn.get_endpoint(op.address)
    assert record.wg_pubkey == new_wg and tuple(record.earnings_pubkey) == new.public
    assert new.decrypts_to_zero(tuple(hn.vpn.get_earnings_zero_ct(op.address)))


def test_not_registered_reverts(hn, alice):
    new = EarningsKeypair(secret=99)
    with hn.as_(alice), boa.reverts("not registered"):
        hn.vpn.rotate_keys(bytes.fromhex("22" * 32), new.public, new.encrypt_zero(4))


def test_empty_wg_key_reverts(hn):
    op = hn.operator("op")
    with hn.as_(op.account), boa.reverts("wg pubkey required"):
        hn.vpn.rotate_keys(bytes(32), op.earnings.public, op.earnings.encrypt_zero(4))


def test_bad_earnings_key_reverts(hn):
    op = hn.operator("op")
    with hn.as_(op.account), boa.reverts("earnings pubkey must be an alt_bn128 point other than infinity"):
        hn.vpn.rotate_keys(bytes.fromhex("22" * 32), (1, 3), op.earnings.encrypt_zero(4))


def test_unclaimed_earnings_block_rotation(hn, alice):
    op = hn.operator("op")
    hn.earn(op, alice, 10**6)
    with hn.as_(op.account):
        with boa.reverts("claim earnings first"):
            hn.vpn.rotate_keys(bytes.fromhex("22" * 32), op.earnings.public, op.earnings.encrypt_zero(4))
        hn.vpn.claim_earnings(hn.vpn.get_earnings(op.address))
        hn.vpn.rotate_keys(bytes.fromhex("22" * 32), op.earnings.public, op.earnings.encrypt_zero(4))
