"""Deploying OctraVPN to any EVM JSON-RPC node."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from octravpn.chain.artifacts import load

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


def deploy(w3: Web3, deployer: LocalAccount, params: DeployParams, *, timeout: float = 120.0) -> Contract:
    """Deploy with `deployer` (who becomes governance owner); returns the contract.

    Two transactions: the extension's blueprint (EIP-5202), then OctraVPN, which creates the extension from it."""
    artifact = load()

    def create(abi: list, bytecode: str, *args) -> str:
        tx = w3.eth.contract(abi=abi, bytecode=bytecode).constructor(*args).build_transaction(
            {"from": deployer.address, "nonce": w3.eth.get_transaction_count(deployer.address, "pending")}
        )
        tx_hash = w3.eth.send_raw_transaction(deployer.sign_transaction(tx).raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
        if receipt["status"] != 1:
            raise RuntimeError(f"deployment transaction {tx_hash.to_0x_hex()} reverted")
        return receipt["contractAddress"]

    blueprint = create([], artifact.extension_blueprint)
    address = create(artifact.abi, artifact.bytecode, blueprint, *params.constructor_args())
    return w3.eth.contract(address=address, abi=artifact.abi)
