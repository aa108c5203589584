"""The `octravpn` command lines of the README's shell examples, as a reader would type them."""

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"


@dataclass(frozen=True)
class Example:
    line: int  # in README.md
    text: str  # after `octravpn`, without `sudo` or the optional `[parts]` (comments go in `argv`)
    optional: tuple[str, ...] = ()  # the `[parts]` left out, e.g. `--yes`

    def argv(self, substitutions: dict[str, str] | None = None) -> list[str]:
        """The words of the command, placeholders replaced (longest first: one may contain another)."""
        text = self.text
        for placeholder in sorted(substitutions or {}, key=len, reverse=True):
            text = text.replace(placeholder, substitutions[placeholder])
        return shlex.split(text, comments=True)


def examples() -> list[Example]:
    text = README.read_text()
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
                    Example(number, re.sub(r"\[[^\]]*\]", "", command), tuple(re.findall(r"\[([^\]]*)\]", command)))
                )
    return found
