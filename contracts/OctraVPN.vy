# pragma version ~=0.4.3
# pragma nonreentrancy on
# pragma optimize codesize
"""
@title OctraVPN
@notice Decentralized private mesh VPN: operators stake and sell WireGuard
        exit bandwidth; tailnets buy it through sessions settled on chain.
@dev Composes the modules in `modules/`; every external function of every
     module is exported. The payment asset (native coin or one ERC-20) is
     fixed here, at deployment. With the nonreentrancy pragma every external
     function holds one shared lock, so a payout receiver cannot call back in.
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
initializes: operators[governance := governance, payments := payments]
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
    governance.__interface__,
    operators.__interface__,
    tailnets.__interface__,
    sessions.__interface__,
)


@deploy
def __init__(
    asset: address,
    min_session_deposit: uint256,
    min_tailnet_deposit: uint256,
    session_grace: uint256,
    min_endpoint_stake: uint256,
):
    """
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
