"""Compile `contracts/OctraVPN.vy` into the committed artifact.

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

    output = compile_files(
        [str(MAIN_CONTRACT)], ("abi", "bytecode", "bytecode_runtime"), paths=[str(CONTRACTS_DIR)]
    )
    (result,) = output.values()
    return {
        "contract": "OctraVPN",
        "compiler": f"vyper {vyper.__long_version__}",
        "sources": source_hashes(),
        "abi": result["abi"],
        "bytecode": result["bytecode"],
        "bytecode_runtime": result["bytecode_runtime"],
    }


def main() -> int:
    artifact = compile_contract()
    ARTIFACT_PATH.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
    size = (len(artifact["bytecode_runtime"]) - 2) // 2
    print(f"wrote {ARTIFACT_PATH} (runtime bytecode {size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
