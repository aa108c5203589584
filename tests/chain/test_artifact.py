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


def test_extension_fits_eip170_and_is_current():
    artifact = load()
    assert 0 < artifact.extension_runtime_size <= EIP170_LIMIT
    assert compile_contract()["extension_blueprint"] == artifact.extension_blueprint


def test_both_halves_have_the_same_storage_layout():
    """The extension runs by delegatecall in OctraVPN's storage: every slot must mean the same in both."""
    from vyper.cli.vyper_compile import compile_files

    from octravpn.chain.build import CONTRACTS_DIR, EXTENSION_CONTRACT, MAIN_CONTRACT

    layouts = [
        next(iter(compile_files([str(path)], ("layout",), paths=[str(CONTRACTS_DIR)]).values()))["layout"]
        for path in (MAIN_CONTRACT, EXTENSION_CONTRACT)
    ]
    main, extension = (
        {key: layout[key] for key in ("storage_layout", "transient_storage_layout")} for layout in layouts
    )
    assert main["storage_layout"] and main == extension
