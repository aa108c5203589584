"""A contract history that exercises every event the indexer keeps, and a check of its rows against the views."""

from __future__ import annotations

import time

from eth_account import Account
from eth_hash.auto import keccak
from sqlalchemy import Engine, select

from octravpn.chain.client import GOV_DELAY, OctraVPN, open_client
from octravpn.chain.records import Settlement
from octravpn.config import Network
from octravpn.indexer import schema
from octravpn.protocol import Domain, Receipt, sign
from octravpn.protocol.invites import Invite
from octravpn.protocol.reports import report_commitment

ACL = b'{"acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}'
ETHER = 10**18
MB = 10**6
DAY = 86_400


def travel(client: OctraVPN, seconds: int) -> None:
    client.w3.provider.make_request("evm_increaseTime", [seconds])
    client.w3.provider.make_request("evm_mine", [])


class History:
    """Drives a deployed contract through operators, tailnets, devices, sessions and governance."""

    def __init__(self, network: Network, accounts: list) -> None:
        self.network = network
        self.accounts = accounts
        self.client = {a.address: open_client(network, a) for a in accounts}
        self.domain = Domain(chain_id=network.chain_id, verifying_contract=network.contract)
        self.receipt_keys: dict[str, Account] = {}

    def of(self, account) -> OctraVPN:
        return self.client[account.address]

    def register(self, operator, *, region: str, price: int, stake: int = ETHER) -> None:
        vpn = self.of(operator)
        vpn.bond_endpoint(stake)
        key = self.receipt_keys.setdefault(operator.address, Account.create())
        vpn.register_endpoint(
            endpoint=f"198.51.100.{len(self.receipt_keys)}:51820",
            wg_pubkey=keccak(operator.address.encode()),
            region=region,
            price_per_mb=price,
            receipt_signer=key.address,
            signer_signature=vpn.receipt_signer_consent(bytes(key.key)),
        )

    def receipt(self, signer_key: bytes, session_id: int, seq: int, used: int) -> bytes:
        return sign(self.domain, Receipt(session_id=session_id, seq=seq, bytes_used=used), signer_key)

    def build(self) -> None:
        owner, op_a, op_b, op_c, alice, bob, carol, device, bystander, op_d = self.accounts[:10]
        self.register(op_a, region="eu-west", price=10**12, stake=2 * ETHER)
        self.register(op_b, region="us-east", price=2 * 10**12)
        self.register(op_c, region="eu-west", price=5 * 10**11)

        tailnet, _ = self.of(alice).create_tailnet(b'{"acls": []}', ETHER)
        self.of(alice).add_member(tailnet, bob.address)
        self.of(alice).add_member(tailnet, carol.address)
        for exit_account in (op_a, op_b, op_c):
            self.of(alice).configure_tailnet_exit(tailnet, exit_account.address)
        self.of(bystander).deposit_to_tailnet(tailnet, ETHER // 2)
        self.of(alice).withdraw_from_tailnet(tailnet, alice.address, ETHER // 100)
        self.of(alice).update_acl(tailnet, ACL)
        self.of(bob).register_device(device.address, self.of(bob).device_consent(bytes(device.key)))
        self.of(alice).set_device_tags(tailnet, device.address, ["tag:db"])  # no owner in the policy: refused there
        invite = Invite.new(chain_id=self.network.chain_id, contract=self.network.contract, tailnet_id=tailnet)
        self.of(alice).precommit_join_token(tailnet, invite.key_address, int(time.time()) + 10 * DAY, 1)
        self.of(bystander).redeem_join_token(tailnet, invite.key_address, invite.join_signature(bystander.address))
        second, _ = self.of(bob).create_tailnet(b"{}", ETHER // 10)

        # Settled with the opener's receipt.
        s0, _ = self.of(alice).open_session(tailnet, op_a.address, ETHER // 100)
        self.of(op_a).settle_with_receipt(s0, 3, 700 * MB, self.receipt(alice.key, s0, 3, 700 * MB))
        # Opened by a device, settled by claim + confirm.
        s1, _ = self.of(device).open_session(tailnet, op_b.address, ETHER // 100)
        self.of(op_b).settle_claim(s1, 300 * MB)
        self.of(device).settle_confirm(s1, 300 * MB)
        # A dispute, then the exit settles with the receipt.
        s2, _ = self.of(bob).open_session(tailnet, op_a.address, ETHER // 100)
        self.of(op_a).settle_claim(s2, 900 * MB)
        self.of(bob).settle_confirm(s2, 800 * MB)
        self.of(op_a).settle_with_receipt(s2, 5, 800 * MB, self.receipt(bob.key, s2, 5, 800 * MB))
        # An exit that claims two figures is slashed and the deposit refunded.
        s3, _ = self.of(bob).open_session(tailnet, op_c.address, ETHER // 100)
        self.of(op_c).settle_claim(s3, 10 * MB)
        self.of(op_c).settle_claim(s3, 20 * MB)
        # Left open, with a claim.
        s4, _ = self.of(alice).open_session(tailnet, op_a.address, ETHER // 50)
        self.of(op_a).settle_claim(s4, 5 * MB)
        # Paid while open: a checkpoint, a top-up, a batch that checkpoints it beside an item the contract skips.
        s8, _ = self.of(alice).open_session(tailnet, op_a.address, ETHER // 100)
        self.of(op_a).checkpoint(s8, 1, 100 * MB, self.receipt(alice.key, s8, 1, 100 * MB))
        self.of(alice).top_up_session(s8, ETHER // 100)
        self.of(op_a).settle_batch(
            [
                Settlement(s8, 2, 250 * MB, self.receipt(alice.key, s8, 2, 250 * MB), final=False),
                Settlement(s0, 4, 800 * MB, self.receipt(alice.key, s0, 4, 800 * MB), final=True),  # settled already
            ]
        )
        self.checkpointed = s8
        # No-show (one of them checkpointed first) and sweep.
        s5, _ = self.of(carol).open_session(tailnet, op_b.address, ETHER // 100)
        s6, _ = self.of(carol).open_session(tailnet, op_a.address, ETHER // 100)
        s9, _ = self.of(carol).open_session(tailnet, op_a.address, ETHER // 100)
        self.of(op_a).checkpoint(s9, 1, 50 * MB, self.receipt(carol.key, s9, 1, 50 * MB))
        travel(self.of(owner), DAY + 1)
        self.of(bystander).claim_no_show(s5)
        self.of(bystander).claim_no_show(s9)
        travel(self.of(owner), 30 * DAY)
        self.of(bystander).sweep_expired_session(s6)
        # A double-signing exit is slashed on evidence.
        s7, _ = self.of(alice).open_session(tailnet, op_b.address, ETHER // 100)
        key_b = self.receipt_keys[op_b.address].key
        self.of(bystander).commit_slash_report(
            report_commitment(
                reporter=bystander.address,
                operator=op_b.address,
                session_id=s7,
                seq=1,
                bytes_a=10 * MB,
                bytes_b=11 * MB,
            )
        )
        self.of(bystander).slash_double_sign(
            op_b.address,
            s7,
            1,
            10 * MB,
            self.receipt(key_b, s7, 1, 10 * MB),
            11 * MB,
            self.receipt(key_b, s7, 1, 11 * MB),
        )

        # Operators: claim, update, rotate; unbond, finalize, come back.
        earned = self.of(op_a).earnings(op_a.address)
        self.of(op_a).claim_earnings(earned // 3)
        self.of(op_a).claim_earnings(earned - earned // 3)
        self.of(op_a).update_endpoint(endpoint="198.51.100.99:51820", region="eu-central", price_per_mb=3 * 10**12)
        self.of(op_a).rotate_keys(
            wg_pubkey=keccak(b"rotated"),
        )
        self.register(op_d, region="ap-south", price=10**12)
        self.of(op_d).unbond_endpoint()
        travel(self.of(owner), 30 * DAY)
        self.of(op_d).finalize_unbond()
        self.register(op_d, region="ap-south", price=4 * 10**12)
        self.of(alice).remove_member(tailnet, carol.address)
        self.of(alice).remove_tailnet_exit(tailnet, op_c.address)
        self.of(bob).revoke_device(device.address)
        self.of(bob).configure_tailnet_exit(second, op_d.address)

        # Governance.
        params = self.of(owner).params()
        # A higher minimum stake: D (1 ETH) stops being active, A (2 ETH) stays.
        self.of(owner).schedule_params(
            type(params)(**{**params.__dict__, "protocol_fee_bps": 150, "min_endpoint_stake": 3 * ETHER // 2})
        )
        travel(self.of(owner), GOV_DELAY)
        self.of(owner).execute_params()
        self.of(owner).set_paused(True)
        self.of(owner).set_paused(False)
        self.of(owner).withdraw_program_treasury(owner.address, self.of(owner).program_treasury() // 2)
        self.of(owner).transfer_ownership(bystander.address)
        self.second_tailnet = second


def compare_with_chain(engine: Engine, vpn: OctraVPN, addresses: list[str]) -> dict:
    """Assert every indexed row equals the contract's views; returns counts of what was compared."""
    with engine.connect() as connection:

        def all_rows(table):
            return [dict(r) for r in connection.execute(select(table)).mappings()]

        operators = {r["address"]: r for r in all_rows(schema.operators)}
        tailnets = {r["id"]: r for r in all_rows(schema.tailnets)}
        sessions = {r["id"]: r for r in all_rows(schema.sessions)}
        members = {(r["tailnet_id"], r["member"]) for r in all_rows(schema.tailnet_members)}
        exits = {(r["tailnet_id"], r["exit"]) for r in all_rows(schema.tailnet_exits)}
        devices = {r["device"]: r["wallet"] for r in all_rows(schema.devices)}
        (protocol,) = all_rows(schema.protocol)

    registered = set(vpn.registered_exits())
    assert registered == {a for a, r in operators.items() if r["registered_at"]}
    for address in set(addresses) | set(operators):
        row = operators.get(address)
        endpoint = vpn.endpoint(address)
        got = (
            None
            if row is None
            else (
                row["listed"],
                row["endpoint"],
                bytes.fromhex(row["wg_pubkey"][2:]),
                row["receipt_signer"],
                row["region"],
                row["price_per_mb"],
                row["registered_at"],
                row["reputation"],
                row["stake"],
                row["unbonding"],
                row["unlock_at"],
                row["slashed"],
                row["earnings"],
                row["active"],
            )
        )
        want = (
            endpoint.active,
            endpoint.endpoint,
            endpoint.wg_pubkey,
            endpoint.receipt_signer,
            endpoint.region,
            endpoint.price_per_mb,
            endpoint.registered_at,
            endpoint.reputation,
            vpn.stake(address),
            vpn.unbonding(address),
            vpn.unlock_at(address),
            vpn.is_slashed(address),
            vpn.earnings(address),
            vpn.is_active(address),
        )
        if row is None:
            assert want[6] == 0 and want[8:] == (0, 0, 0, False, 0, False), f"operator {address} missing from the index"
        else:
            assert got == want, f"operator {address}: index {got} != chain {want}"

    assert sorted(tailnets) == list(range(vpn.tailnet_count()))
    for tailnet_id, row in tailnets.items():
        t = vpn.tailnet(tailnet_id)
        assert (
            row["owner"],
            row["treasury"],
            row["member_count"],
            row["acl_policy"],
            row["created_at"],
            row["exit_count"],
        ) == (t.owner, t.treasury, t.member_count, "0x" + t.acl_policy.hex(), t.created_at, t.exit_count), tailnet_id
        for address in addresses:
            assert ((tailnet_id, address) in members) == vpn.is_member(tailnet_id, address), (tailnet_id, address)
            assert ((tailnet_id, address) in exits) == vpn.is_exit(tailnet_id, address), (tailnet_id, address)
    for address in addresses:
        owner = vpn.device_owner(address)
        assert devices.get(address) == (None if int(owner, 16) == 0 else owner), address

    assert sorted(sessions) == sorted(vpn.opened_sessions())
    status = {0: "open", 1: "settled", 2: "refunded"}
    for session_id, row in sessions.items():
        s = vpn.session(session_id)
        assert (
            row["tailnet_id"],
            row["exit"],
            row["opener"],
            row["deposit"],
            row["price_per_mb"],
            row["opened_at"],
            row["status"],
        ) == (s.tailnet_id, s.exit, s.opener, s.deposit, s.price_per_mb, s.opened_at, status[s.status]), session_id
        assert (row["bytes_paid"] or 0) == s.bytes_paid, session_id
        claim, confirm = vpn.operator_claim(session_id), vpn.client_confirm(session_id)
        assert (row["claim_bytes"], row["claimed_at"]) == (
            (claim.bytes_used, claim.claimed_at) if claim.is_set else (None, None)
        )
        assert (row["confirm_bytes"], row["confirmed_at"]) == (
            (confirm.bytes_used, confirm.claimed_at) if confirm.is_set else (None, None)
        )

    params = vpn.params()
    assert {k: protocol[k] for k in params.__dict__} == params.__dict__
    assert (protocol["owner"], protocol["paused"], protocol["program_treasury"]) == (
        vpn.owner(),
        vpn.paused(),
        vpn.program_treasury(),
    )
    return {"operators": len(operators), "tailnets": len(tailnets), "sessions": len(sessions)}
