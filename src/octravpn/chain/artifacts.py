"""The compiled OctraVPN contract (and the two extensions it delegates to) shipped with the package."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ARTIFACT_PATH = Path(__file__).with_name("artifacts") / "OctraVPN.json"
EIP170_LIMIT = 24_576


@dataclass(frozen=True, kw_only=True)
class Artifact:
    abi: list
    bytecode: str
    bytecode_runtime: str
    extension_blueprint: str
    extension_runtime: str
    governance_blueprint: str
    governance_runtime: str
    compiler: str
    sources: dict
    devnet_token: dict  # the ERC-20 `devnet up --erc20` pays in: its abi and bytecode

    @property
    def runtime_size(self) -> int:
        return (len(self.bytecode_runtime) - 2) // 2

    @property
    def extension_runtime_size(self) -> int:
        return (len(self.extension_runtime) - 2) // 2

    @property
    def extension_blueprint_size(self) -> int:
        """The code of the blueprint contract: the extension's whole initcode (constructor and runtime) behind
        the EIP-5202 preamble. It is what EIP-170 limits for the extension, and it is larger than the runtime."""
        return blueprint_size(self.extension_blueprint)

    @property
    def governance_runtime_size(self) -> int:
        return (len(self.governance_runtime) - 2) // 2

    @property
    def governance_blueprint_size(self) -> int:
        return blueprint_size(self.governance_blueprint)


def blueprint_size(bytecode: str) -> int:
    """The size of the contract a blueprint's deploy bytecode creates. The compiler writes `PUSH2 size` first,
    then nine bytes that return the code behind them."""
    code = bytes.fromhex(bytecode[2:])
    size = int.from_bytes(code[1:3], "big")
    if code[0] != 0x61 or size != len(code) - 10:
        raise ValueError("a blueprint's bytecode does not start as the compiler writes it")
    return size


@cache
def load() -> Artifact:
    """The committed artifact (raise `FileNotFoundError` with a fix if missing)."""
    try:
        data = json.loads(ARTIFACT_PATH.read_text())
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{ARTIFACT_PATH} is missing: run `make artifacts` to compile the contract") from exc
    return Artifact(
        abi=data["abi"],
        bytecode=data["bytecode"],
        bytecode_runtime=data["bytecode_runtime"],
        extension_blueprint=data["extension_blueprint"],
        extension_runtime=data["extension_runtime"],
        governance_blueprint=data["governance_blueprint"],
        governance_runtime=data["governance_runtime"],
        compiler=data["compiler"],
        sources=data["sources"],
        devnet_token=data["devnet_token"],
    )
