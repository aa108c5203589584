# pragma version ~=0.4.3
# pragma nonreentrancy on
# pragma optimize codesize
"""
@title OctraVPN governance extension: governance and the views
@notice Never used on its own: `OctraVPN` runs this code by delegatecall
        (through `OctraVPNExtension`), in its own storage, for the functions
        neither of them defines.
@dev Initializes the same modules in the same order as `OctraVPN`, so the
     storage layouts match. Its own storage (if anyone calls it directly)
     holds no funds and governs nothing. No function here transfers the
     asset in or out: a governance slash moves stake to the burned total.
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
    payments.asset,
    eip712.DOMAIN_SEPARATOR,
    governance.owner,
    governance.paused,
    governance.schedule_params,
    governance.execute_params,
    governance.cancel_params,
    governance.set_paused,
    governance.transfer_ownership,
    governance.get_params,
    governance.get_min_endpoint_stake,
    governance.get_protocol_fee_bps,
    governance.get_pending_params,
    governance.get_program_treasury,
    governance.get_burned,
    governance.clock,
    operators.schedule_slash,
    operators.execute_slash,
    operators.cancel_slash,
    operators.get_endpoint,
    operators.get_endpoint_stake,
    operators.get_endpoint_unbonding,
    operators.get_endpoint_unlock,
    operators.is_endpoint_slashed,
    operators.is_endpoint_active,
    operators.get_earnings,
    operators.get_slash_record,
    operators.get_gov_slash_eta,
    operators.get_receipt_signer_operator,
    tailnets.get_tailnet,
    tailnets.tailnet_count_view,
    tailnets.is_tailnet_member,
    tailnets.is_tailnet_exit,
    tailnets.get_join_token,
    tailnets.get_device_owner,
    tailnets.get_device,
    tailnets.is_device_of,
    sessions.get_session_hash,
    sessions.is_receipt_signer,
    sessions.session_id,
    sessions.get_operator_claim,
    sessions.get_client_confirm,
)


@deploy
def __init__(
    asset: address,
    min_session_deposit: uint256,
    min_tailnet_deposit: uint256,
    session_grace: uint256,
    min_endpoint_stake: uint256,
):
    payments.__init__(asset)
    eip712.__init__()
    governance.__init__(min_session_deposit, min_tailnet_deposit, session_grace, min_endpoint_stake)
