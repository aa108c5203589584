import boa


def test_owner_allows_an_active_exit(hn, alice):
    op = hn.operator("op")
    tid = hn.tailnet(alice)
    with hn.as_(alice):
        hn.vpn.configure_tailnet_exit(tid, op.address)
    event = hn.event("TailnetExitConfigured")
    assert (event.tailnet_id, event.exit_addr) == (tid, op.address)
    assert hn.vpn.is_tailnet_exit(tid, op.address)
    assert hn.vpn.get_tailnet(tid).exit_count == 1


def test_not_owner_reverts(hn, alice, bob):
    op = hn.operator("op")
    tid = hn.tailnet(alice)
    with hn.as_(bob), boa.reverts("not tailnet owner"):
        hn.vpn.configure_tailnet_exit(tid, op.address)


def test_unregistered_exit_reverts(hn, alice, bob):
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("exit not registered"):
        hn.vpn.configure_tailnet_exit(tid, bob.address)


def test_retired_exit_reverts(hn, alice):
    op = hn.operator("op")
    with hn.as_(op.account):
        hn.vpn.retire_endpoint()
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("exit inactive"):
        hn.vpn.configure_tailnet_exit(tid, op.address)


def test_exit_below_raised_minimum_stake_reverts(hn, alice):
    op = hn.operator("op")
    params = list(hn.vpn.get_params())
    params[5] *= 2  # min_endpoint_stake
    hn.apply_params(params)
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("exit inactive"):
        hn.vpn.configure_tailnet_exit(tid, op.address)


def test_slashed_exit_reverts(hn, alice):
    op = hn.operator("op")
    hn.gov_slash(op.address)
    tid = hn.tailnet(alice)
    with hn.as_(alice), boa.reverts("exit inactive"):
        hn.vpn.configure_tailnet_exit(tid, op.address)


def test_already_configured_reverts(hn, alice):
    op = hn.operator("op")
    tid = hn.tailnet_with_exit(alice, op)
    with hn.as_(alice), boa.reverts("already configured"):
        hn.vpn.configure_tailnet_exit(tid, op.address)
