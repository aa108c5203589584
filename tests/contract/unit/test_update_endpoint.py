import boa
import pytest


def test_update_changes_listing(hn):
    op = hn.operator("op")
    with hn.as_(op.account):
        hn.vpn.update_endpoint("203.0.113.9:443", "ap-south", 5)
    event = hn.event("EndpointUpdated")
    assert (event.addr, event.endpoint, event.region, event.price_per_mb) == (
        op.address,
        "203.0.113.9:443",
        "ap-south",
        5,
    )
    record = hn.vpn.get_endpoint(op.address)
    assert (record.endpoint, record.region, record.price_per_mb) == ("203.0.113.9:443", "ap-south", 5)


def test_not_registered_reverts(hn, alice):
    with hn.as_(alice), boa.reverts("not registered"):
        hn.vpn.update_endpoint("203.0.113.9:443", "ap-south", 5)


@pytest.mark.parametrize("endpoint, price, reason", [("", 5, "endpoint required"), ("h:1", 0, "price > 0")])
def test_bad_listing_reverts(hn, endpoint, price, reason):
    op = hn.operator("op")
    with hn.as_(op.account), boa.reverts(reason):
        hn.vpn.update_endpoint(endpoint, "x", price)
