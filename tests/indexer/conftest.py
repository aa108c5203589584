import pytest
from eth_account import Account
from sqlalchemy import Engine
from web3 import Web3

from octravpn.chain.client import OctraVPN
from octravpn.chain.deploy import DeployParams, deploy
from octravpn.chain.devnet import dev_private_key
from octravpn.config import Network
from octravpn.indexer.database import migrate, open_engine
from octravpn.indexer.follower import Follower, FollowSettings
from octravpn.indexer.rpc import JsonRpc
from tests.indexer.history import History
from tests.indexer.postgres import ThrowawayCluster


@pytest.fixture(scope="session")
def postgres():
    with ThrowawayCluster() as cluster:
        yield cluster


def new_database(request, kind: str, directory) -> Engine:
    """A migrated, empty indexer database: a SQLite file in `directory`, or a fresh PostgreSQL database."""
    url = (
        f"sqlite:///{directory / 'index.sqlite3'}"
        if kind == "sqlite"
        else request.getfixturevalue("postgres").new_database()
    )
    engine = open_engine(url)
    migrate(engine)
    return engine


def index_chain(engine: Engine, network: Network) -> None:
    """Index the network's contract up to the head."""
    rpc = JsonRpc(network.rpc_url)
    try:
        follow_to_head(Follower(engine, rpc, contract=network.contract, chain_id=network.chain_id))
    finally:
        rpc.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    engine = new_database(request, request.param, tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def accounts():
    return [Account.from_key(dev_private_key(i)) for i in range(10)]


@pytest.fixture(scope="module")
def network(anvil, accounts) -> Network:
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
    contract = deploy(w3, accounts[0], DeployParams())
    return Network(name="devnet", rpc_url=anvil.rpc_url, chain_id=31337, contract=contract.address)


@pytest.fixture(scope="module")
def history(network, accounts) -> History:
    built = History(network, accounts)
    built.build()
    return built


@pytest.fixture(scope="module")
def vpn(network) -> OctraVPN:
    return OctraVPN(Web3(Web3.HTTPProvider(network.rpc_url)), network.contract)


@pytest.fixture
def rpc(network):
    client = JsonRpc(network.rpc_url)
    yield client
    client.close()


@pytest.fixture
def make_follower(engine, rpc, network):
    def make(**settings) -> Follower:
        return Follower(
            engine, rpc, contract=network.contract, chain_id=network.chain_id, settings=FollowSettings(**settings)
        )

    return make


def follow_to_head(follower: Follower, limit: int = 1000) -> None:
    """Step until caught up (bounded)."""
    for _ in range(limit):
        if follower.step().caught_up:
            return
    raise AssertionError(f"not caught up after {limit} steps")
