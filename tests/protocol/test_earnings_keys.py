import pytest
from py_ecc.optimized_bn128 import curve_order

from octravpn.protocol import LocalProtocolError, RemoteProtocolError
from octravpn.protocol.earnings_keys import EarningsKeypair, _from_ints


def test_public_key_is_secret_times_generator():
    assert EarningsKeypair(secret=1).public == (1, 2)  # alt_bn128's G1 generator


def test_encryption_of_zero_decrypts_to_zero_under_its_key_only():
    key, other = EarningsKeypair.generate(), EarningsKeypair.generate()
    ciphertext = key.encrypt_zero()
    assert key.decrypts_to_zero(ciphertext)
    assert not other.decrypts_to_zero(ciphertext)


def test_ciphertexts_are_randomised():
    key = EarningsKeypair(secret=5)
    assert key.encrypt_zero() != key.encrypt_zero()
    assert key.encrypt_zero(randomness=9) == key.encrypt_zero(randomness=9)


@pytest.mark.parametrize("secret", [0, curve_order, -1])
def test_secret_out_of_range_is_refused(secret):
    with pytest.raises(LocalProtocolError):
        EarningsKeypair(secret=secret)


def test_point_off_the_curve_is_refused():
    with pytest.raises(RemoteProtocolError, match="not an alt_bn128 point"):
        _from_ints((1, 3))
