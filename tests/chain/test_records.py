"""The contract's records are read from its ABI by field name: every record type has exactly the fields, in the
same order, that the struct its view returns has in the compiled ABI (a field added on one side only fails here,
not as values read into the wrong names)."""

import pytest

from octravpn.chain.artifacts import load
from octravpn.chain.records import RECORDS, Views, field_names


@pytest.mark.parametrize("view", sorted(RECORDS))
def test_every_record_type_has_the_abis_components(view):
    functions = {f["name"]: f for f in load().abi if f["type"] == "function"}
    (struct,) = [o for o in functions[view]["outputs"] if o["type"] == "tuple"]
    assert field_names(RECORDS[view]) == [c["name"] for c in struct["components"]]


def test_every_view_that_returns_a_struct_has_a_record_type():
    returning_structs = {
        f["name"] for f in load().abi if f["type"] == "function" and any(o["type"] == "tuple" for o in f["outputs"])
    }
    assert returning_structs == set(RECORDS)


def test_a_view_is_encoded_and_its_answer_decoded_by_name():
    from eth_abi import encode
    from eth_utils import keccak, to_checksum_address

    views = Views(load().abi)
    wallet = to_checksum_address("0x" + "ab" * 20)
    data = views.call_data("get_device", wallet)
    assert data == keccak(text="get_device(address)")[:4] + encode(["address"], [wallet])
    device = views.decode("get_device", encode(["(address,uint256)"], [(wallet, 7)]))
    assert (device.wallet, device.revoked_at) == (wallet, 7)
    assert views.decode("tailnet_count_view", encode(["uint256"], [3])) == 3


@pytest.mark.parametrize("function", ["update_endpoint", "rotate_keys"])
def test_the_listing_fields_are_the_abis_and_its_events_carry_them_whole(function):
    from octravpn.chain.records import Listing

    abi = load().abi
    (listing,) = [i for f in abi if f.get("name") == function for i in f["inputs"] if i["name"] == "listing"]
    assert tuple(c["name"] for c in listing["components"]) == Listing.ABI_FIELDS
    assert tuple(c["type"] for c in listing["components"]) == Listing.ABI_TYPES
    for event in Listing.EVENTS:
        (item,) = [e for e in abi if e["type"] == "event" and e["name"] == event]
        assert set(Listing.ABI_FIELDS) <= {i["name"] for i in item["inputs"]}
