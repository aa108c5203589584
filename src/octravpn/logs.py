"""Logging for the long-running commands (`node run`, `indexer run`, octravpnd)."""

from __future__ import annotations

import logging

# Libraries that log every HTTP request they make at INFO: a daemon polling its RPC would write lines
# by the second. Their warnings still show.
_CHATTY = ("httpx", "httpcore", "urllib3", "web3.providers.HTTPProvider")


def configure_daemon_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
