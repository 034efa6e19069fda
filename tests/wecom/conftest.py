import io
import sys
import time
import uuid
from dataclasses import dataclass

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
def enqueued(monkeypatch):
    """The drains enqueued, counted instead of published (the worker itself is exercised end to end elsewhere)."""
    from scrm.wecom import tasks

    calls = []
    monkeypatch.setattr(tasks.drain_inbox, "delay", lambda: calls.append("drain"))
    return calls


@dataclass
class WsgiResponse:
    status_code: int
    content: bytes
    headers: dict[str, str]


def wsgi_request(method: str, path: str, body: bytes = b"") -> WsgiResponse:
    """A request to ``scrm.wsgi.application``, what gunicorn serves (the callback's fast path in front of Django),
    called in this process and thread as Django's test client calls its handler."""
    from scrm.wsgi import application

    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "text/xml",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }
    started = {}
    chunks = application(environ, lambda status, headers: started.update(status=status, headers=dict(headers)))
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return WsgiResponse(int(started["status"].split()[0]), content, started["headers"])


def _post(request, client, path: str, body: bytes):
    """Through Django's test client (the view), or through the WSGI fast path when the test's module asks for it
    with a ``callback_transport`` fixture of "wsgi" (test_callback_view.py runs every test both ways)."""
    transport = request.getfixturevalue("callback_transport") if "callback_transport" in request.fixturenames else ""
    if transport == "wsgi":
        return wsgi_request("POST", path, body)
    return client.post(path, data=body, content_type="text/xml")


@pytest.fixture
def post_raw(request, client):
    return lambda path, body: _post(request, client, path, body)


@pytest.fixture
def post_callback(request, client, callback_crypto):
    """POST an event the way WeCom does: encrypted body, signed query string."""

    def post(xml: str, *, timestamp: int | None = None, crypto: CallbackCrypto | None = None, signature=None):
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = uuid.uuid4().hex[:10]
        body, good_signature = (crypto or callback_crypto).encrypt_to_xml(xml, timestamp=timestamp, nonce=nonce)
        query = f"msg_signature={signature or good_signature}&timestamp={timestamp}&nonce={nonce}"
        return _post(request, client, f"/wecom/callback?{query}", body.encode())

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
