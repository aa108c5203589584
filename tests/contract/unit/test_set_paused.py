import boa
import pytest

from tests.contract.harness import ACL_HASH, WG_KEY

X = "0x" + "ab" * 20
SIG = b"\x01" * 65
CURVE = ((1, 2), (1, 2, 1, 2))
GATED = [
    ("bond_endpoint", (1,)),
    ("unbond_endpoint", ()),
    ("finalize_unbond", ()),
    ("gov_slash_operator", (X,)),
    ("register_endpoint", ("h:1", WG_KEY, *CURVE, "r", 1, X)),
    ("update_endpoint", ("h:1", "r", 1)),
    ("rotate_keys", (WG_KEY, *CURVE)),
    ("retire_endpoint", ()),
    ("claim_earnings", (1,)),
    ("create_tailnet", (ACL_HASH, 1)),
    ("add_member", (0, X)),
    ("remove_member", (0, X)),
    ("deposit_to_tailnet", (0, 1)),
    ("withdraw_from_tailnet", (0, X, 1)),
    ("configure_tailnet_exit", (0, X)),
    ("remove_tailnet_exit", (0, X)),
    ("update_acl", (0, ACL_HASH)),
    ("precommit_join_token", (0, X, 2**40, 1)),
    ("redeem_join_token", (0, X, SIG)),
    ("revoke_join_token", (0, X)),
    ("register_device", (X,)),
    ("revoke_device", (X,)),
    ("open_session", (0, X, 1, 1)),
    ("settle_claim", (0, 1)),
    ("settle_confirm", (0, 1)),
    ("settle_with_receipt", (0, 1, 1, SIG)),
    ("claim_no_show", (0,)),
    ("sweep_expired_session", (0,)),
    ("slash_double_sign", (X, 0, 1, 1, SIG, 2, SIG)),
]


def test_pause_and_unpause_emit_events(hn):
    with hn.as_(hn.owner):
        hn.vpn.set_paused(True)
        assert hn.event("PauseSet").paused is True
        assert hn.vpn.paused()
        hn.vpn.set_paused(False)
        assert hn.event("PauseSet").paused is False
    assert not hn.vpn.paused()
    hn.bond(hn.owner)  # works again


def test_only_owner(hn, alice):
    with hn.as_(alice), boa.reverts("not owner"):
        hn.vpn.set_paused(True)


@pytest.mark.parametrize("function, args", GATED, ids=[name for name, _ in GATED])
def test_every_state_changing_function_refuses_while_paused(hn, owner, function, args):
    with hn.as_(owner):
        hn.vpn.set_paused(True)
    with hn.as_(owner), boa.reverts("paused"):
        getattr(hn.vpn, function)(*args)


def test_the_gated_list_covers_every_non_governance_mutator(hn):
    governance = {"set_params", "set_paused", "transfer_ownership", "withdraw_program_treasury"}
    mutators = {
        item["name"] for item in hn.vpn.abi
        if item["type"] == "function" and item["stateMutability"] in ("nonpayable", "payable")
    }
    assert mutators - governance == {name for name, _ in GATED}
