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


def extension_blueprint():
    return extension_deployer().deploy_as_blueprint()


class VPN:
    """OctraVPN as clients see it: one address answering to both halves' ABIs.

    Functions OctraVPN defines run on its own contract object; the rest are
    called through the extension's ABI at OctraVPN's address, which forwards
    them by delegatecall."""

    def __init__(self, main):
        self.main = main
        with warnings.catch_warnings():
            # boa notes that the code at the address is OctraVPN's, not the extension's: that is the point.
            warnings.simplefilter("ignore", UserWarning)
            self.forwarded = extension_deployer().at(main.address)
        self.address = main.address
        self.abi = merged_abi(main.abi, self.forwarded.abi)  # what the shipped artifact holds

        self._last_called = main

    def __getattr__(self, name):
        target = self.main if hasattr(self.main, name) else self.forwarded
        attribute = getattr(target, name)
        return _Tracked(self, target, attribute) if callable(attribute) else attribute

    def get_logs(self):
        """The events of the last call, each decoded by whichever half declares it."""
        computation = self._last_called._computation
        entries = sorted(self._last_called._get_logs(computation, True))
        decoded = []
        for entry in (RawLogEntry(*raw) for raw in entries):
            if entry.address != self.main._address.canonical_address:
                continue
            for half in (self.main, self.forwarded):
                try:
                    decoded.append(half.decode_log(entry))
                    break
                except Exception:  # noqa: BLE001 - not this half's event: try the other
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
    return VPN(vpn_deployer().deploy(extension_blueprint().address, asset, *args))


@cache
def token_deployer():
    return boa.load_partial(str(HELPERS / "MockERC20.vy"))


@cache
def reentrant_deployer():
    return boa.load_partial(str(HELPERS / "Reentrant.vy"))
