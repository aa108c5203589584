"""The reducer alone (no chain, no database): rows in a dict."""

import pytest

from octravpn.chain.events import LogEvent
from octravpn.indexer.reducer import PARAM_FIELDS, PROTOCOL_KEY, InconsistentHistory, UnknownEvent, apply, new_protocol

ETHER = 10**18
A, B = "0x" + "aa" * 20, "0x" + "bb" * 20


class DictRows:
    def __init__(self) -> None:
        params = {name: 1 for name in PARAM_FIELDS} | {"min_endpoint_stake": ETHER}
        self.tables = {"protocol": {PROTOCOL_KEY: new_protocol(params)}}

    def get(self, table, key):
        return self.tables.get(table, {}).get(key)

    def put(self, table, key, row):
        if row is None:
            self.tables.get(table, {}).pop(key, None)
        else:
            self.tables.setdefault(table, {})[key] = row

    def keys(self, table):
        return sorted(self.tables.get(table, {}))


def event(name, block=1, **args):
    return LogEvent(name, args, block, "0x" + "00" * 32, "0x" + "11" * 32, 0)


def register(rows, address, stake):
    apply(rows, event("StakeBonded", addr=address, amount=stake, new_stake=stake), 100)
    apply(
        rows,
        event(
            "EndpointRegistered",
            addr=address,
            endpoint="h:1",
            region="r",
            price_per_mb=5,
            wg_pubkey=b"\x01" * 32,
            receipt_signer=B,
        ),
        100,
    )


def test_active_follows_stake_slashing_and_the_minimum():
    rows = DictRows()
    register(rows, A, ETHER)
    register(rows, B, 2 * ETHER)
    assert rows.get("operators", (A,))["active"] and rows.get("operators", (A,))["registered_at"] == 100
    params = {name: 1 for name in PARAM_FIELDS} | {"min_endpoint_stake": 3 * ETHER // 2}
    apply(rows, event("ParamsUpdated", params=params), 200)
    assert not rows.get("operators", (A,))["active"] and rows.get("operators", (B,))["active"]
    apply(rows, event("ParamsUpdated", params=params | {"min_endpoint_stake": ETHER}), 300)
    assert rows.get("operators", (A,))["active"]
    slashing = event(
        "OperatorSlashed",
        addr=A,
        stake=ETHER,
        treasury_amt=ETHER,
        bounty_amt=0,
        forfeited_earnings=7,
        program_treasury=ETHER + 7 + 5,  # the contract's own figure (5 was there before): copied, not added up
        unbonding_left=3,  # a governance slash takes what it announced: what was bonded since is left unbonding
        unlock_at=9_000,
    )
    apply(rows, slashing, 400)
    slashed = rows.get("operators", (A,))
    assert not slashed["active"] and slashed["slashed"] and slashed["forfeited_total"] == 7
    assert (slashed["stake"], slashed["unbonding"], slashed["unlock_at"]) == (0, 3, 9_000)
    assert rows.get("protocol", PROTOCOL_KEY)["program_treasury"] == ETHER + 12


def test_unknown_event_and_missing_state_are_refused():
    rows = DictRows()
    with pytest.raises(UnknownEvent, match="no rule for event Mystery"):
        apply(rows, event("Mystery"), 1)
    with pytest.raises(InconsistentHistory, match="refers to sessions \\(3,\\).*start block"):
        apply(rows, event("SettleClaimed", session_id=3, exit=A, bytes_used=1), 1)


def test_join_tokens_change_nothing():
    rows = DictRows()
    apply(rows, event("JoinTokenPrecommitted", tailnet_id=0, invite_key=A, expires_at=1, max_uses=1), 1)
    assert set(rows.tables) == {"protocol"}
