"""Deploying OctraVPN to any EVM JSON-RPC node."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from octravpn.chain.artifacts import load
from octravpn.chain.transactions import Sent, TransactionManager

NATIVE_ASSET = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True, kw_only=True)
class DeployParams:
    """Constructor arguments. Amounts are base units of the payment asset.

    The defaults suit an 18-decimal native coin (e.g. ETH on a devnet).
    """

    asset: str = NATIVE_ASSET
    min_session_deposit: int = 10**15  # 0.001
    min_tailnet_deposit: int = 10**16  # 0.01
    session_grace: int = 86_400  # seconds an exit has to settle
    min_endpoint_stake: int = 10**18  # 1.0

    def __post_init__(self) -> None:
        for name in ("min_session_deposit", "min_tailnet_deposit", "session_grace", "min_endpoint_stake"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if not Web3.is_address(self.asset):
            raise ValueError(f"asset must be an address (the zero address for the native coin), got {self.asset!r}")

    def constructor_args(self) -> tuple:
        values = asdict(self)
        return (Web3.to_checksum_address(values.pop("asset")), *values.values())


@dataclass(frozen=True)
class Deployment:
    contract: Contract
    transactions: list[Sent]  # the extensions' blueprints, then OctraVPN


def deploy_contracts(w3: Web3, deployer: LocalAccount, params: DeployParams, *, timeout: float = 120.0) -> Deployment:
    """Deploy with `deployer` (who becomes governance owner): the two extensions' blueprints (EIP-5202), then
    OctraVPN, which creates the extensions from them. Failures are `ChainError`s, as for every transaction."""
    artifact = load()
    sender = TransactionManager(w3, deployer, timeout=timeout)
    blueprints = [
        sender.send(w3.eth.contract(abi=[], bytecode=code).constructor())
        for code in (artifact.extension_blueprint, artifact.governance_blueprint)
    ]
    core = sender.send(
        w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode).constructor(
            *(blueprint.receipt["contractAddress"] for blueprint in blueprints), *params.constructor_args()
        )
    )
    contract = w3.eth.contract(address=core.receipt["contractAddress"], abi=artifact.abi)
    return Deployment(contract=contract, transactions=[*blueprints, core])


def deploy(w3: Web3, deployer: LocalAccount, params: DeployParams, *, timeout: float = 120.0) -> Contract:
    """Deploy OctraVPN (see `deploy_contracts`); the contract."""
    return deploy_contracts(w3, deployer, params, timeout=timeout).contract


# What `devnet up --erc20` mints to each devnet wallet, in base units (18 decimals).
DEVNET_TOKEN_FUNDING = 1_000_000 * 10**18


def deploy_devnet_token(w3: Web3, deployer: LocalAccount, holders: list[str], *, timeout: float = 120.0) -> str:
    """Deploy a Devnet Dollar (an 18-decimal ERC-20 only its deployer mints) and mint `DEVNET_TOKEN_FUNDING` to
    each of `holders`; its address. For local devnets only."""
    token = load().devnet_token
    sender = TransactionManager(w3, deployer, timeout=timeout)
    address = sender.send(w3.eth.contract(abi=token["abi"], bytecode=token["bytecode"]).constructor()).receipt[
        "contractAddress"
    ]
    minter = w3.eth.contract(address=address, abi=token["abi"])
    for holder in holders:
        sender.send(minter.functions.mint(Web3.to_checksum_address(holder), DEVNET_TOKEN_FUNDING))
    return address
