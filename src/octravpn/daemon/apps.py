"""What the daemon does for sessions it does not hold itself: a configuration file for a standard WireGuard app
(`wg-config`), the confirmation of an exit's claim on such a session, and the device key's consent to act for
a wallet."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from octravpn.daemon.chainlink import ChainLink
from octravpn.daemon.dialing import Dialer
from octravpn.daemon.wire import UpRequest
from octravpn.host.tunnel import interface_config
from octravpn.protocol import Device, sign
from octravpn.protocol.eip712 import Domain
from octravpn.wireguard.keys import Keypair


def wg_config(dialer: Dialer, request: UpRequest, *, dns_line: bool) -> dict:
    """A session for a standard WireGuard app: it signs no receipts, so the exit settles by claim."""
    located, session = dialer.target(request)
    terms = session()
    with dialer.link.transactions:  # a configuration file is written once the session is on chain
        sid = dialer.link.connector().opened(terms).session_id
    keys = Keypair.generate()
    joined = dialer.join(located, sid, keys.public, signs_receipts=False)
    # A WireGuard app routes IPv6 into the tunnel too (the exit drops it): nothing leaks around it.
    config = interface_config(
        "octravpn",
        keys.private,
        joined.client_address,
        joined.exit_public_key,
        located.endpoint,
        allowed_ips=("0.0.0.0/0", "::/0"),
    )
    text = f"# OctraVPN session {sid} through {located.address}\n" + config.wg_quick(dns=joined.dns, dns_line=dns_line)
    return {"session": sid, "exit": located.address, "config": text}


def confirm(link: ChainLink, session_id: int, bytes_used: int) -> dict:
    """Confirm an exit's claim on a session this device opened (a wg-config session): `session confirm`."""
    with link.transactions:
        result = link.client().settle_confirm(session_id, bytes_used)
    settled = [e for e in result.events if e.name == "SessionSettled"]
    answer = {
        "tx": result.tx_hash,
        "block": result.block_number,
        "gas_used": result.gas_used,
        "outcome": "settled" if settled else "disputed",
    }
    if settled:
        answer.update(total_paid=settled[0].args["total_paid"], refund=settled[0].args["refund"])
    return answer


def consent(domain: Domain, account: LocalAccount, wallet: str) -> dict:
    """This device key's consent to act for `wallet` (what `device add` sends with the registration)."""
    signature = sign(domain, Device(wallet=wallet), account.key)
    return {"device": account.address, "wallet": wallet, "signature": "0x" + signature.hex()}
