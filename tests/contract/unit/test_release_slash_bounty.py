"""release_slash_bounty: a bounty held from a self-slash that no committed report claimed goes to
the treasury after the report window."""

import boa

from tests.contract.harness import MIN_STAKE

REPORT_WINDOW = 86_400
BOUNTY = MIN_STAKE - MIN_STAKE * 9_000 // 10_000


def _self_slash(s):
    with s.h.as_(s.op.account):
        s.h.vpn.settle_claim(s.session_id, 1)
        s.h.vpn.settle_claim(s.session_id, 2)


def test_unclaimed_bounty_goes_to_the_treasury_after_the_window(open_session, carol):
    s = open_session
    _self_slash(s)
    treasury = s.h.vpn.get_program_treasury()
    boa.env.time_travel(seconds=REPORT_WINDOW - 1)
    with s.h.as_(carol), boa.reverts("grace not elapsed"):
        s.h.vpn.release_slash_bounty(s.op.address)
    boa.env.time_travel(seconds=1)
    with s.h.as_(carol):
        s.h.vpn.release_slash_bounty(s.op.address)
    event = s.h.event("SlashBountyReleased")
    assert (event.addr, event.amount) == (s.op.address, BOUNTY)
    assert s.h.vpn.get_program_treasury() == treasury + BOUNTY
    with s.h.as_(carol), boa.reverts("no bounty held"):
        s.h.vpn.release_slash_bounty(s.op.address)


def test_nothing_held_reverts(hn, carol):
    op = hn.operator("op")
    with hn.as_(carol), boa.reverts("no bounty held"):
        hn.vpn.release_slash_bounty(op.address)
