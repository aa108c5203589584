"""What every command needs: configuration, wallet, passphrase, client, output."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from octravpn import config as config_module
from octravpn.addresses import looks_like_address, parse_address
from octravpn.cli.output import Output
from octravpn.config import Config, Network
from octravpn.errors import UsageError, WalletError
from octravpn.units import amount_record, format_duration, parse_amount
from octravpn.wallet import Keystore

if TYPE_CHECKING:  # the chain client (web3) is loaded by the commands that use the chain, when they do
    from eth_account.signers.local import LocalAccount

    from octravpn.chain.client import OctraVPN


@dataclass
class AppContext:
    config_path: Path | None = None
    network_name: str | None = None
    wallet_name: str | None = None
    password_file: Path | None = None
    as_json: bool = False
    timeout: float = 120.0
    rpc_timeout: float = 30.0  # one RPC request
    rpc_retries: bool = True  # web3's own retries of a failed read
    _config: Config | None = field(default=None, repr=False)
    _client: OctraVPN | None = field(default=None, repr=False)

    # ----------------------------------------------------------- config
    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = config_module.load(self.config_path)
        return self._config

    def save_config(self, new: Config) -> None:
        new.save()
        self._config = new

    @property
    def out(self) -> Output:
        return Output(self.as_json)

    @property
    def keystore(self) -> Keystore:
        return Keystore(self.config.keystore_dir)

    def network(self) -> Network:
        return self.config.network(self.network_name)

    def confirm(self, question: str, *, yes: bool) -> None:
        """Ask before an action that cannot be undone; `--yes` answers for scripts. Without a terminal
        and without `--yes` nothing is done."""
        if yes:
            return
        if not sys.stdin.isatty():
            raise UsageError(f"{question.split('?')[0]}? This cannot be undone: pass --yes to confirm")
        if not typer.confirm(question, default=False):
            raise UsageError("not confirmed: nothing was done")

    # ---------------------------------------------------------- wallets
    def wallet(self, name: str | None = None) -> str:
        name = name or self.wallet_name or self.config.selected_wallet
        if not name:
            raise WalletError("no wallet selected: pass --wallet NAME or set OCTRAVPN_WALLET")
        return name

    def password(self, *, confirm: bool = False, purpose: str = "wallet") -> str:
        """From --password-file, then OCTRAVPN_PASSWORD, then a prompt on a terminal."""
        if self.password_file is not None:
            try:
                return self.password_file.read_text().rstrip("\n")
            except OSError as exc:
                raise WalletError(f"cannot read password file {self.password_file}: {exc.strerror}") from exc
        if os.environ.get("OCTRAVPN_PASSWORD"):
            return os.environ["OCTRAVPN_PASSWORD"]
        if not sys.stdin.isatty():
            raise WalletError(
                "no passphrase: use --password-file FILE or set OCTRAVPN_PASSWORD (no terminal to prompt on)"
            )
        return typer.prompt(f"Passphrase for {purpose}", hide_input=True, confirmation_prompt=confirm)

    def account(self, name: str | None = None) -> LocalAccount:
        name = self.wallet(name)
        self.keystore.info(name)  # unknown wallet: fail before asking for a passphrase
        return self.keystore.unlock(name, self.password(purpose=f"wallet {name!r}"))

    def address_of(self, who: str, *, what: str = "address") -> str:
        """An address given as 0x… (its checksum checked) or as the name of a local wallet."""
        if looks_like_address(who):
            return parse_address(who, what=what)
        try:
            return self.keystore.info(who).address
        except (WalletError, config_module.ConfigError) as exc:
            raise UsageError(f"{who!r} is neither an address nor a local wallet") from exc

    # ----------------------------------------------------------- chain
    def client(self, *, signer: bool = True) -> OctraVPN:
        from octravpn.chain.client import OctraVPN, open_client
        from octravpn.chain.transactions import TransactionManager

        if self._client is None:
            account = self.account() if signer else None
            self._client = open_client(
                self.network(),
                account,
                timeout=self.timeout,
                rpc_timeout=self.rpc_timeout,
                rpc_retries=self.rpc_retries,
            )
        elif signer and self._client.sender is None:
            # Read first, sign later: keep the checked connection, add the signer.
            w3 = self._client.w3
            self._client = OctraVPN(
                w3, self._client.address, TransactionManager(w3, self.account(), timeout=self.timeout)
            )
        return self._client

    def short_rpc(self, rpc_timeout: float) -> None:
        """Short RPC requests and no hidden retries (agents, and `down`), so an unreachable chain
        is noticed (and said) within `rpc_timeout` instead of being waited out. Call before `client()`."""
        self.rpc_timeout, self.rpc_retries = rpc_timeout, False

    def amount(self, text: str, *, what: str = "amount", allow_zero: bool = False) -> int:
        return parse_amount(text, self.client(signer=False).asset_decimals(), what=what, allow_zero=allow_zero)

    def show_amount(self, base_units: int) -> dict:
        """An amount of the payment asset, in the one shape every command prints."""
        client = self.client(signer=False)
        return amount_record(base_units, client.asset_decimals(), client.asset_symbol())


def when(client, deadline: int) -> str:
    """When a deadline comes, for people: `2026-12-03 14:05 UTC (in 3h 20m)`. Every deadline (sessions, unbonds,
    held bounties, the governance timelock) runs on the contract's clock, which stands still while it is paused."""
    import datetime

    latest = client.w3.eth.get_block("latest")["timestamp"]
    left = deadline - client.clock()
    if left <= 0:
        return "now"
    if client.paused():
        return f"{format_duration(left)} after the contract is unpaused (its clock stands still while paused)"
    at = datetime.datetime.fromtimestamp(latest + left, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"at {at} (in {format_duration(left)})"


def send_after_wait(client, send, deadline):
    """`send()`, a transaction that waits for a deadline; refused because the wait is not over, the error says
    when it will be: `grace not elapsed: possible at … (in 3h)`. `deadline()` is read only then."""
    from octravpn.chain.errors import ContractRevert

    try:
        return send()
    except ContractRevert as exc:
        if not exc.reason.endswith("not elapsed"):
            raise
        raise ContractRevert(exc.function, f"{exc.reason}: possible {when(client, deadline())}") from None


def tx_summary(result) -> dict:
    return {"tx": result.tx_hash, "block": result.block_number, "gas_used": result.gas_used}


def get(ctx: typer.Context) -> AppContext:
    return ctx.ensure_object(AppContext)
