"""The package's layers, checked from the source: each imports only what is below it (also inside functions).

protocol, acl and wireguard are the bottom and do no I/O of their own kind above them; `host` owns the host's
network settings and imports neither the exit client nor the mesh, which reach each other only through it;
the exit node never imports the client; the daemon composes, and only the command line imports the daemon.
"""

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "octravpn"
TOP = ("cli", "daemon", "node", "indexer", "client", "mesh", "host", "chain", "protocol", "acl", "wireguard")

# package -> the packages of octravpn it must not import
FORBIDDEN = {
    "protocol": set(TOP) - {"protocol", "wireguard"},  # WireGuard's key encoding, which is pure
    "acl": set(TOP) - {"acl", "protocol"},
    "wireguard": set(TOP) - {"wireguard"},
    "host": {"cli", "daemon", "node", "indexer", "client", "mesh", "chain"},
    "client": {"cli", "daemon", "node", "indexer", "mesh"},  # but the indexer API's answers (WIRE)
    "mesh": {"cli", "daemon", "node", "indexer", "client"},
    "node": {"cli", "daemon", "indexer", "client", "mesh", "host"},
    "chain": {"cli", "daemon", "node", "indexer", "client", "mesh", "host"},
    "indexer": {"cli", "daemon", "node", "client", "host"},
    "daemon": {"cli", "node", "indexer"},
}


# Modules of a package above that a lower one may read: the schema of a wire both ends speak.
WIRE = {"octravpn.indexer.models"}


def imports_of(path: Path) -> set[str]:
    """The octravpn packages a module imports, at any depth of its code (a WIRE module is not counted)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            if name in WIRE:
                continue
            parts = name.split(".")
            if parts[0] == "octravpn" and len(parts) > 1 and parts[1] in TOP:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(package):
    wrong = {
        str(path.relative_to(SOURCE)): sorted(imports_of(path) & FORBIDDEN[package])
        for path in sorted((SOURCE / package).rglob("*.py"))
    }
    assert {module: names for module, names in wrong.items() if names} == {}


def test_the_checker_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from octravpn.mesh.dns import SUFFIX\n    import octravpn.client.state\n")
    assert imports_of(module) == {"mesh", "client"}


@pytest.mark.parametrize("module", ["daemon/service.py", "daemon/mesh.py"])
def test_the_daemons_modules_only_compose(module):
    assert len((SOURCE / module).read_text().splitlines()) < 400
