"""Compiled contracts for the tests (compiled once per test process)."""

import warnings
from functools import cache
from pathlib import Path

import boa
from boa.contracts.event_decoder import RawLogEntry

from octravpn.chain.build import merged_abi

REPO = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).with_name("helpers")


@cache
def vpn_deployer():
    return boa.load_partial(str(REPO / "contracts" / "OctraVPN.vy"))


@cache
def extension_deployer():
    return boa.load_partial(str(REPO / "contracts" / "OctraVPNExtension.vy"))


@cache
def governance_deployer():
    return boa.load_partial(str(REPO / "contracts" / "OctraVPNGovernance.vy"))


class VPN:
    """OctraVPN as clients see it: one address answering to all three parts' ABIs.

    Functions OctraVPN defines run on its own contract object; the rest are
    called through an extension's ABI at OctraVPN's address, which forwards
    them by delegatecall (to the extension, and on to the governance extension)."""

    def __init__(self, main):
        self.main = main
        with warnings.catch_warnings():
            # boa notes that the code at the address is OctraVPN's, not an extension's: that is the point.
            warnings.simplefilter("ignore", UserWarning)
            self.parts = [main, extension_deployer().at(main.address), governance_deployer().at(main.address)]
        self.address = main.address
        self.abi = merged_abi(*(part.abi for part in self.parts))  # what the shipped artifact holds

        self._last_called = main

    def __getattr__(self, name):
        target = next((part for part in self.parts if hasattr(part, name)), self.parts[-1])
        attribute = getattr(target, name)
        return _Tracked(self, target, attribute) if callable(attribute) else attribute

    def get_logs(self):
        """The events of the last call, each decoded by whichever part declares it."""
        computation = self._last_called._computation
        entries = sorted(self._last_called._get_logs(computation, True))
        decoded = []
        for entry in (RawLogEntry(*raw) for raw in entries):
            if entry.address != self.main._address.canonical_address:
                continue
            for part in self.parts:
                try:
                    decoded.append(part.decode_log(entry))
                    break
                except Exception:  # noqa: BLE001 - not this part's event: try the next
                    continue
        return decoded


class _Tracked:
    """A contract function that remembers, when called, which half ran it (for `get_logs`)."""

    def __init__(self, vpn: VPN, target, function):
        self._vpn, self._target, self._function = vpn, target, function

    def __call__(self, *args, **kwargs):
        self._vpn._last_called = self._target
        return self._function(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._function, name)


def deploy_vpn(asset, *args) -> VPN:
    blueprints = (extension_deployer().deploy_as_blueprint(), governance_deployer().deploy_as_blueprint())
    return VPN(vpn_deployer().deploy(*(b.address for b in blueprints), asset, *args))


@cache
def token_deployer():
    return boa.load_partial(str(HELPERS / "MockERC20.vy"))


@cache
def reentrant_deployer():
    return boa.load_partial(str(HELPERS / "Reentrant.vy"))
