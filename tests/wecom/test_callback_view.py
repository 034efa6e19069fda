"""/wecom/callback as WeCom calls it: signed, encrypted, retried."""

import time

import pytest

from scrm.wecom.crypto import CallbackCrypto
from scrm.wecom.models import InboxEvent
from tests.helpers import AES_KEY, event_xml

pytestmark = pytest.mark.django_db

ADD = event_xml("change_external_contact", "add_external_contact", UserID="zhangsan", ExternalUserID="wm1")


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


@pytest.mark.parametrize("body", [b"not xml", b"<xml><Nothing/></xml>", b"\xff\xfe"])
def test_malformed_body_is_400_and_nothing_is_stored(client, callback_crypto, body):
    response = client.post("/wecom/callback?msg_signature=x&timestamp=1&nonce=n", data=body, content_type="text/xml")

    assert response.status_code == 400
    assert InboxEvent.objects.count() == 0


def test_event_that_decrypts_to_garbage_is_400_and_nothing_is_stored(post_callback):
    response = post_callback("<xml><Event>half")

    assert response.status_code == 400
    assert InboxEvent.objects.count() == 0


def test_unconfigured_callback_says_so_and_stores_nothing(client, settings):
    settings.WECOM_CALLBACK_TOKEN = ""

    response = client.post(
        "/wecom/callback?msg_signature=x&timestamp=1&nonce=n", data=b"<xml/>", content_type="text/xml"
    )

    assert response.status_code == 503
    assert InboxEvent.objects.count() == 0


def test_only_get_and_post(client, callback_crypto):
    assert client.put("/wecom/callback").status_code == 405
