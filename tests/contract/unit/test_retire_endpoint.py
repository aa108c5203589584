import boa


def test_retire_deactivates_exit(hn):
    op = hn.operator("op")
    with hn.as_(op.account):
        hn.vpn.retire_endpoint()
    assert hn.event("EndpointRetired").addr == op.address
    assert not hn.vpn.get_endpoint(op.address).active
    assert not hn.vpn.is_endpoint_active(op.address)
    assert hn.vpn.get_endpoint_stake(op.address) > 0  # stake stays bonded


def test_retire_twice_reverts(hn):
    op = hn.operator("op")
    with hn.as_(op.account):
        hn.vpn.retire_endpoint()
        with boa.reverts("not registered"):
            hn.vpn.retire_endpoint()


def test_retired_exit_still_settles_open_sessions(hn, alice):
    op = hn.operator("op")
    tid = hn.tailnet_with_exit(alice, op)
    sid = hn.session(tid, alice, op)
    with hn.as_(op.account):
        hn.vpn.retire_endpoint()
        hn.vpn.settle_with_receipt(sid, 1, 10**6, hn.receipt_sig(alice, sid, 1, 10**6))
    assert hn.vpn.get_session(sid).status == 1
