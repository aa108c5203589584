# pragma version ~=0.4.3
# pragma nonreentrancy on
# pragma optimize codesize
"""
@title OctraVPN extension: administration and the rarer session calls
@notice Never used on its own: `OctraVPN` runs this code by delegatecall, in
        its own storage, for every function it does not define itself; what
        this one does not define goes on to `OctraVPNGovernance`.
@dev Initializes the same modules in the same order as `OctraVPN`, so the
     storage layouts match. Its own storage (if anyone calls it directly)
     holds no funds and governs nothing. No function here transfers the
     asset in or out: every transfer is in `OctraVPN`. Refunds and slashes
     move amounts between the books kept in storage.
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
    operators.register_endpoint,
    operators.update_endpoint,
    operators.rotate_keys,
    operators.retire_endpoint,
    tailnets.add_member,
    tailnets.remove_member,
    tailnets.configure_tailnet_exit,
    tailnets.remove_tailnet_exit,
    tailnets.update_acl,
    tailnets.set_device_tags,
    tailnets.precommit_join_token,
    tailnets.revoke_join_token,
    tailnets.register_device,
    tailnets.revoke_device,
    sessions.close_session,
    tailnets.redeem_join_token,
    sessions.commit_slash_report,
    sessions.slash_double_sign,
)

# @dev Largest return of a governance extension function (a view of an exit record).
MAX_RETURN: constant(uint256) = 1_024

# @dev `OctraVPNGovernance`, created by `OctraVPN`: in its code, so it holds
#      under delegatecall.
governance_extension: immutable(address)


@deploy
def __init__(
    governance_address: address,
    asset: address,
    min_session_deposit: uint256,
    min_tailnet_deposit: uint256,
    session_grace: uint256,
    min_endpoint_stake: uint256,
):
    governance_extension = governance_address
    payments.__init__(asset)
    eip712.__init__()
    governance.__init__(min_session_deposit, min_tailnet_deposit, session_grace, min_endpoint_stake)


@external
@reentrant
@raw_return
def __default__() -> Bytes[MAX_RETURN]:
    """
    @notice Every function neither `OctraVPN` nor this extension defines runs
            in `OctraVPNGovernance`, by delegatecall in `OctraVPN`'s storage.
    @return Exactly what its function returns (and its revert, if it reverts).
    """
    return raw_call(governance_extension, msg.data, max_outsize=MAX_RETURN, is_delegate_call=True)
