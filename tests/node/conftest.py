import pytest

from tests.node.test_handshake_api import exit_api


@pytest.fixture
def setup(tmp_path):
    """The exit's handshake API on a fake host and chain: the test client, the host, the chain and the store."""
    client, runner, chain, store = exit_api(tmp_path)
    yield client, runner, chain, store
    store.close()
