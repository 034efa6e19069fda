"""/wecom/callback as WeCom calls it: signed, encrypted, retried. Every delivery test runs twice: through the
Django view, and through the WSGI fast path in front of Django that gunicorn serves (scrm.wecom.wsgi)."""

import re
import time
from urllib.parse import urlencode

import pytest
from django.db import connection

from scrm.wecom.crypto import CallbackCrypto
from scrm.wecom.models import InboxEvent
from tests.helpers import AES_KEY, event_xml
from tests.wecom.conftest import wsgi_request

pytestmark = pytest.mark.django_db

ADD = event_xml("change_external_contact", "add_external_contact", UserID="zhangsan", ExternalUserID="wm1")


@pytest.fixture(params=["django", "wsgi"], autouse=True)
def callback_transport(request):
    """post_callback and post_raw go through this transport (see tests/wecom/conftest.py)."""
    return request.param


def test_url_verification_answers_the_plaintext_only(client, callback_crypto):
    echostr = callback_crypto.encrypt("1616140317555161061")
    signature = callback_crypto.signature("1700000000", "n1", echostr)

    response = client.get(
        "/wecom/callback", {"msg_signature": signature, "timestamp": "1700000000", "nonce": "n1", "echostr": echostr}
    )

    assert response.status_code == 200
    assert response.content == b"1616140317555161061"


def test_url_verification_with_a_bad_signature_is_refused(client, callback_crypto):
    echostr = callback_crypto.encrypt("1616140317555161061")

    response = client.get(
        "/wecom/callback", {"msg_signature": "0" * 40, "timestamp": "1700000000", "nonce": "n1", "echostr": echostr}
    )

    assert response.status_code == 403
    assert b"1616140317555161061" not in response.content


def test_event_is_stored_and_answered(post_callback, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_callback(ADD)

    assert response.status_code == 200
    assert response.content == b"success"
    row = InboxEvent.objects.get()
    assert (row.event, row.change_type, row.status, row.attempts) == (
        "change_external_contact",
        "add_external_contact",
        "pending",
        0,
    )
    assert row.payload["fields"]["ExternalUserID"] == "wm1"
    assert row.raw_xml == ADD
    assert len(callbacks) == 1  # one processing task, enqueued after commit


def test_duplicate_delivery_answers_200_and_stores_nothing_new(post_callback, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = post_callback(ADD)
        retry = post_callback(ADD)  # WeCom's retry: same message, new nonce and encryption

    assert (first.status_code, retry.status_code) == (200, 200)
    assert InboxEvent.objects.count() == 1
    assert len(callbacks) == 1


def test_bad_signature_is_403_and_nothing_is_stored(post_callback):
    response = post_callback(ADD, signature="f" * 40)

    assert response.status_code == 403
    assert InboxEvent.objects.count() == 0


def test_stale_timestamp_is_403_and_nothing_is_stored(post_callback):
    response = post_callback(ADD, timestamp=int(time.time()) - 3600)

    assert response.status_code == 403
    assert InboxEvent.objects.count() == 0


def test_another_corps_message_is_403_and_nothing_is_stored(post_callback, callback_crypto):
    other = CallbackCrypto(token=callback_crypto.token, encoding_aes_key=AES_KEY, receive_id="wwother")

    response = post_callback(ADD, crypto=other)

    assert response.status_code == 403
    assert InboxEvent.objects.count() == 0


@pytest.mark.parametrize("body", [b"not xml", b"<xml><Nothing/></xml>", b"\xff\xfe", b""])
def test_malformed_body_is_400_and_nothing_is_stored(post_raw, callback_crypto, body):
    response = post_raw("/wecom/callback?msg_signature=x&timestamp=1&nonce=n", body)

    assert response.status_code == 400
    assert InboxEvent.objects.count() == 0


def test_event_that_decrypts_to_garbage_is_400_and_nothing_is_stored(post_callback):
    response = post_callback("<xml><Event>half")

    assert response.status_code == 400
    assert InboxEvent.objects.count() == 0


def test_unconfigured_callback_says_so_and_stores_nothing(post_raw, settings):
    settings.WECOM_CALLBACK_TOKEN = ""

    response = post_raw("/wecom/callback?msg_signature=x&timestamp=1&nonce=n", b"<xml/>")

    assert response.status_code == 503
    assert InboxEvent.objects.count() == 0


def test_only_get_and_post(client, callback_crypto):
    assert client.put("/wecom/callback").status_code == 405


# ---- the WSGI fast path ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("callback_transport", ["wsgi"])
def test_the_fast_path_answers_plain_text_with_a_request_id(post_callback):
    response = post_callback(ADD)

    assert (response.status_code, response.content) == (200, b"success")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Length"] == "7"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


@pytest.mark.parametrize("callback_transport", ["wsgi"])
def test_the_fast_path_refuses_a_body_over_djangos_limit(post_callback, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = post_callback(ADD)

    assert (response.status_code, response.content) == (400, b"request body too large")
    assert InboxEvent.objects.count() == 0


def test_url_verification_and_other_urls_go_to_django(callback_crypto):
    echostr = callback_crypto.encrypt("1616140317555161061")
    signature = callback_crypto.signature("1700000000", "n1", echostr)

    query = urlencode({"msg_signature": signature, "timestamp": "1700000000", "nonce": "n1", "echostr": echostr})
    verified = wsgi_request("GET", f"/wecom/callback?{query}")
    health = wsgi_request("GET", "/healthz")

    assert (verified.status_code, verified.content) == (200, b"1616140317555161061")
    assert health.status_code == 200
    assert wsgi_request("PUT", "/wecom/callback").status_code == 405  # Django's view: GET and POST only


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("callback_transport", ["wsgi"])
def test_the_fast_path_stores_again_on_a_new_connection_when_the_database_dropped_it(post_callback, enqueued):
    post_callback(event_xml("change_external_contact", "del_follow_user", UserID="zhangsan", ExternalUserID="wm0"))
    connection.connection.close()  # as a database restart leaves it: Django still holds the dead connection

    response = post_callback(ADD)

    assert (response.status_code, response.content) == (200, b"success")
    assert list(InboxEvent.objects.values_list("change_type", flat=True).order_by("pk")) == [
        "del_follow_user",
        "add_external_contact",
    ]
