"""The exit's whole API over fakes (a scripted chain and WireGuard, a real store), in process or,
run as a module, served by uvicorn on a port: `python -m tests.serving.exit_app PORT DB`."""

import ipaddress
import sys
from pathlib import Path

from eth_account import Account

from octravpn.node.api import create_app
from octravpn.node.handshake import ExitIdentity, HandshakeService
from octravpn.node.metering import SessionMeters
from octravpn.node.receipts import ReceiptChannel
from octravpn.node.store import NodeStore
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.runner import FakeRunner
from tests.node.fakes import DOMAIN, EXIT, EXIT_KEYS, NOW, FakeChain


def build_exit_app(db: Path):
    store = NodeStore(db)
    engine = Engine(FakeRunner([(("wg", "show"), f"{EXIT_KEYS.private_b64}\t{EXIT_KEYS.public_b64}\t51820\toff\n")]))
    identity = ExitIdentity(operator=EXIT, wg_public_key=EXIT_KEYS.public, endpoint="198.51.100.7:51820",
                            interface="ovpn0", tunnel_network=ipaddress.ip_network("10.77.0.0/24"))
    chain = FakeChain()
    handshake = HandshakeService(domain=DOMAIN, identity=identity, chain=chain, store=store, engine=engine,
                                 clock=lambda: NOW)
    meters = SessionMeters(store=store, engine=engine, interface="ovpn0", receipt_every=10**6, max_unsigned=10**7)
    receipts = ReceiptChannel(domain=DOMAIN, chain=chain, store=store, meters=meters,
                              receipt_key=Account.from_key(b"\x66" * 32).key)
    return create_app(handshake, receipts), store


if __name__ == "__main__":
    import uvicorn

    import octravpn.cli.node  # noqa: F401  # everything `octravpn node run` imports, py_ecc included

    app, _ = build_exit_app(Path(sys.argv[2]))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
