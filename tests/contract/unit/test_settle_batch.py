"""settle_batch: an exit checkpoints and settles many sessions in one transaction; an item that would revert on
its own is skipped with a `SettlementSkipped` event naming why, and the others go through."""

import boa

from tests.contract.harness import MB, SESSION_DEPOSIT, actor


def _item(h, signer, sid: int, seq: int, used: int, final: bool, record=None) -> tuple:
    record = h.vpn.record(sid) if record is None else record
    return (sid, record, seq, used, h.receipt_sig(signer, sid, seq, used), final)


def _sessions(h, alice, count: int = 3):
    op = h.operator("op")
    tid = h.tailnet_with_exit(alice, op)
    return op, tid, [h.session(tid, alice, op) for _ in range(count)]


def test_checkpoints_and_settlements_in_one_transaction(h, alice):
    op, tid, (a, b, c) = _sessions(h, alice)
    items = [
        _item(h, alice, a, 1, 100 * MB, False),
        _item(h, alice, b, 1, 200 * MB, True),
        _item(h, alice, c, 1, 300 * MB, False),
    ]
    with h.as_(op.account):
        assert h.vpn.settle_batch(items) == 3
    assert [e.session_id for e in h.events("SessionCheckpointed")] == [a, c]
    assert [e.session_id for e in h.events("SessionSettled")] == [b]
    assert h.events("SettlementSkipped") == []
    net = sum(h.pay_for(sid, used)[2] for sid, used in ((a, 100 * MB), (b, 200 * MB), (c, 300 * MB)))
    assert h.vpn.get_earnings(op.address) == net
    assert [h.vpn.get_session(sid).status for sid in (a, b, c)] == [0, 1, 0]


def test_one_bad_item_of_each_kind_is_skipped_and_the_rest_settle(h, alice, bob):
    op, tid, sids = _sessions(h, alice, 8)
    stranger = h.operator("stranger")
    other_tid = h.tailnet_with_exit(bob, stranger)
    theirs = h.session(other_tid, bob, stranger)
    laptop = actor("laptop")
    h.register_device(alice, laptop)
    with h.as_(alice):
        h.vpn.revoke_device(laptop.address)
    ended, checkpointed = sids[6], sids[7]
    with h.as_(op.account):
        h.vpn.settle_with_receipt(ended, 1, MB, h.receipt_sig(alice, ended, 1, MB))
        h.vpn.checkpoint(checkpointed, 1, 50 * MB, h.receipt_sig(alice, checkpointed, 1, 50 * MB))
    forged = list(h.vpn.record(sids[1]))
    forged[3] = 10 * SESSION_DEPOSIT  # a deposit it never had
    price = h.vpn.get_session(sids[0]).price_per_mb
    over = SESSION_DEPOSIT * MB // price + MB
    items = [
        _item(h, alice, sids[0], 1, 10 * MB, True),
        _item(h, alice, sids[1], 1, 10 * MB, True, record=tuple(forged)),
        _item(h, laptop, sids[2], 1, 10 * MB, True),
        _item(h, alice, sids[3], 1, over, True),
        _item(h, alice, ended, 2, 2 * MB, True),
        _item(h, bob, theirs, 1, MB, True),
        _item(h, alice, checkpointed, 1, 50 * MB, False),
        (sids[4], h.vpn.record(sids[4]), 1, MB, b"\x01" * 64, True),
        _item(h, alice, 999, 1, MB, True),
        _item(h, alice, sids[5], 1, 10 * MB, False),
    ]
    with h.as_(op.account):
        assert h.vpn.settle_batch(items) == 2
    skipped = {e.session_id: e.reason for e in h.events("SettlementSkipped")}
    assert skipped == {
        sids[1]: "session record does not match its events",
        sids[2]: "receipt not signed by the opener or its device",
        sids[3]: "usage exceeds deposit",
        ended: "session not open",
        theirs: "not session exit",
        checkpointed: "receipt adds nothing to what was paid",
        sids[4]: "receipt not signed by the opener or its device",
        999: "session not found",
    }
    assert [e.session_id for e in h.events("SessionSettled")] == [sids[0]]
    assert [e.session_id for e in h.events("SessionCheckpointed")] == [sids[5]]
    assert h.vpn.get_session(sids[1]).status == 0  # the forged item changed nothing


def test_the_same_session_twice_in_one_batch_is_paid_once(h, alice):
    op, tid, (a,) = _sessions(h, alice, 1)
    items = [_item(h, alice, a, 1, 100 * MB, False), _item(h, alice, a, 1, 100 * MB, False)]
    with h.as_(op.account):
        assert h.vpn.settle_batch(items) == 1
    # The second item carried the record as it was before the first: it no longer matches.
    assert h.event("SettlementSkipped").reason == "session record does not match its events"
    assert h.vpn.get_earnings(op.address) == h.pay_for(a, 100 * MB)[2]


def test_an_empty_batch_does_nothing(h, alice):
    op, _, _ = _sessions(h, alice, 1)
    with h.as_(op.account):
        assert h.vpn.settle_batch([]) == 0


def test_a_slashed_exit_settles_nothing(h, alice):
    op, tid, (a,) = _sessions(h, alice, 1)
    h.gov_slash(op.address)
    with h.as_(op.account), boa.reverts("operator slashed"):
        h.vpn.settle_batch([_item(h, alice, a, 1, MB, True)])


def test_paused(h, alice):
    op, tid, (a,) = _sessions(h, alice, 1)
    with h.as_(h.owner):
        h.vpn.set_paused(True)
    with h.as_(op.account), boa.reverts("paused"):
        h.vpn.settle_batch([_item(h, alice, a, 1, MB, True)])
