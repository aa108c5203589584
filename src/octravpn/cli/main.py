"""`octravpn`: the command line for every on-chain action.

Global options go before or after the command: `octravpn --json --wallet alice tailnet list`.
Errors print one line on stderr and exit non-zero: 2 bad input, 3 configuration, 4 wallet,
5 chain or node, 6 the contract refused (its revert reason is shown), 7 a transaction was sent
and its outcome is not known yet (do not resend: `octravpn tx HASH --wait`), 8 no device daemon
answers, 130 interrupted.

This module imports nothing heavy, so that Ctrl-C while the program is still loading ends as
cleanly as Ctrl-C at any other time.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        from octravpn.cli import quick

        answered = quick.run(argv)  # status, up, down: straight to the daemon
        if answered is not None:
            return answered
        from octravpn.cli.app import run

        return run(argv)
    except KeyboardInterrupt:  # while loading, before the command line was even parsed
        sys.stderr.write("error: interrupted: no transaction was sent\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
