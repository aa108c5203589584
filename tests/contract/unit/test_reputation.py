"""Reputation is the value an exit settled for tailnets it does not own (finding 6: a sybil farmed
50 zero-byte sessions on its own tailnet for gas alone)."""

from tests.contract.harness import MB


def _settle(h, op, tid, opener, bytes_used):
    sid = h.session(tid, opener, op)
    with h.as_(op.account):
        h.vpn.settle_with_receipt(sid, 1, bytes_used, h.receipt_sig(opener, sid, 1, bytes_used))
    return h.event("SessionSettled").total_paid


def test_zero_byte_sessions_on_its_own_tailnet_earn_nothing(h):
    sybil = h.operator("sybil")
    own = h.tailnet_with_exit(sybil.account, sybil)
    for _ in range(5):
        _settle(h, sybil, own, sybil.account, 0)
    _settle(h, sybil, own, sybil.account, 100 * MB)  # paying itself does not count either
    assert h.vpn.get_endpoint(sybil.address).reputation == 0


def test_value_paid_by_other_tailnets_counts(h, alice, bob):
    op = h.operator("op")
    paid = [_settle(h, op, h.tailnet_with_exit(payer, op), payer, 300 * MB) for payer in (alice, bob)]
    _settle(h, op, h.tailnet_with_exit(alice, op), alice, 0)
    assert h.vpn.get_endpoint(op.address).reputation == sum(paid) > 0
