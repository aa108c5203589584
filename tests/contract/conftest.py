import boa
import pytest

from tests.contract.harness import Harness, actor


@pytest.fixture(autouse=True)
def _isolated_chain():
    # Every test starts from the same empty chain and leaves nothing behind.
    with boa.env.anchor():
        yield


@pytest.fixture(params=["native", "erc20"])
def h(request) -> Harness:
    """The contract on both kinds of payment asset."""
    return Harness(request.param)


@pytest.fixture
def hn() -> Harness:
    """The contract on the native coin, for tests where the asset is irrelevant."""
    return Harness("native")


@pytest.fixture
def owner(hn):
    return hn.owner


@pytest.fixture
def alice():
    return actor("alice")


@pytest.fixture
def bob():
    return actor("bob")


@pytest.fixture
def carol():
    return actor("carol")
