# pragma version ~=0.4.3
# pragma nonreentrancy on
# pragma optimize codesize
"""
@title OctraVPN
@notice Decentralized private mesh VPN: operators stake and sell WireGuard
        exit bandwidth; tailnets buy it through sessions settled on chain.
@dev The contract is larger than one account's code may be (EIP-170), so it
     is deployed as three: this one holds every balance, every function that
     transfers the asset in or out, and the session calls an exit makes all
     day (open, checkpoint, settle, batch); `OctraVPNExtension` holds
     administration and the rarer session calls (claims, confirmations,
     top-ups, refunds, equivocation reports); `OctraVPNGovernance` holds
     governance and the views. The two extensions move amounts only between
     books in storage (a refund, a slash) and run by delegatecall in this
     contract's storage. All three initialize the same modules in the same
     order, so their storage layouts are identical (a test compares them).
     Calls to any function not defined here go to the extension, and those
     it does not define go on to the governance extension; both are created
     here, from blueprints, with this contract's own constructor arguments.
     With the nonreentrancy pragma every external function holds one shared
     lock (the forwarders take none themselves: the function that runs
     does), so a payout receiver cannot call back in.
"""

from modules import eip712
from modules import governance
from modules import operators
from modules import payments
from modules import sessions
from modules import tailnets

initializes: payments
initializes: eip712
initializes: governance[payments := payments]
initializes: operators[eip712 := eip712, governance := governance, payments := payments]
initializes: tailnets[eip712 := eip712, governance := governance, operators := operators, payments := payments]
initializes: sessions[
    eip712 := eip712,
    governance := governance,
    operators := operators,
    payments := payments,
    tailnets := tailnets,
]

exports: (
    operators.bond_endpoint,
    operators.unbond_endpoint,
    operators.finalize_unbond,
    operators.claim_earnings,
    operators.release_slash_bounty,
    tailnets.create_tailnet,
    tailnets.deposit_to_tailnet,
    tailnets.withdraw_from_tailnet,
    sessions.open_session,
    sessions.top_up_session,
    sessions.checkpoint,
    sessions.settle_batch,
    sessions.settle_claim,
    sessions.settle_confirm,
    sessions.settle_with_receipt,
    sessions.claim_no_show,
    sessions.sweep_expired_session,
    governance.withdraw_program_treasury,
)

# @dev Largest return of an extension function (a view of an exit record).
MAX_RETURN: constant(uint256) = 1_024

extension: public(immutable(address))


@deploy
def __init__(
    extension_blueprint: address,
    governance_blueprint: address,
    asset: address,
    min_session_deposit: uint256,
    min_tailnet_deposit: uint256,
    session_grace: uint256,
    min_endpoint_stake: uint256,
):
    """
    @param extension_blueprint An EIP-5202 blueprint of `OctraVPNExtension`.
    @param governance_blueprint An EIP-5202 blueprint of `OctraVPNGovernance`.
    @param asset The payment asset: an ERC-20, or the empty address for the
           chain's native coin.
    @param min_session_deposit Smallest max-pay a session may lock.
    @param min_tailnet_deposit Smallest deposit that creates a tailnet.
    @param session_grace Seconds an exit has to settle before the deposit
           can be returned to the tailnet.
    @param min_endpoint_stake Stake an operator needs to register an exit.
    """
    payments.__init__(asset)
    eip712.__init__()
    governance.__init__(min_session_deposit, min_tailnet_deposit, session_grace, min_endpoint_stake)
    governance_extension: address = create_from_blueprint(
        governance_blueprint,
        asset,
        min_session_deposit,
        min_tailnet_deposit,
        session_grace,
        min_endpoint_stake,
    )
    extension = create_from_blueprint(
        extension_blueprint,
        governance_extension,
        asset,
        min_session_deposit,
        min_tailnet_deposit,
        session_grace,
        min_endpoint_stake,
    )


@external
@reentrant
@raw_return
def __default__() -> Bytes[MAX_RETURN]:
    """
    @notice Every function this contract does not define runs in
            `OctraVPNExtension` (or, through it, `OctraVPNGovernance`), by
            delegatecall in this contract's storage.
    @return Exactly what the extension's function returns (and its revert,
            if it reverts).
    """
    return raw_call(extension, msg.data, max_outsize=MAX_RETURN, is_delegate_call=True)
