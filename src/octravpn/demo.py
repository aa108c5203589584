"""`make demo`: start a local anvil devnet and deploy OctraVPN on it.

Prints the contract address, its payment asset, the EIP-712 domain and every
protocol parameter read back from the chain, then stops the node.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from eth_account import Account
from web3 import Web3

from octravpn.chain.artifacts import EIP170_LIMIT, load
from octravpn.chain.deploy import NATIVE_ASSET, DeployParams, deploy
from octravpn.chain.devnet import Anvil, DevnetError, dev_private_key

_PARAM_NAMES = (
    "min_session_deposit",
    "min_tailnet_deposit",
    "session_grace",
    "sweep_grace_multiplier",
    "sweep_bounty_bps",
    "min_endpoint_stake",
    "unbond_grace",
    "slash_burn_bps",
    "slash_bounty_bps",
    "protocol_fee_bps",
)


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="octravpn-demo-") as tmp:
        with Anvil(state_path=Path(tmp) / "state.json") as node:
            print(f"devnet   anvil at {node.rpc_url} (chain id {node.chain_id})")
            w3 = Web3(Web3.HTTPProvider(node.rpc_url))
            owner = Account.from_key(dev_private_key(0))
            contract = deploy(w3, owner, DeployParams())
            artifact = load()
            print(f"contract OctraVPN at {contract.address}")
            print(f"         {artifact.compiler}, runtime bytecode {artifact.runtime_size} bytes (EIP-170 limit {EIP170_LIMIT})")
            asset = contract.functions.asset().call()
            print(f"asset    {'native coin' if asset == NATIVE_ASSET else asset}")
            print(f"owner    {contract.functions.owner().call()}")
            print(f"domain   EIP-712 OctraVPN v1, separator 0x{contract.functions.DOMAIN_SEPARATOR().call().hex()}")
            params = contract.functions.get_params().call()
            for name, value in zip(_PARAM_NAMES, params, strict=True):
                print(f"param    {name:<24} {value}")


def main() -> int:
    try:
        run()
    except DevnetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
