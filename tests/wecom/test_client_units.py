"""Unit checks of the client's building blocks that need no server: error classification, the idempotency
table, redaction and pickling of the typed errors."""

import pickle

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from scrm.wecom.client.base import _classify
from scrm.wecom.client.policy import IDEMPOTENT, NON_IDEMPOTENT, is_idempotent
from scrm.wecom.errors import WeComConfigError, WeComRateLimited, redact

READ = "externalcontact/get_follow_user_list"


def test_requests_errors_are_classified_by_whether_anything_was_sent():
    refused = MaxRetryError(None, "/cgi-bin/x", NewConnectionError(None, "Connection refused"))
    assert not _classify(requests.exceptions.ConnectionError(refused)).maybe_sent
    assert not _classify(requests.exceptions.ConnectTimeout("connect timed out")).maybe_sent
    assert _classify(requests.exceptions.ReadTimeout("read timed out")).maybe_sent
    dropped = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    assert _classify(requests.exceptions.ConnectionError(dropped)).maybe_sent
    assert _classify(requests.exceptions.ChunkedEncodingError("broken body")).maybe_sent


def test_idempotency_is_declared_per_endpoint():
    assert not IDEMPOTENT & NON_IDEMPOTENT
    for path in (
        "externalcontact/add_msg_template",
        "externalcontact/send_welcome_msg",
        "externalcontact/transfer_customer",
        "externalcontact/groupchat/transfer",
        "externalcontact/add_corp_tag",
        "externalcontact/mark_tag",
        "externalcontact/remark",
        "externalcontact/add_contact_way",
        "externalcontact/groupchat/add_join_way",
        "auth/getuserinfo",
        "externalcontact/some_future_api",  # unknown paths are writes
    ):
        assert not is_idempotent(path), path
    for path in ("externalcontact/get", "externalcontact/batch/get_by_user", "externalcontact/get_groupmsg_task"):
        assert is_idempotent(path), path


def test_errors_survive_pickling_with_their_details():
    limited = pickle.loads(pickle.dumps(WeComRateLimited(None, "budget spent", READ, retry_after=12.5)))  # noqa: S301 - our own bytes
    config = pickle.loads(pickle.dumps(WeComConfigError(48002, "api forbidden", READ)))  # noqa: S301

    assert (type(limited), limited.retry_after, limited.path) == (WeComRateLimited, 12.5, READ)
    assert config.errcode == 48002
    assert "客户联系" in str(config)


def test_redact():
    text = "GET /cgi-bin/gettoken?corpid=ww1&corpsecret=s3cr3t&x=1 access_token=abc.def {'ticket': 'tkt'}"
    assert redact(text) == "GET /cgi-bin/gettoken?corpid=ww1&corpsecret=***&x=1 access_token=*** {'ticket': '***'}"
