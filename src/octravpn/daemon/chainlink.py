"""The daemon's one chain client: opened when first needed (the daemon starts, and answers, without a chain),
shared by the connection, the chain loop and the mesh; and the one lock that keeps the device key's
transactions one at a time (their nonces)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from eth_account.signers.local import LocalAccount

from octravpn.chain.client import OctraVPN
from octravpn.client.connect import Connector
from octravpn.units import parse_amount


class ChainLink:
    def __init__(self, open_chain: Callable[[], OctraVPN], account: LocalAccount, clock: Callable[[], float]) -> None:
        self._open = open_chain
        self.account = account
        self.clock = clock
        self._client: OctraVPN | None = None
        self._connector: Connector | None = None
        self.asset: tuple[int, str] | None = None  # (decimals, symbol) once the chain answered
        self.opening = threading.Lock()
        self.transactions = threading.Lock()  # one transaction of this key at a time

    def client(self) -> OctraVPN:
        """The chain client (raises a `ChainError` while the chain cannot be reached)."""
        with self.opening:
            if self._client is None:
                self._client = self._open()
            return self._client

    def connector(self) -> Connector:
        """The client with the device's key, and the asset's decimals and symbol learnt."""
        client = self.client()
        with self.opening:
            self._learn_asset(client)
            if self._connector is None:
                self._connector = Connector(client=client, account=self.account, clock=self.clock)
            return self._connector

    def _learn_asset(self, client: OctraVPN) -> tuple[int, str]:
        if self.asset is None:
            self.asset = (client.asset_decimals(), client.asset_symbol())
        return self.asset

    def amount(self, text: str | None, what: str) -> int | None:
        """An amount of the payment asset as a person wrote it, in base units."""
        if text is None:
            return None
        client = self.client()
        with self.opening:
            decimals = self._learn_asset(client)[0]
        return parse_amount(text, decimals, what=what)
