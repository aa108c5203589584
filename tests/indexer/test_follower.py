"""The indexer follows a real anvil chain into SQLite and PostgreSQL: exact rows, restarts, confirmations, reorgs."""

import pytest
from sqlalchemy import func, select

from octravpn.chain.client import open_client
from octravpn.chain.events import EventDecoder
from octravpn.indexer import schema
from octravpn.indexer.database import DatabaseError
from octravpn.indexer.follower import Follower, FollowSettings, ReorgTooDeep, read_checkpoint
from tests.indexer.conftest import follow_to_head
from tests.indexer.history import ETHER, compare_with_chain


def _addresses(accounts, history):
    return [a.address for a in accounts] + [k.address for k in history.receipt_keys.values()]


def _event_count(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(schema.events)).scalar_one()


def _chain_events(rpc, network) -> list[tuple[int, int]]:
    decoder = EventDecoder()
    logs = rpc.logs(network.contract, 0, rpc.block_number())
    return sorted(e.position for e in (decoder.decode(raw) for raw in logs) if e is not None)


def _snapshot(vpn):
    return vpn.w3.provider.make_request("evm_snapshot", [])["result"]


def _revert(vpn, snapshot) -> None:
    assert vpn.w3.provider.make_request("evm_revert", [snapshot])["result"] is True


def test_rows_equal_the_contracts_views_after_a_full_history(
    history, make_follower, engine, vpn, accounts, rpc, network
):
    follower = make_follower(batch_blocks=7)
    follow_to_head(follower)
    compared = compare_with_chain(engine, vpn, _addresses(accounts, history))
    assert compared == {"operators": 4, "tailnets": 2, "sessions": 10}
    with engine.connect() as connection:
        stored = sorted(connection.execute(select(schema.events.c.block_number, schema.events.c.log_index)).all())
        reasons = dict(connection.execute(select(schema.sessions.c.id, schema.sessions.c.close_reason)).all())
    assert [tuple(r) for r in stored] == _chain_events(rpc, network)
    opened = vpn.opened_sessions()  # the nth session opened
    assert reasons == {
        opened[0]: "receipt",
        opened[1]: "confirmed",
        opened[2]: "receipt",
        opened[3]: "operator-equivocation",
        opened[4]: None,
        opened[5]: None,  # paid while open
        opened[6]: "no-show",
        opened[7]: "swept",
        opened[8]: "no-show",  # after a checkpoint
        opened[9]: None,
    }
    checkpoint = read_checkpoint(engine)
    assert checkpoint.block_number == rpc.block_number() and checkpoint.start_block > 0


def test_restart_resumes_at_the_checkpoint_without_duplicates(
    history, make_follower, engine, vpn, accounts, rpc, network
):
    first = make_follower(batch_blocks=5)
    for _ in range(4):
        first.step()
    halfway = read_checkpoint(engine).block_number
    assert 0 < _event_count(engine) < len(_chain_events(rpc, network))
    # A new process: a new follower on the same database carries on from the checkpoint.
    second = make_follower(batch_blocks=1000)
    assert second.initialize().block_number == halfway
    follow_to_head(second)
    follow_to_head(second)
    assert _event_count(engine) == len(_chain_events(rpc, network))
    compare_with_chain(engine, vpn, _addresses(accounts, history))


def test_confirmations_hold_back_the_newest_blocks(history, make_follower, engine, vpn, network, accounts):
    follower = make_follower(confirmations=2)
    alice = open_client(network, accounts[4])
    deposit = alice.deposit_to_tailnet(0, ETHER // 1000)
    follow_to_head(follower)
    assert read_checkpoint(engine).block_number == deposit.block_number - 2
    with engine.connect() as connection:
        assert (
            connection.execute(
                select(schema.events).where(schema.events.c.block_number == deposit.block_number)
            ).first()
            is None
        )
    for _ in range(2):
        vpn.w3.provider.make_request("evm_mine", [])
    follow_to_head(follower)
    with engine.connect() as connection:
        names = connection.execute(
            select(schema.events.c.name).where(schema.events.c.block_number == deposit.block_number)
        ).scalars()
        assert list(names) == ["TailnetDeposit"]
    compare_with_chain(engine, vpn, _addresses(accounts, history))


def test_reorg_drops_rows_of_the_abandoned_blocks(history, make_follower, engine, vpn, network, accounts):
    follower = make_follower()
    follow_to_head(follower)
    before_fork = read_checkpoint(engine).block_number
    snapshot = _snapshot(vpn)
    alice = open_client(network, accounts[4])
    doomed_session, _ = alice.open_session(0, accounts[1].address, ETHER // 100)
    alice.add_member(0, accounts[9].address)
    follow_to_head(follower)
    with engine.connect() as connection:
        assert (
            connection.execute(select(schema.sessions).where(schema.sessions.c.id == doomed_session)).first()
            is not None
        )
    _revert(vpn, snapshot)
    # The other branch: different transactions, one block longer.
    alice.deposit_to_tailnet(0, ETHER // 1000)  # (the history paused once: a second pause waits out a cool-down)
    alice.deposit_to_tailnet(0, ETHER // 2000)
    alice.deposit_to_tailnet(0, ETHER // 4000)
    result = follower.step()
    assert result.rolled_back_to == before_fork  # the newest stored block still on the chain
    follow_to_head(follower)
    with engine.connect() as connection:
        assert connection.execute(select(schema.sessions).where(schema.sessions.c.id == doomed_session)).first() is None
        assert (
            connection.execute(
                select(schema.events).where(
                    schema.events.c.name == "TailnetMemberAdded", schema.events.c.block_number > before_fork
                )
            ).first()
            is None
        )
        assert not connection.execute(
            select(schema.journal).where(schema.journal.c.block_number > rpc_head(vpn))
        ).first()
    assert _event_count(engine) == len(_chain_events(follower.rpc, network))
    compare_with_chain(engine, vpn, _addresses(accounts, history))


def rpc_head(vpn) -> int:
    return vpn.w3.eth.block_number


def test_a_reorg_deeper_than_the_window_is_refused_with_the_fix(history, make_follower, engine, vpn, network, accounts):
    follower = make_follower(reorg_depth=2)
    follow_to_head(follower)
    snapshot = _snapshot(vpn)
    alice = open_client(network, accounts[4])
    for _ in range(4):
        alice.deposit_to_tailnet(0, ETHER // 1000)
    follow_to_head(follower)
    _revert(vpn, snapshot)
    for _ in range(5):
        vpn.w3.provider.make_request("evm_mine", [])
    with pytest.raises(ReorgTooDeep, match="--reset"):
        follower.step()


def test_a_database_of_another_contract_is_refused(history, engine, rpc, network):
    Follower(engine, rpc, contract=network.contract, chain_id=network.chain_id).initialize()
    other = Follower(engine, rpc, contract="0x" + "11" * 20, chain_id=network.chain_id)
    with pytest.raises(DatabaseError, match="this database indexes contract .* use another --db, or --reset"):
        other.initialize()


def test_start_block_after_the_deployment_is_refused(history, engine, rpc, network):
    deployed = Follower(engine, rpc, contract=network.contract, chain_id=network.chain_id).deployment_block()
    late = Follower(
        engine,
        rpc,
        contract=network.contract,
        chain_id=network.chain_id,
        start_block=deployed + 1,
        settings=FollowSettings(),
    )
    with pytest.raises(Exception, match=f"existed before block {deployed + 1}.*deployment block \\({deployed}\\)"):
        late.initialize()
