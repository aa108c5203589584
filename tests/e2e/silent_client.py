"""A client that joins, signs one receipt, then never signs again (run inside the client's namespace).

argv: interface, state file, exit address, passphrase. Prints a JSON line when connected and one
with the receipt it signed; restores the network and exits on SIGTERM.
"""

import json
import signal
import sys
import time
from pathlib import Path

from octravpn import config
from octravpn.chain.client import open_client
from octravpn.client.agent import ClientAgent, ClientOptions, restore_network
from octravpn.wallet import Keystore
from octravpn.wireguard.runner import SubprocessRunner


def main() -> None:
    interface, state_file, exit_address, password = sys.argv[1:5]
    settings = config.load()
    network = settings.network()
    account = Keystore(settings.keystore_dir).unlock("bob", password)
    runner = SubprocessRunner()
    agent = ClientAgent(client=open_client(network, account), account=account, network_name=network.name,
                        rpc_url=network.rpc_url, runner=runner, state_path=Path(state_file),
                        options=ClientOptions(interface=interface, kill_switch=False, accept_dns=False))
    state = agent.connect(exit_addr=exit_address, tailnet_id=None, max_pay=10**16, session_id=None, previous=None)
    print(json.dumps({"session_id": state.session_id}), flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    deadline = time.monotonic() + 60
    while not state.receipts_signed and time.monotonic() < deadline and not stop:
        agent.tick()
        time.sleep(0.2)
    print(json.dumps({"seq": state.signed_seq, "bytes_used": state.signed_bytes}), flush=True)
    while not stop and time.monotonic() < deadline + 60:
        time.sleep(0.1)
    restore_network(runner, state)


if __name__ == "__main__":
    main()
