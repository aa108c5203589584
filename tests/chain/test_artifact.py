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


def test_the_extensions_fit_eip170_and_are_current():
    """An extension's limit is its blueprint's: its whole initcode is the code of the blueprint contract."""
    artifact = load()
    assert 0 < artifact.extension_runtime_size < artifact.extension_blueprint_size <= EIP170_LIMIT
    assert 0 < artifact.governance_runtime_size < artifact.governance_blueprint_size <= EIP170_LIMIT
    fresh = compile_contract()
    assert fresh["extension_blueprint"] == artifact.extension_blueprint
    assert fresh["governance_blueprint"] == artifact.governance_blueprint


def test_all_three_parts_have_the_same_storage_layout():
    """The extensions run by delegatecall in OctraVPN's storage: every slot must mean the same in all three."""
    from vyper.cli.vyper_compile import compile_files

    from octravpn.chain.build import CONTRACTS_DIR, EXTENSION_CONTRACT, GOVERNANCE_CONTRACT, MAIN_CONTRACT

    layouts = [
        next(iter(compile_files([str(path)], ("layout",), paths=[str(CONTRACTS_DIR)]).values()))["layout"]
        for path in (MAIN_CONTRACT, EXTENSION_CONTRACT, GOVERNANCE_CONTRACT)
    ]
    main, extension, governance = (
        {key: layout[key] for key in ("storage_layout", "transient_storage_layout")} for layout in layouts
    )
    assert main["storage_layout"] and main == extension == governance


def _call_graph() -> dict[str, set[str]]:
    """`module.function` -> the module functions its body calls (`self._x` and `other._x`), from the sources."""
    import re

    from octravpn.chain.build import CONTRACTS_DIR

    graph: dict[str, set[str]] = {}
    for path in (CONTRACTS_DIR / "modules").glob("*.vy"):
        module = path.stem
        for match in re.finditer(r"^def (\w+)\((.*?)(?=^@|^def |\Z)", path.read_text(), re.S | re.M):
            calls = re.findall(r"\b(self|\w+)\.(_\w+)\(", match.group(2))
            graph[f"{module}.{match.group(1)}"] = {f"{module if m == 'self' else m}.{f}" for m, f in calls}
    return graph


def _exported(path) -> set[str]:
    import re

    block = path.read_text().split("exports: (", 1)[1].split(")", 1)[0]
    return {f"{m}.{f}" for m, f in re.findall(r"(\w+)\.(\w+),", block)}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def test_every_transfer_of_the_asset_is_in_the_main_part():
    """The extensions move amounts between books in storage at most: nothing they export reaches a transfer in
    or out (`payments._push`, `payments._pull`), so the part that holds the balances holds every transfer."""
    from octravpn.chain.build import EXTENSION_CONTRACT, GOVERNANCE_CONTRACT, MAIN_CONTRACT

    graph, transfers = _call_graph(), {"payments._push", "payments._pull"}
    for path in (EXTENSION_CONTRACT, GOVERNANCE_CONTRACT):
        extension = {name: _reachable(graph, name) & transfers for name in _exported(path)}
        assert {name: found for name, found in extension.items() if found} == {}, path.name
    main = {name for name in _exported(MAIN_CONTRACT) if _reachable(graph, name) & transfers}
    assert {"governance.withdraw_program_treasury", "sessions.sweep_expired_session"} <= main
