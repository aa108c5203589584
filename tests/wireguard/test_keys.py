import pytest

from octravpn.wireguard.keys import KeyFormatError, Keypair, decode_key, encode_key


def test_rfc7748_vector():
    # RFC 7748 section 6.1: Alice's key pair.
    private = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    public = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert Keypair.from_private(private).public == public


def test_generate_round_trips_through_base64():
    pair = Keypair.generate()
    assert len(pair.private) == 32 and decode_key(pair.public_b64) == pair.public
    assert Keypair.from_private(decode_key(pair.private_b64)) == pair


@pytest.mark.parametrize("text, reason", [("%%%", "not base64"), (encode_key(b"\x01" * 31), "31 bytes, not 32")])
def test_bad_keys(text, reason):
    with pytest.raises(KeyFormatError, match=reason):
        decode_key(text)
