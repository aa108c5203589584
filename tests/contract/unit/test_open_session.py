import boa
import pytest

from octravpn.protocol.sessions import SESSION_ID_BITS, session_id_for
from tests.contract.harness import ETHER, MIN_SESSION_DEPOSIT, PRICE, SESSION_DEPOSIT, actor


@pytest.fixture
def setup(h, alice):
    op = h.operator("op")
    tid = h.tailnet_with_exit(alice, op, ETHER)
    return op, tid


def test_open_locks_deposit_and_price(h, setup, alice):
    op, tid = setup
    sid = h.session(tid, alice, op, ETHER // 10)
    event = h.event("SessionOpened")
    assert (event.session_id, event.tailnet_id, event.exit, event.opener, event.deposit, event.price_per_mb) == (
        sid,
        tid,
        op.address,
        alice.address,
        ETHER // 10,
        PRICE,
    )
    assert event.opened_at == boa.env.timestamp
    session = h.vpn.get_session(sid)
    assert (
        session.tailnet_id,
        session.exit,
        session.opener,
        session.deposit,
        session.price_per_mb,
        session.status,
    ) == (
        tid,
        op.address,
        alice.address,
        ETHER // 10,
        PRICE,
        0,
    )
    assert h.vpn.get_tailnet(tid).treasury == ETHER - ETHER // 10
    assert h.vpn_balance() == ETHER + h.vpn.get_endpoint_stake(op.address)


def test_price_change_after_open_does_not_touch_the_session(h, setup, alice):
    op, tid = setup
    sid = h.session(tid, alice, op)
    with h.as_(op.account):
        h.vpn.update_endpoint("h:1", "r", PRICE * 100)
    assert h.vpn.get_session(sid).price_per_mb == PRICE


def test_member_added_by_owner_can_open(h, setup, alice, bob):
    op, tid = setup
    with h.as_(alice):
        h.vpn.add_member(tid, bob.address)
    assert h.vpn.get_session(h.session(tid, bob, op)).opener == bob.address


def test_device_of_a_member_opens_for_its_owner(h, setup, alice):
    op, tid = setup
    phone = actor("phone")
    h.register_device(alice, phone)
    assert h.vpn.get_session(h.session(tid, phone, op)).opener == phone.address


def test_device_of_a_non_member_reverts(h, setup, bob):
    op, tid = setup
    phone = actor("phone")
    h.register_device(bob, phone)
    with h.as_(phone), boa.reverts("device's owner is not a member"):
        h.vpn.open_session(tid, op.address, MIN_SESSION_DEPOSIT, PRICE)


def test_non_member_reverts(h, setup, bob):
    op, tid = setup
    with h.as_(bob), boa.reverts("not a member"):
        h.vpn.open_session(tid, op.address, MIN_SESSION_DEPOSIT, PRICE)


def test_unknown_tailnet_reverts(h, setup, alice):
    op, _ = setup
    with h.as_(alice), boa.reverts("tailnet not found"):
        h.vpn.open_session(7, op.address, MIN_SESSION_DEPOSIT, PRICE)


def test_unconfigured_exit_reverts(h, setup, alice):
    _, tid = setup
    other = h.operator("other")
    with h.as_(alice), boa.reverts("exit not configured"):
        h.vpn.open_session(tid, other.address, MIN_SESSION_DEPOSIT, PRICE)


def test_inactive_exit_reverts(h, setup, alice):
    op, tid = setup
    with h.as_(op.account):
        h.vpn.retire_endpoint()
    with h.as_(alice), boa.reverts("exit inactive"):
        h.vpn.open_session(tid, op.address, MIN_SESSION_DEPOSIT, PRICE)


def test_deposit_below_minimum_reverts(h, setup, alice):
    op, tid = setup
    with h.as_(alice), boa.reverts("deposit below min"):
        h.vpn.open_session(tid, op.address, MIN_SESSION_DEPOSIT - 1, PRICE)


def test_deposit_above_treasury_reverts(h, setup, alice):
    op, tid = setup
    with h.as_(alice), boa.reverts("treasury insufficient"):
        h.vpn.open_session(tid, op.address, ETHER + 1, PRICE)


def test_unknown_session_view_reverts(h):
    with boa.reverts("session not found"):
        h.vpn.get_session(0)


def test_an_exit_that_raised_its_price_before_the_open_gets_no_session(h, setup, alice):
    op, tid = setup
    listed = h.vpn.get_endpoint(op.address).price_per_mb  # the price alice chose the exit at
    with h.as_(op.account):
        h.vpn.update_endpoint("h:1", "r", listed * 50_000)  # front-runs her transaction
    treasury = h.vpn.get_tailnet(tid).treasury
    with h.as_(alice), boa.reverts("exit price above max_price_per_mb"):
        h.vpn.open_session(tid, op.address, ETHER // 10, listed, 1)
    assert h.vpn.get_tailnet(tid).treasury == treasury


def test_a_price_at_or_below_the_opener_limit_is_locked(h, setup, alice):
    op, tid = setup
    sid = h.session(tid, alice, op, max_price=PRICE * 2)
    assert h.vpn.get_session(sid).price_per_mb == PRICE


def test_a_session_cannot_spend_the_locked_creation_deposit(h, alice):
    """Found in review: the 30-day lock on a tailnet's creation deposit was bypassed by spending it on a session
    to the owner's own exit, which then settled and claimed it as earnings."""
    own_exit = h.operator("own-exit")
    reserve = h.vpn.get_params().min_tailnet_deposit
    tid = h.tailnet(alice, reserve + SESSION_DEPOSIT)
    with h.as_(alice):
        h.vpn.configure_tailnet_exit(tid, own_exit.address)
    h.session(tid, alice, own_exit, SESSION_DEPOSIT)  # what is above the reserve can be spent
    with boa.reverts("the creation deposit stays for 30 days"):
        h.session(tid, alice, own_exit, reserve)
    boa.env.time_travel(seconds=30 * 86_400)
    h.session(tid, alice, own_exit, reserve)
    assert h.vpn.get_tailnet(tid).treasury == 0


@pytest.mark.parametrize("salt", [0, 1, 2**64 - 1])
def test_the_id_is_the_openers_to_know_before_the_open_is_mined(h, setup, alice, salt):
    """The id is the hash of the opener and its salt, cut to 53 bits (exact in every JSON reader): the contract's
    view, the opening itself and `protocol.sessions` agree, for the smallest and the largest salt."""
    op, tid = setup
    expected = session_id_for(alice.address, salt)
    assert h.vpn.session_id(alice.address, salt) == expected < 2**SESSION_ID_BITS
    with h.as_(alice):
        assert h.vpn.open_session(tid, op.address, SESSION_DEPOSIT, PRICE, salt) == expected
    assert h.event("SessionOpened").session_id == expected
    assert h.vpn.get_session(expected).opener == alice.address


def test_a_salt_above_uint64_is_refused_before_anything_is_sent(h, setup, alice):
    op, tid = setup
    with h.as_(alice), pytest.raises(Exception, match="uint64|out of bounds|2\\*\\*64"):
        h.vpn.open_session(tid, op.address, SESSION_DEPOSIT, PRICE, 2**64)
    with pytest.raises(ValueError, match="salt must fit in uint64"):
        session_id_for(alice.address, 2**64)


def test_an_id_in_use_is_refused_and_locks_nothing(h, setup, alice):
    """The same opener and salt make the same id: a second open (a replayed salt, or a session already settled
    under it) reverts and takes nothing from the treasury."""
    op, tid = setup
    with h.as_(alice):
        sid = h.vpn.open_session(tid, op.address, SESSION_DEPOSIT, PRICE, 7)
    with h.as_(op.account):
        h.vpn.settle_with_receipt(sid, 1, 0, h.receipt_sig(alice, sid, 1, 0))
    treasury = h.vpn.get_tailnet(tid).treasury
    with h.as_(alice), boa.reverts("session id in use: open with another salt"):
        h.vpn.open_session(tid, op.address, SESSION_DEPOSIT, PRICE, 7)
    assert h.vpn.get_tailnet(tid).treasury == treasury


def test_another_opener_with_the_same_salt_gets_another_id(h, setup, alice, bob):
    op, tid = setup
    with h.as_(alice):
        h.vpn.add_member(tid, bob.address)
        first = h.vpn.open_session(tid, op.address, SESSION_DEPOSIT, PRICE, 7)
    with h.as_(bob):
        second = h.vpn.open_session(tid, op.address, SESSION_DEPOSIT, PRICE, 7)
    assert first != second
