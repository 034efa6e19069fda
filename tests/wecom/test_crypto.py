import pytest
from wechatpy.enterprise.crypto import WeChatCrypto

from scrm.wecom.crypto import CallbackCrypto, CallbackCryptoError
from tests.helpers import AES_KEY, CORP_ID, TOKEN

crypto = CallbackCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP_ID)


@pytest.mark.parametrize("message", ["", "a", "<xml>客户</xml>", "x" * 12, "y" * 13, "z" * 1000])
def test_round_trip_pads_to_32_byte_blocks(message):
    encrypted = crypto.encrypt(message)

    assert crypto.decrypt(encrypted) == message


def test_a_message_needing_a_full_block_of_padding_still_decrypts():
    # 16 random + 4 length + 2 message + 10 corp id = 32 bytes: PKCS#7 to 32-byte blocks adds a whole block of
    # 32s, which a 16-byte unpadder would reject.
    assert crypto.decrypt(crypto.encrypt("ab")) == "ab"


def test_wechatpy_reads_what_we_write():
    body, signature = crypto.encrypt_to_xml("<xml><A>1</A></xml>", timestamp="1700000000", nonce="n1")

    assert WeChatCrypto(TOKEN, AES_KEY, CORP_ID).decrypt_message(body, signature, "1700000000", "n1") == (
        "<xml><A>1</A></xml>"
    )


def test_another_corps_message_is_refused():
    other = CallbackCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id="wwother")

    with pytest.raises(CallbackCryptoError, match="another corp"):
        crypto.decrypt(other.encrypt("<xml/>"))


def test_signature_is_checked_in_constant_time_and_refuses_tampering():
    encrypted = crypto.encrypt("<xml/>")
    signature = crypto.signature("1", "n", encrypted)

    crypto.verify(signature, "1", "n", encrypted)
    with pytest.raises(CallbackCryptoError):
        crypto.verify(signature, "2", "n", encrypted)


@pytest.mark.parametrize("garbage", ["not base64!", "AAAA", ""])
def test_garbage_is_refused(garbage):
    with pytest.raises(CallbackCryptoError):
        crypto.decrypt(garbage)


def test_a_bad_aes_key_is_named():
    with pytest.raises(CallbackCryptoError, match="EncodingAESKey"):
        CallbackCrypto(token=TOKEN, encoding_aes_key="short", receive_id=CORP_ID).encrypt("x")
