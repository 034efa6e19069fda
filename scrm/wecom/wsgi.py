"""WeCom's event deliveries (POST /wecom/callback) answered in front of Django's request handling.

The callback is the one URL that must keep up with WeCom's bursts, and it needs nothing Django's handler and
middleware do for every request: no session, user, language, CSRF token, host check or security header matters to
WeCom, which proves who it is with the signature and reads a bare "success". Skipping them halves the web
worker's CPU per callback. The answer is the same function the Django view uses (``callback_receive``). URL
verification (GET) and every other URL go to Django.
"""

import logging
from http import HTTPStatus
from urllib.parse import parse_qs

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from scrm.core.logging import reset_request_id, set_request_id
from scrm.core.middleware import request_id_for
from scrm.wecom.views import callback_receive

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/wecom/callback"


def with_callback_fast_path(django_application):
    def application(environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == CALLBACK_PATH:
            return callback_post(environ, start_response)
        return django_application(environ, start_response)

    return application


def callback_post(environ, start_response):
    request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
    token = set_request_id(request_id)
    try:
        status, text = _answer(environ)
    except Exception:
        # WeCom retries a delivery it saw fail (a 5xx), so an event that could not be stored is not lost yet.
        logger.exception("WeCom callback could not be stored")
        status, text = 500, "server error"
    finally:
        _connection_release()
        reset_request_id(token)
    body = text.encode()
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("X-Request-ID", request_id),
        ],
    )
    return [body]


def _answer(environ) -> tuple[int, str]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 400, "bad Content-Length"
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # None: no limit, as for Django's request.body
    if limit is not None and length > limit:
        return 400, "request body too large"
    query = parse_qs(environ.get("QUERY_STRING", ""))
    delivery = {
        "signature": query.get("msg_signature", [""])[0],
        "timestamp": query.get("timestamp", [""])[0],
        "nonce": query.get("nonce", [""])[0],
        "body": environ["wsgi.input"].read(length) if length > 0 else b"",
    }
    try:
        return callback_receive(**delivery)
    except (InterfaceError, OperationalError):
        # The database restarted or dropped the idle connection. Storing twice is harmless (the dedupe key).
        logger.warning("Database connection lost; storing the WeCom callback again on a new one")
        connection.close()
        return callback_receive(**delivery)


def _connection_release() -> None:
    """What Django's request signals do for the database (close_old_connections: errors, CONN_MAX_AGE), done once
    at the end and without arming the health check, which would be a SELECT 1 before every callback: a connection
    that broke in between costs one retry of the idempotent INSERT instead (see _answer). The signals' dispatch
    alone costs more than this file's own work."""
    if connection.in_atomic_block:  # inside a caller's transaction (a test's): not this request's to close
        return
    connection.close_if_unusable_or_obsolete()
    connection.health_check_done = True
