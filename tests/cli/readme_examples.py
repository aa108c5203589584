"""The `octravpn` command lines of the shell examples in the README and `docs/`, as a reader would type them, in
the order a reader meets them (the README, then the documents in the order the README lists them)."""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
DOCUMENTS = [
    README,
    *(
        ROOT / "docs" / name
        for name in ("architecture.md", "commands.md", "contract.md", "trust.md", "benchmarks.md", "testing.md")
    ),
]


@dataclass(frozen=True)
class Example:
    document: str  # its path from the repository's root
    line: int
    text: str  # after `octravpn`, without `sudo` or the optional `[parts]` (comments go in `argv`)
    optional: tuple[str, ...] = ()  # the `[parts]` left out, e.g. `--yes`

    def argv(self, substitutions: dict[str, str] | None = None) -> list[str]:
        """The words of the command, placeholders replaced (longest first: one may contain another)."""
        text = self.text
        for placeholder in sorted(substitutions or {}, key=len, reverse=True):
            text = text.replace(placeholder, substitutions[placeholder])
        return shlex.split(text, comments=True)


def examples() -> list[Example]:
    return [example for path in DOCUMENTS for example in _examples(path)]


def _examples(path: Path) -> list[Example]:
    text = path.read_text()
    document = str(path.relative_to(ROOT))
    found = []
    for block in re.finditer(r"```sh\n(.*?)```", text, re.S):
        first_line = text[: block.start(1)].count("\n") + 1
        lines = block.group(1).split("\n")
        i = 0
        while i < len(lines):
            number, line = first_line + i, lines[i]
            while line.endswith("\\") and i + 1 < len(lines):  # continued on the next line
                i += 1
                line = line[:-1] + " " + lines[i]
            i += 1
            line = line.strip().removeprefix("$ ").removeprefix("sudo ")
            if line.startswith("octravpn "):
                command = line.removeprefix("octravpn ").split(" #")[0]
                found.append(
                    Example(
                        document,
                        number,
                        re.sub(r"\[[^\]]*\]", "", command),
                        tuple(re.findall(r"\[([^\]]*)\]", command)),
                    )
                )
    return found
