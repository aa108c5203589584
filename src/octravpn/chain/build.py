"""Compile `contracts/OctraVPN.vy` and its two extensions into the committed artifact.

Run with `make artifacts` after changing a contract. The artifact records the
compiler version and a hash of every source file, so a test can tell when it
is stale.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from octravpn.chain.artifacts import ARTIFACT_PATH

REPO_ROOT = Path(__file__).resolve().parents[3]
CONTRACTS_DIR = REPO_ROOT / "contracts"
MAIN_CONTRACT = CONTRACTS_DIR / "OctraVPN.vy"
EXTENSION_CONTRACT = CONTRACTS_DIR / "OctraVPNExtension.vy"
GOVERNANCE_CONTRACT = CONTRACTS_DIR / "OctraVPNGovernance.vy"
DEVNET_TOKEN = CONTRACTS_DIR / "devnet" / "DevnetDollar.vy"


def source_hashes() -> dict[str, str]:
    """sha256 of every deployable source file, keyed by its path under contracts/."""
    return {
        str(path.relative_to(CONTRACTS_DIR)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(CONTRACTS_DIR.rglob("*.vy"))
        if "test_helpers" not in path.parts
    }


def compile_contract() -> dict:
    import vyper
    from vyper.cli.vyper_compile import compile_files

    def compile_one(path: Path, formats: tuple[str, ...]) -> dict:
        (result,) = compile_files([str(path)], formats, paths=[str(CONTRACTS_DIR)]).values()
        return result

    main = compile_one(MAIN_CONTRACT, ("abi", "bytecode", "bytecode_runtime"))
    extension = compile_one(EXTENSION_CONTRACT, ("abi", "blueprint_bytecode", "bytecode_runtime"))
    governance = compile_one(GOVERNANCE_CONTRACT, ("abi", "blueprint_bytecode", "bytecode_runtime"))
    token = compile_one(DEVNET_TOKEN, ("abi", "bytecode"))
    return {
        "contract": "OctraVPN",
        "compiler": f"vyper {vyper.__long_version__}",
        "sources": source_hashes(),
        "abi": merged_abi(main["abi"], extension["abi"], governance["abi"]),
        "bytecode": main["bytecode"],
        "bytecode_runtime": main["bytecode_runtime"],
        "extension_blueprint": extension["blueprint_bytecode"],
        "extension_runtime": extension["bytecode_runtime"],
        "governance_blueprint": governance["blueprint_bytecode"],
        "governance_runtime": governance["bytecode_runtime"],
        "devnet_token": {"abi": token["abi"], "bytecode": token["bytecode"]},
    }


def merged_abi(main: list, *extensions: list) -> list:
    """One ABI for the one address clients talk to: OctraVPN's own entries, then
    every function and event of the extensions it forwards to, in turn."""
    merged = list(main)
    for extension in extensions:
        seen = {(item["type"], item.get("name")) for item in merged}
        merged += [
            item
            for item in extension
            if item["type"] in ("function", "event") and (item["type"], item["name"]) not in seen
        ]
    return merged


def main() -> int:
    artifact = compile_contract()
    ARTIFACT_PATH.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
    sizes = [(len(artifact[key]) - 2) // 2 for key in ("bytecode_runtime", "extension_runtime", "governance_runtime")]
    print(
        f"wrote {ARTIFACT_PATH} (runtime bytecode: OctraVPN {sizes[0]} bytes, extension {sizes[1]} bytes, "
        f"governance extension {sizes[2]} bytes)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
