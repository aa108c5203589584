"""The documents' command examples and the program cannot drift apart: every `octravpn` line in the shell examples
of the README and `docs/` must name a command that exists, with options and arguments it accepts (types checked, required
ones present), once its placeholders are filled in. Optional parts in `[brackets]` are left out, as a reader may."""

import pytest
from typer import main as typer_main

from octravpn.cli.app import app, hoist_global_options
from tests.cli.readme_examples import examples

# What a reader replaces, and with what. A placeholder not listed here fails the test.
PLACEHOLDERS = {
    "ovpn-invite-1.31337.0x….0.4f9c…": "ovpn-invite-1.31337.0x" + "33" * 20 + ".0." + "44" * 32,
    "0x0ab2…": "0x" + "55" * 32,
    "0x…": "0x" + "11" * 20,
    "0xYourDeployment": "0x" + "22" * 20,
    "0xA0b8…eB48": "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
    "KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "NEWKEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "$(wg pubkey < exit.key)": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "case at https://…": "case at https://example.org/case",
}


COMMANDS = [(f"{example.document}:{example.line}", example.argv(PLACEHOLDERS)) for example in examples()]


def test_the_readme_has_examples_for_every_command_group():
    assert len(COMMANDS) > 60
    named = {
        argv[
            [
                i
                for i, token in enumerate(argv)
                if not token.startswith("-") and (i == 0 or argv[i - 1] not in ("-w", "--wallet", "-n", "--network"))
            ][0]
        ]
        for _, argv in COMMANDS
    }
    from octravpn.cli.app import COMMANDS as TREE

    assert set(TREE) - named == set(), "commands without an example in the documents"


@pytest.mark.parametrize("argv", [argv for _, argv in COMMANDS], ids=[where for where, _ in COMMANDS])
def test_readme_example_parses(argv):
    leftover = [token for token in argv if "…" in token]
    assert not leftover, f"placeholder without a value in PLACEHOLDERS: {leftover}"
    args = hoist_global_options(argv)
    command = typer_main.get_command(app)
    ctx = command.make_context("octravpn", list(args))
    while hasattr(command, "resolve_command"):  # a group: descend to the command the line names
        rest = [*ctx._protected_args, *ctx.args]
        name, command, rest = command.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx)
    assert not ctx.args, f"arguments the command does not take: {ctx.args}"
