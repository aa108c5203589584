"""Gas used by each state-changing function on a realistic flow, on anvil.

Run: `make gas` (or `.venv/bin/python bench/gas.py`). Figures are the
`gasUsed` of real transactions on a local anvil node: what a user pays,
including the 21,000 base cost and calldata. Prints a Markdown table.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass

from eth_account import Account
from web3 import Web3

from octravpn.chain.artifacts import EIP170_LIMIT, load
from octravpn.chain.client import OctraVPN
from octravpn.chain.deploy import DeployParams, deploy
from octravpn.chain.devnet import Anvil, dev_private_key
from octravpn.protocol import Device, Domain, Join, Receipt, ReceiptSigner, sign
from octravpn.protocol.reports import report_commitment
from octravpn.protocol.sessions import session_id_for

ETHER = 10**18
BATCH = 50
MB = 10**6
# A policy the size of the README's example (about 1 KB), and one at the contract's limit.
POLICY = (
    b'{"groups": {"group:ops": ["0x0000000000000000000000000000000000000b0b"]},'
    b' "tagOwners": {"tag:db": ["group:ops"], "tag:web": ["0x00000000000000000000000000000000000a11ce"]},'
    b' "hosts": {"backup": "100.64.7.7"}, "acls": ['
    + b", ".join(
        b'{"action": "accept", "src": ["group:ops"], "dst": ["tag:db:*", "backup:%d"]}' % port for port in range(12)
    )
    + b"]}"
)
LARGEST_POLICY = b'{"acls": [], "hosts": {"h": "' + b"x" * (16_384 - 32) + b'"}}'


@dataclass
class Row:
    function: str
    scenario: str
    gas: int


def main() -> int:
    rows: list[Row] = []
    with Anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        owner, operator, member, friend, sweeper = (Account.from_key(dev_private_key(i)) for i in range(5))
        receipt_key, invite_key, device = Account.create(), Account.create(), Account.create()
        vpn = deploy(w3, owner, DeployParams())
        deploy_gas = w3.eth.get_transaction_receipt(
            w3.eth.get_block(w3.eth.block_number, full_transactions=True).transactions[0]["hash"]
        ).gasUsed
        rows.append(Row("(deploy)", "constructor", deploy_gas))
        fn = vpn.functions
        reader = OctraVPN(w3, vpn.address)

        def rec(session_id):
            """The session's record as its events tell it: every call on a session passes it."""
            return reader.session(session_id).as_argument()

        domain = Domain(chain_id=w3.eth.chain_id, verifying_contract=vpn.address)
        # Salts as a client draws them (64 random bits: calldata pays for eight non-zero bytes); S[n] is the nth
        # session the member opens, whose id it knows before the open is mined.
        salts = itertools.count(0xA5A5_A5A5_A5A5_0000)
        S = [session_id_for(member.address, salt) for salt in range(0xA5A5_A5A5_A5A5_0000, 0xA5A5_A5A5_A5A5_0000 + 64)]

        def run(call, sender, scenario, value=0, record=True, gas=None):
            # `gas`: a reveal cannot be estimated in its commitment's block, so it is given a limit
            tx = call.transact({"from": sender.address, "value": value, **({"gas": gas} if gas else {})})
            receipt = w3.eth.wait_for_transaction_receipt(tx)
            assert receipt.status == 1, f"{call.fn_name} reverted"
            if record:
                rows.append(Row(call.fn_name, scenario, receipt.gasUsed))
            return receipt

        def warp(seconds):
            w3.provider.make_request("evm_increaseTime", [seconds])
            w3.provider.make_request("evm_mine", [])

        run(fn.bond_endpoint(ETHER), operator, "first bond", ETHER)
        run(
            fn.register_endpoint(
                "203.0.113.10:51820",
                b"\x42" * 32,
                "eu-west",
                2 * 10**12,
                receipt_key.address,
                sign(domain, ReceiptSigner(operator=operator.address), receipt_key.key),
            ),
            operator,
            "new exit, key's consent",
        )
        listing = reader.endpoint(operator.address).listing.as_argument()
        run(fn.update_endpoint(listing, "203.0.113.10:51820", "eu-west", 3 * 10**12), operator, "new price")
        listing = reader.endpoint(operator.address).listing.as_argument()
        run(fn.rotate_keys(listing, b"\x44" * 32), operator, "new WireGuard key")
        run(fn.create_tailnet(POLICY, ETHER), member, f"1.0 deposit, {len(POLICY):,} B policy", ETHER)
        run(fn.deposit_to_tailnet(0, ETHER // 2), friend, "top-up", ETHER // 2)
        run(fn.configure_tailnet_exit(0, operator.address), member, "allow exit")
        run(fn.add_member(0, friend.address), member, "direct add")
        expires = w3.eth.get_block("latest").timestamp + 3_600
        run(fn.precommit_join_token(0, invite_key.address, expires, 5), member, "5-use invite")
        joiner = Account.from_key(dev_private_key(5))
        run(
            fn.redeem_join_token(
                0, invite_key.address, sign(domain, Join(tailnet_id=0, member=joiner.address), invite_key.key)
            ),
            joiner,
            "signed Join",
        )
        run(
            fn.register_device(device.address, sign(domain, Device(wallet=friend.address), device.key)),
            friend,
            "laptop key, its consent",
        )
        run(fn.update_acl(0, POLICY.replace(b"12", b"13")), member, f"{len(POLICY):,} B policy")
        run(fn.update_acl(0, LARGEST_POLICY), member, f"{len(LARGEST_POLICY):,} B policy (the largest)")
        run(fn.set_device_tags(0, device.address, ["tag:db"]), member, "one tag")

        # Session 0: two-transaction settlement.
        run(
            fn.open_session(0, operator.address, 10**16, 3 * 10**12, next(salts)),
            member,
            "lock 0.01, the chain's first session",
        )
        run(fn.settle_claim(S[0], rec(S[0]), 900 * MB), operator, "exit's claim")
        run(fn.settle_confirm(S[0], rec(S[0]), 900 * MB), member, "opener agrees: settles")
        # Session 1: the exit settles alone with the opener's latest receipt.
        run(
            fn.open_session(0, operator.address, 10**16, 3 * 10**12, next(salts)),
            member,
            "lock 0.01, any later session",
        )
        signature = sign(domain, Receipt(session_id=S[1], seq=37, bytes_used=1_500 * MB), member.key)
        run(fn.settle_with_receipt(S[1], rec(S[1]), 37, 1_500 * MB, signature), operator, "client-signed receipt")
        # Session 2: a long session: checkpoints while it stays open, a top-up, then its settlement.
        long_id = S[2]
        run(fn.open_session(0, operator.address, 10**16, 3 * 10**12, next(salts)), member, "", record=False)
        for seq, used, scenario in ((10, 400 * MB, "first: pays 400 MB"), (20, 900 * MB, "later: 500 MB more")):
            signature = sign(domain, Receipt(session_id=long_id, seq=seq, bytes_used=used), member.key)
            run(fn.checkpoint(long_id, rec(long_id), seq, used, signature), operator, scenario)
        run(fn.top_up_session(long_id, rec(long_id), 10**16), member, "add 0.01, a full grace more")
        signature = sign(domain, Receipt(session_id=long_id, seq=30, bytes_used=1_200 * MB), member.key)
        run(fn.settle_with_receipt(long_id, rec(long_id), 30, 1_200 * MB, signature), operator, "after checkpoints")
        # Session 3: disputed, then resolved by receipt.
        run(fn.open_session(0, operator.address, 10**16, 3 * 10**12, next(salts)), member, "", record=False)
        run(fn.settle_claim(S[3], rec(S[3]), 800 * MB), operator, "", record=False)
        run(fn.settle_confirm(S[3], rec(S[3]), 700 * MB), member, "opener disagrees: dispute")
        # Sessions 4 and 5: nobody settles.
        run(fn.open_session(0, operator.address, 10**16, 3 * 10**12, next(salts)), member, "", record=False)
        run(fn.open_session(0, operator.address, 10**16, 3 * 10**12, next(salts)), member, "", record=False)
        warp(86_400)
        run(fn.claim_no_show(S[4], rec(S[4])), friend, "after grace")
        warp(9 * 86_400)
        run(fn.sweep_expired_session(S[5], rec(S[5])), sweeper, "after 10x grace, 1% bounty")

        # Sessions 6 to 55: one batch checkpoints all fifty, a second settles them.
        run(fn.deposit_to_tailnet(0, ETHER), friend, "", ETHER, record=False)
        first = 6
        for _ in range(BATCH):
            run(fn.open_session(0, operator.address, 10**16, 3 * 10**12, next(salts)), member, "", record=False)
        for final, used in ((False, 300 * MB), (True, 700 * MB)):
            items = [
                (
                    sid,
                    rec(sid),
                    5,
                    used,
                    sign(domain, Receipt(session_id=sid, seq=5, bytes_used=used), member.key),
                    final,
                )
                for sid in S[first : first + BATCH]
            ]
            receipt = run(fn.settle_batch(items), operator, "", record=False)
            rows.append(
                Row(
                    "settle_batch",
                    f"{BATCH} {'settlements' if final else 'checkpoints'}: {receipt.gasUsed // BATCH:,} a session",
                    receipt.gasUsed,
                )
            )

        run(fn.claim_earnings(fn.get_earnings(operator.address).call()), operator, "all earnings")
        run(fn.withdraw_from_tailnet(0, member.address, ETHER // 10), member, "owner withdraws")
        run(fn.withdraw_program_treasury(owner.address, fn.get_program_treasury().call()), owner, "fees")
        run(fn.unbond_endpoint(), operator, "retire + start unbonding")
        warp(30 * 86_400)
        run(fn.finalize_unbond(), operator, "after 30 days")

        # Governance: announced, then executed after the two-day timelock.
        params = list(fn.get_params().call())
        params[9] = 100
        run(fn.schedule_params(tuple(params)), owner, "announce a fee change")
        warp(2 * 86_400)
        run(fn.execute_params(), owner, "after 2 days")
        run(fn.set_paused(True), owner, "pause")
        run(fn.set_paused(False), owner, "unpause")

        # Equivocation: a second operator double-signs a receipt.
        cheat, cheat_key = Account.from_key(dev_private_key(6)), Account.create()
        run(fn.bond_endpoint(ETHER), cheat, "", ETHER, record=False)
        run(
            fn.register_endpoint(
                "198.51.100.1:51820",
                b"\x43" * 32,
                "us-east",
                10**12,
                cheat_key.address,
                sign(domain, ReceiptSigner(operator=cheat.address), cheat_key.key),
            ),
            cheat,
            "",
            record=False,
        )
        run(fn.configure_tailnet_exit(0, cheat.address), member, "", record=False)
        cheat_id = S[first + BATCH]
        run(fn.open_session(0, cheat.address, 10**16, 3 * 10**12, next(salts)), member, "", record=False)
        evidence = [Receipt(session_id=cheat_id, seq=1, bytes_used=b) for b in (MB, 2 * MB)]
        commitment = report_commitment(
            reporter=sweeper.address, operator=cheat.address, session_id=cheat_id, seq=1, bytes_a=MB, bytes_b=2 * MB
        )
        run(fn.commit_slash_report(commitment), sweeper, "reporter's commitment")
        run(
            fn.slash_double_sign(
                cheat.address,
                cheat_id,
                rec(cheat_id),
                1,
                MB,
                sign(domain, evidence[0], cheat_key.key),
                2 * MB,
                sign(domain, evidence[1], cheat_key.key),
            ),
            sweeper,
            "reveal: two conflicting receipts",
            gas=400_000,
        )

    artifact = load()
    print("| function | scenario | gas |")
    print("|---|---|---:|")
    for row in rows:
        print(f"| `{row.function}` | {row.scenario} | {row.gas:,} |")
    print()
    print(
        f"Deployed runtime bytecode: `OctraVPN` {artifact.runtime_size:,} bytes, its extension "
        f"{artifact.extension_runtime_size:,} bytes and its governance extension {artifact.governance_runtime_size:,} "
        f"bytes; the extensions' blueprints (their initcode, which is what is deployed for them) "
        f"{artifact.extension_blueprint_size:,} and {artifact.governance_blueprint_size:,} bytes (EIP-170 limit "
        f"{EIP170_LIMIT:,} each; {artifact.compiler})."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
