"""The documents hold together: every relative link leads to a file of the repository, and every `#anchor` to a
heading of the document it names (as GitHub makes them), so nothing a reader follows is dead."""

import re

import pytest

from tests.cli.readme_examples import DOCUMENTS, ROOT

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings (outside code blocks)."""
    anchors, fenced = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def _links():
    for document in DOCUMENTS:
        for match in LINK.finditer(document.read_text()):
            target = match.group(1)
            if not re.match(r"[a-z]+:", target):  # http(s), mailto: outside this repository
                yield pytest.param(document, target, id=f"{document.relative_to(ROOT)}->{target}")


def test_the_documents_exist_and_link_to_each_other():
    readme = (ROOT / "README.md").read_text()
    for document in DOCUMENTS[1:]:
        assert document.exists(), document
        assert f"]({document.relative_to(ROOT)})" in readme, f"the README does not link to {document.name}"


@pytest.mark.parametrize(("document", "target"), list(_links()))
def test_every_link_leads_somewhere(document, target):
    path, _, anchor = target.partition("#")
    file = (document.parent / path).resolve() if path else document
    assert file.exists(), f"{target}: no such file"
    if anchor:
        assert anchor in _anchors(file), f"{target}: {file.name} has no heading #{anchor}"
