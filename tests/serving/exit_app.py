"""The exit's whole API over fakes (a scripted chain and WireGuard, a real store), in process or,
run as a module, served by uvicorn on a port: `python -m tests.serving.exit_app PORT DB`."""

import sys
from pathlib import Path

from eth_account import Account

from octravpn.node.api import create_app
from octravpn.node.receipts import ReceiptChannel
from octravpn.node.store import NodeStore
from tests.fakehost import FakeHost
from tests.node.fakes import DOMAIN, EXIT_KEYS, FakeChain
from tests.node.test_metering_and_receipts import exit_parts


def build_exit_app(db: Path):
    store = NodeStore(db)
    host = FakeHost()
    host.interface("ovpn0", EXIT_KEYS.private_b64, address="10.77.0.1/24")
    chain = FakeChain()
    handshake, meters = exit_parts(host, store, receipt_every=10**6, max_unsigned=10**7)
    receipts = ReceiptChannel(
        domain=DOMAIN, chain=chain, store=store, meters=meters, receipt_key=Account.from_key(b"\x66" * 32).key
    )
    return create_app(handshake, receipts), store


if __name__ == "__main__":
    import uvicorn

    import octravpn.cli.node  # noqa: F401  # everything `octravpn node run` imports

    app, _ = build_exit_app(Path(sys.argv[2]))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
