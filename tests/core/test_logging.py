import json
import logging

from scrm.core.logging import JsonFormatter, RequestIdFilter, reset_request_id, set_request_id


def format_record(message: str, **extra) -> dict:
    record = logging.LogRecord("scrm.test", logging.WARNING, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    RequestIdFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_json_line_carries_the_request_id_and_plain_extras():
    token = set_request_id("abc123")
    try:
        entry = format_record("发送失败 %s", customer_id=7, request=object())
    finally:
        reset_request_id(token)

    assert entry["message"] == "发送失败 %s"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "scrm.test"
    assert entry["request_id"] == "abc123"
    assert entry["customer_id"] == 7
    assert "request" not in entry  # not JSON-safe: left out rather than breaking the line


def test_without_a_request_the_id_is_a_dash():
    assert format_record("idle")["request_id"] == "-"


def test_middleware_keeps_a_safe_incoming_id(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a")

    assert response["X-Request-ID"] == "lb-7f3a"


def test_middleware_replaces_an_unsafe_incoming_id(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")

    assert len(response["X-Request-ID"]) == 32
    assert response["X-Request-ID"].isalnum()
