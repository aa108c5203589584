"""A client that joins, signs one receipt, then never signs again (run inside the client's namespace).

argv: interface, exit address, passphrase. Prints a JSON line when connected and one with the receipt it
signed; restores the network and exits on SIGTERM. Built from the daemon's own steps, minus its loop.
"""

import json
import signal
import sys
import tempfile
import time
from pathlib import Path

from octravpn import config
from octravpn.chain.client import open_client
from octravpn.client.connect import Connector, join
from octravpn.client.receipts import ReceiptDesk
from octravpn.client.state import Connection
from octravpn.host.dns import DNSManager
from octravpn.host.tunnel import HostChanges, TunnelHost, TunnelOptions, interface_config
from octravpn.wallet import Keystore
from octravpn.wireguard.keys import Keypair
from octravpn.wireguard.runner import SubprocessRunner


def main() -> None:
    interface, exit_address, password = sys.argv[1:4]
    settings = config.load()
    account = Keystore(settings.keystore_dir).unlock("bob", password)
    connector = Connector(client=open_client(settings.network(), account), account=account)
    located = connector.locate(exit_address)
    session_id = connector.opened(
        connector.begin_session(located.address, None, 10**16, located.price_per_mb)
    ).session_id
    keys = Keypair.generate()
    joined = join(
        connector.domain, account, located.api_url, located.wg_pubkey, session_id, keys.public, clock=time.time
    )
    options = TunnelOptions(interface=interface, kill_switch=False, accept_dns=False)
    scratch = tempfile.TemporaryDirectory()  # the receipts' evidence and the resolver's record (it has none to keep)
    state_dir = Path(scratch.name)
    host = TunnelHost(SubprocessRunner(), options, (), DNSManager(Path("/etc/resolv.conf"), state_dir / "dns.json"))
    changes = HostChanges(interface=interface)
    host.bring_up(
        changes,
        interface_config(interface, keys.private, joined.client_address, joined.exit_public_key, located.endpoint),
        located.endpoint,
        (),
        lambda: None,
    )
    connection = Connection(
        session_id=session_id,
        exit=located.address,
        tailnet_id=0,
        deposit=10**16,
        price_per_mb=located.price_per_mb,
        exit_endpoint=located.endpoint,
        receipt_signer=located.receipt_signer,
        exit_wg_pubkey="",
        client_address=joined.client_address,
        exit_address=joined.exit_address,
    )
    desk = ReceiptDesk(
        connection=connection,
        account=account,
        domain=connector.domain,
        leeway=10**6,
        loss_percent=10,
        evidence_dir=state_dir,
    )
    print(json.dumps({"session_id": session_id}), flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    deadline = time.monotonic() + 60
    while not connection.receipts_signed and time.monotonic() < deadline and not stop:
        desk.observe(sum(p.rx_bytes + p.tx_bytes for p in host.engine.peers(interface)))
        desk.answer()
        time.sleep(0.2)
    print(json.dumps({"seq": connection.signed_seq, "bytes_used": connection.signed_bytes}), flush=True)
    while not stop and time.monotonic() < deadline + 60:
        time.sleep(0.1)
    host.restore(changes)
    scratch.cleanup()


if __name__ == "__main__":
    main()
