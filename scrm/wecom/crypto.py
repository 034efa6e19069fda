"""WeCom callback crypto (企业微信回调加解密), both directions: the callback view decrypts, the simulator encrypts.

AES-256-CBC with key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7 padding to **32-byte** blocks.
Plaintext = 16 random bytes + 4-byte big-endian length + message + ReceiveId (the corp id, which must match).
Signature = sha1 of the sorted concatenation of token, timestamp, nonce and the encrypted text.
"""

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK_SIZE = 32


class CallbackCryptoError(ValueError):
    """The message is not one our corp's key and token produced (bad signature, key, padding or corp id)."""


@dataclass(frozen=True)
class CallbackCrypto:
    token: str
    encoding_aes_key: str
    receive_id: str

    @functools.cached_property
    def _key(self) -> bytes:
        try:
            key = base64.b64decode(self.encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise CallbackCryptoError("EncodingAESKey is not valid base64") from exc
        if len(key) != 32:
            raise CallbackCryptoError("EncodingAESKey must be 43 characters (32 bytes once decoded)")
        return key

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return hashlib.sha1("".join(sorted([self.token, timestamp, nonce, encrypted])).encode()).hexdigest()  # noqa: S324 - WeCom's protocol

    def verify(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        if not hmac.compare_digest(self.signature(timestamp, nonce, encrypted), signature or ""):
            raise CallbackCryptoError("signature mismatch")

    def encrypt(self, message: str, *, random_prefix: bytes | None = None) -> str:
        body = message.encode()
        plain = (random_prefix or secrets.token_bytes(16)) + struct.pack(">I", len(body)) + body
        plain += self.receive_id.encode()
        pad = BLOCK_SIZE - len(plain) % BLOCK_SIZE
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        try:
            data = base64.b64decode(encrypted, validate=True)
        except binascii.Error as exc:
            raise CallbackCryptoError("encrypted text is not base64") from exc
        if not data or len(data) % 16:
            raise CallbackCryptoError("encrypted text has a wrong length")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK_SIZE or plain[-pad:] != bytes([pad]) * pad:
            raise CallbackCryptoError("bad padding")
        content = plain[16:-pad]
        if len(content) < 4:
            raise CallbackCryptoError("message too short")
        (length,) = struct.unpack(">I", content[:4])
        message, receive_id = content[4 : 4 + length], content[4 + length :]
        if len(message) != length:
            raise CallbackCryptoError("message length mismatch")
        if receive_id.decode(errors="replace") != self.receive_id:
            raise CallbackCryptoError("message is for another corp id")
        try:
            return message.decode()
        except UnicodeDecodeError as exc:
            raise CallbackCryptoError("message is not UTF-8") from exc

    def encrypt_to_xml(self, message: str, *, timestamp: str, nonce: str) -> tuple[str, str]:
        """The POST body WeCom sends and its msg_signature (used by the simulator and tests)."""
        encrypted = self.encrypt(message)
        body = (
            f"<xml><ToUserName><![CDATA[{self.receive_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
        )
        return body, self.signature(timestamp, nonce, encrypted)
