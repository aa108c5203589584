import boa
import pytest

from tests.contract.harness import MIN_STAKE, PRICE, WG_KEY, Operator, actor


def _args(hn, op: Operator, signer=None, **overrides):
    signer = signer or op.receipt_key
    args = dict(
        endpoint="198.51.100.7:51820",
        wg_pubkey=WG_KEY,
        region="eu-west",
        price_per_mb=PRICE,
        receipt_signer=signer.address,
        signer_signature=hn.signer_sig(signer, op.account),
    )
    args.update(overrides)
    return args


@pytest.fixture
def bonded(hn):
    op = Operator(actor("op"), actor("op-receipts"))
    hn.bond(op.account)
    return op


def test_register_records_the_exit(hn, bonded):
    args = _args(hn, bonded)
    with hn.as_(bonded.account):
        hn.vpn.register_endpoint(*args.values())
    event = hn.event("EndpointRegistered")
    assert (event.addr, event.endpoint, event.region, event.price_per_mb, event.wg_pubkey, event.receipt_signer) == (
        bonded.address,
        args["endpoint"],
        "eu-west",
        PRICE,
        WG_KEY,
        bonded.receipt_key.address,
    )
    record = hn.vpn.get_endpoint(bonded.address)
    assert record.active and record.endpoint == args["endpoint"] and record.region == "eu-west"
    assert record.wg_pubkey == WG_KEY and record.price_per_mb == PRICE
    assert record.receipt_signer == bonded.receipt_key.address
    assert record.registered_at == boa.env.timestamp and record.reputation == 0
    kept = hn.vpn.kept_endpoint(bonded.address)
    assert kept.listed_in_block == boa.env.evm.patch.block_number
    assert kept.listing_hash == record.listing.digest()
    assert hn.vpn.get_receipt_signer_operator(bonded.receipt_key.address) == bonded.address
    assert hn.vpn.is_endpoint_active(bonded.address)


def test_reregistration_after_retire_lists_the_new_listing_and_binds_both_keys(hn, bonded):
    with hn.as_(bonded.account):
        hn.vpn.register_endpoint(*_args(hn, bonded).values())
        hn.vpn.retire_endpoint()
        new_key = actor("op-receipts-2")
        hn.vpn.register_endpoint(*_args(hn, bonded, signer=new_key, region="us-east").values())
    assert hn.vpn.get_endpoint(bonded.address).region == "us-east"
    assert hn.vpn.get_endpoint(bonded.address).receipt_signer == new_key.address
    assert hn.vpn.get_receipt_signer_operator(bonded.receipt_key.address) == bonded.address
    assert hn.vpn.get_receipt_signer_operator(new_key.address) == bonded.address


@pytest.mark.parametrize(
    "overrides, reason",
    [
        (dict(endpoint=""), "endpoint required"),
        (dict(price_per_mb=0), "price > 0"),
        (dict(price_per_mb=2**120), "price above 2**120 - 1"),
        (dict(wg_pubkey=bytes(32)), "wg pubkey required"),
        (dict(receipt_signer="0x" + "00" * 20), "receipt signer did not sign the binding"),
    ],
)
def test_bad_fields_revert(hn, bonded, overrides, reason):
    with hn.as_(bonded.account), boa.reverts(reason):
        hn.vpn.register_endpoint(*_args(hn, bonded, **overrides).values())


def test_unbonded_operator_reverts(hn):
    op = Operator(actor("op"), actor("op-receipts"))
    with hn.as_(op.account), boa.reverts("must bond_endpoint first"):
        hn.vpn.register_endpoint(*_args(hn, op).values())


def test_stake_below_minimum_reverts(hn):
    op = Operator(actor("op"), actor("op-receipts"))
    hn.bond(op.account, MIN_STAKE - 1)
    with hn.as_(op.account), boa.reverts("must bond_endpoint first"):
        hn.vpn.register_endpoint(*_args(hn, op).values())


def test_already_registered_reverts(hn, bonded):
    with hn.as_(bonded.account):
        hn.vpn.register_endpoint(*_args(hn, bonded).values())
        with boa.reverts("already registered"):
            hn.vpn.register_endpoint(*_args(hn, bonded).values())


def test_slashed_operator_reverts(hn, bonded):
    hn.bond(bonded.account)
    hn.gov_slash(bonded.address)
    with hn.as_(bonded.account), boa.reverts("previously slashed"):
        hn.vpn.register_endpoint(*_args(hn, bonded).values())


def test_receipt_signer_of_another_operator_reverts(hn, bonded):
    with hn.as_(bonded.account):
        hn.vpn.register_endpoint(*_args(hn, bonded).values())
    thief = Operator(actor("thief"), bonded.receipt_key)
    hn.bond(thief.account)
    with hn.as_(thief.account), boa.reverts("receipt signer belongs to another operator"):
        hn.vpn.register_endpoint(*_args(hn, thief).values())


def test_claiming_another_operators_receipt_key_without_its_signature_reverts(hn, bonded):
    """The attack: a staked operator bound a rival's receipt-key address to itself for ever."""
    rival_key = actor("rival-receipts")
    squatter = Operator(actor("squatter"), rival_key)
    hn.bond(squatter.account)
    for forged in (
        hn.signer_sig(actor("squatter-receipts"), squatter.account),
        hn.signer_sig(rival_key, bonded.account),
    ):
        with hn.as_(squatter.account), boa.reverts("receipt signer did not sign the binding"):
            hn.vpn.register_endpoint(*_args(hn, squatter, signer_signature=forged).values())
    assert hn.vpn.get_receipt_signer_operator(rival_key.address) == "0x" + "00" * 20


def test_the_largest_price_that_fits_the_packing_reads_back_whole(hn, bonded):
    with hn.as_(bonded.account):
        hn.vpn.register_endpoint(*_args(hn, bonded, price_per_mb=2**120 - 1).values())
    record = hn.vpn.get_endpoint(bonded.address)
    assert record.price_per_mb == 2**120 - 1 and record.active
    assert record.registered_at == boa.env.timestamp
