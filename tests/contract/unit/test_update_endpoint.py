import boa
import pytest

from tests.contract.harness import WG_KEY


def test_update_changes_listing(hn):
    op = hn.operator("op")
    with hn.as_(op.account):
        hn.vpn.update_endpoint("203.0.113.9:443", "ap-south", 5)
    event = hn.event("EndpointUpdated")
    # the event carries the whole listing: a reader needs no earlier one
    assert (event.addr, event.endpoint, event.region, event.price_per_mb, event.wg_pubkey, event.receipt_signer) == (
        op.address,
        "203.0.113.9:443",
        "ap-south",
        5,
        WG_KEY,
        op.receipt_key.address,
    )
    assert hn.vpn.kept_endpoint(op.address).listed_in_block == boa.env.evm.patch.block_number
    record = hn.vpn.get_endpoint(op.address)
    assert (record.endpoint, record.region, record.price_per_mb) == ("203.0.113.9:443", "ap-south", 5)


def test_not_registered_reverts(hn, alice):
    with hn.as_(alice), boa.reverts("not registered"):
        hn.vpn.update_endpoint("203.0.113.9:443", "ap-south", 5)


@pytest.mark.parametrize(
    "endpoint, price, reason",
    [("", 5, "endpoint required"), ("h:1", 0, "price > 0"), ("h:1", 2**120, "price above 2**120 - 1")],
)
def test_bad_listing_reverts(hn, endpoint, price, reason):
    op = hn.operator("op")
    with hn.as_(op.account), boa.reverts(reason):
        hn.vpn.update_endpoint(endpoint, "x", price)


@pytest.mark.parametrize("field", ["endpoint", "region", "wg_pubkey", "receipt_signer"])
def test_a_listing_that_is_not_the_exits_reverts(hn, field):
    op = hn.operator("op")
    forged = {
        "endpoint": "203.0.113.66:1",
        "region": "nowhere",
        "wg_pubkey": b"\x66" * 32,
        "receipt_signer": "0x" + "66" * 20,
    }
    listing = hn.vpn.listing(op.address).as_argument()
    at = ["endpoint", "region", "wg_pubkey", "receipt_signer"].index(field)
    listing = (*listing[:at], forged[field], *listing[at + 1 :])
    with hn.as_(op.account), boa.reverts("listing does not match its events"):
        hn.vpn.update_endpoint(listing, "203.0.113.9:443", "ap-south", 5)
    with hn.as_(op.account), boa.reverts("listing does not match its events"):
        hn.vpn.rotate_keys(listing, b"\x22" * 32)
