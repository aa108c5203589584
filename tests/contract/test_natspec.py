"""Every external function of the contract says what it does, what each argument is, and what it returns
(NatSpec in the sources: the compiler's devdoc leaves out what modules export, so this reads the sources)."""

import re

import pytest

from octravpn.chain.build import CONTRACTS_DIR

SOURCES = sorted((CONTRACTS_DIR / "modules").glob("*.vy")) + sorted(CONTRACTS_DIR.glob("*.vy"))
EXTERNAL = re.compile(r'^@external\n(?:@\w+\n)*def (\w+)\((.*?)\)\s*(->\s*[^:]+)?:\n(?:\s*"""(.*?)""")?', re.S | re.M)


def _externals():
    for path in SOURCES:
        for match in EXTERNAL.finditer(path.read_text()):
            yield pytest.param(match, id=f"{path.name}:{match.group(1)}")


def _arguments(text: str) -> list[str]:
    return [a.split(":")[0].strip() for a in re.split(r",(?![^\[]*\])", text) if a.strip()]


@pytest.mark.parametrize("match", list(_externals()))
def test_the_external_function_documents_itself_its_arguments_and_its_return(match):
    _, arguments, returns, doc = match.groups()
    doc = doc or ""
    assert "@notice" in doc, "no @notice: say what it does and who may call it"
    assert [a for a in _arguments(arguments) if not re.search(rf"@param {a}\b", doc)] == []
    assert not returns or "@return" in doc


def test_the_check_finds_every_external_function():
    assert len(list(_externals())) == sum(path.read_text().count("@external") for path in SOURCES) > 70
