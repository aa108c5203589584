import boa


def test_rotate_replaces_the_wireguard_key(hn, alice):
    op = hn.operator("op")
    hn.earn(op, alice, 10**6)  # unclaimed earnings are no reason to keep an old key
    new_wg = bytes.fromhex("22" * 32)
    with hn.as_(op.account):
        hn.vpn.rotate_keys(new_wg)
    event = hn.event("KeysRotated")
    # the event carries the whole listing: a reader needs no earlier one
    assert (event.addr, event.wg_pubkey, event.endpoint, event.region, event.receipt_signer) == (
        op.address,
        new_wg,
        "198.51.100.7:51820",
        "eu-west",
        op.receipt_key.address,
    )
    assert hn.vpn.get_endpoint(op.address).wg_pubkey == new_wg


def test_not_registered_reverts(hn, alice):
    with hn.as_(alice), boa.reverts("not registered"):
        hn.vpn.rotate_keys(bytes.fromhex("22" * 32))


def test_empty_wg_key_reverts(hn):
    op = hn.operator("op")
    with hn.as_(op.account), boa.reverts("wg pubkey required"):
        hn.vpn.rotate_keys(bytes(32))
