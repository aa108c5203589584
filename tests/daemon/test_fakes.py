"""The fakes answer as the real client does: the type checker holds each method of `FakeChain` to the real
client's signature (`make lint` checks tests/daemon/fakes.py and tests/node/fakes.py); this checks the fake
invents no method the real client lacks, which a test could come to rely on."""

from octravpn.chain.client import OctraVPN
from octravpn.node.handshake import ChainView, ContractChainView
from tests.daemon.fakes import FakeChain
from tests.node.fakes import FakeChain as NodeFakeChain


def _methods(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items() if callable(value) and not name.startswith("_")}


def test_the_daemons_fake_chain_has_only_the_clients_methods_and_its_own_controls():
    assert _methods(FakeChain) - FakeChain.CONTROLS <= set(dir(OctraVPN))
    assert FakeChain.CONTROLS.isdisjoint(dir(OctraVPN))


def test_the_exits_fake_chain_is_exactly_the_view_the_handshake_reads():
    assert _methods(NodeFakeChain) == _methods(ChainView) <= _methods(ContractChainView)
