"""A session is one slot, the hash of its record; every call on a session passes the record back and the
contract holds it against the hash. A record altered in any field is refused by every such function."""

import boa
import pytest

from octravpn.chain.records import Session
from tests.contract.harness import MB

SIG = b"\x01" * 65
# Each function that takes a record, with what follows the record.
TAKES_A_RECORD = {
    "checkpoint": (1, MB, SIG),
    "settle_with_receipt": (1, MB, SIG),
    "settle_claim": (MB,),
    "settle_confirm": (MB,),
    "top_up_session": (1,),
    "claim_no_show": (),
    "sweep_expired_session": (),
    "close_session": (),
}


def test_the_functions_that_take_a_record_are_all_here(h):
    taking = {
        item["name"]
        for item in h.vpn.abi
        if item["type"] == "function" and "session" in [i["name"] for i in item["inputs"]]
    }
    assert taking == set(TAKES_A_RECORD) | {"slash_double_sign", "is_receipt_signer"}


def test_the_record_fields_are_the_abis(h):
    (component,) = [
        i for item in h.vpn.abi if item.get("name") == "checkpoint" for i in item["inputs"] if i["name"] == "session"
    ]
    assert tuple(c["name"] for c in component["components"]) == Session.ABI_FIELDS
    assert tuple(c["type"] for c in component["components"]) == Session.ABI_TYPES


@pytest.mark.parametrize("field", range(len(Session.ABI_FIELDS)), ids=Session.ABI_FIELDS)
@pytest.mark.parametrize("function", sorted(TAKES_A_RECORD))
def test_a_record_altered_in_any_field_is_refused(open_session, alice, function, field):
    s = open_session
    forged = list(s.h.vpn.record(s.session_id))
    forged[field] = "0x" + "ab" * 20 if isinstance(forged[field], str) else forged[field] + 1
    with s.h.as_(alice), boa.reverts("session record does not match its events"):
        getattr(s.h.vpn, function)(s.session_id, tuple(forged), *TAKES_A_RECORD[function])


@pytest.mark.parametrize("function", sorted(TAKES_A_RECORD))
def test_an_unknown_session(h, alice, function):
    with h.as_(alice), boa.reverts("session not found"):
        getattr(h.vpn, function)(7, h.vpn.record(7), *TAKES_A_RECORD[function])


def test_the_stored_hash_is_the_records(open_session):
    s = open_session
    assert s.h.vpn.get_session_hash(s.session_id) == s.h.vpn.get_session(s.session_id).digest()
    with boa.reverts("session not found"):
        s.h.vpn.get_session_hash(s.session_id + 1)


def test_is_receipt_signer_checks_the_record_too(open_session, alice):
    s = open_session
    forged = list(s.h.vpn.record(s.session_id))
    forged[2] = s.op.address  # the opener field, pointed at someone else
    with boa.reverts("session record does not match its events"):
        s.h.vpn.is_receipt_signer(s.session_id, tuple(forged), s.op.address)
    assert s.h.vpn.is_receipt_signer(s.session_id, alice.address)
