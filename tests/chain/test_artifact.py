"""The committed artifact is what the sources compile to, and it fits on mainnet."""

import vyper

from octravpn.chain.artifacts import EIP170_LIMIT, load
from octravpn.chain.build import compile_contract, source_hashes


def test_artifact_is_up_to_date_with_the_sources():
    artifact = load()
    assert artifact.sources == source_hashes(), "contracts changed: run `make artifacts`"
    assert artifact.compiler == f"vyper {vyper.__long_version__}"
    fresh = compile_contract()
    assert fresh["bytecode"] == artifact.bytecode
    assert fresh["abi"] == artifact.abi


def test_runtime_bytecode_fits_eip170():
    assert 0 < load().runtime_size <= EIP170_LIMIT
