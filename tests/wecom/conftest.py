import time
import uuid

import pytest

from scrm.wecom.crypto import CallbackCrypto
from tests.helpers import AES_KEY, CORP_ID, SIM_AGENT_ID, SIM_SECRETS, TOKEN


@pytest.fixture
def callback_crypto(settings) -> CallbackCrypto:
    settings.WECOM_CORP_ID = CORP_ID
    settings.WECOM_CALLBACK_TOKEN = TOKEN
    settings.WECOM_CALLBACK_AES_KEY = AES_KEY
    return CallbackCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP_ID)


@pytest.fixture
def post_callback(client, callback_crypto):
    """POST an event the way WeCom does: encrypted body, signed query string."""

    def post(xml: str, *, timestamp: int | None = None, crypto: CallbackCrypto | None = None, signature=None):
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = uuid.uuid4().hex[:10]
        body, good_signature = (crypto or callback_crypto).encrypt_to_xml(xml, timestamp=timestamp, nonce=nonce)
        query = f"msg_signature={signature or good_signature}&timestamp={timestamp}&nonce={nonce}"
        return client.post(f"/wecom/callback?{query}", data=body, content_type="text/xml")

    return post


@pytest.fixture
def wecom_configured(settings, simulator, callback_crypto):
    """Settings pointing at a freshly reset simulator, every secret and the callback keys configured."""
    simulator.reset()
    simulator.revoke_tokens()
    settings.WECOM_API_BASE_URL = simulator.base_url
    settings.WECOM_CONTACT_SECRET = SIM_SECRETS["contact"]
    settings.WECOM_AGENT_SECRET = SIM_SECRETS["agent"]
    settings.WECOM_ARCHIVE_SECRET = SIM_SECRETS["archive"]
    settings.WECOM_AGENT_ID = SIM_AGENT_ID
    settings.WECOM_HTTP_TIMEOUT = 5.0
    settings.WECOM_RATE_LIMIT_PER_MINUTE = 0
    return simulator
