"""One JSON error envelope for the whole API: ``{"code", "message", "fields"?, "request_id"}``.

Never an HTML page: unexpected exceptions are logged with the request id and answered as JSON 500.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import set_rollback

from scrm.core.errors import SERVER_ERROR_MESSAGE, DomainError
from scrm.core.logging import current_request_id

logger = logging.getLogger("scrm.api")


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, DomainError):
        set_rollback()
        fields = {exc.field: [str(exc.message)]} if exc.field else None
        return error_response(exc.code, str(exc.message), exc.status_code, fields=fields)

    if isinstance(exc, exceptions.ValidationError):
        set_rollback()
        fields = _flatten(exc.detail)
        return error_response("invalid", _summarize(fields), exc.status_code, fields=fields)

    if isinstance(exc, exceptions.APIException):
        set_rollback()
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        return error_response(code, str(exc.detail), exc.status_code, headers=headers)

    set_rollback()
    logger.exception("Unhandled API error", exc_info=exc)
    return error_response("server_error", str(SERVER_ERROR_MESSAGE), status.HTTP_500_INTERNAL_SERVER_ERROR)


def error_payload(code: str, message: str, *, fields: dict | None = None) -> dict:
    payload = {"code": code, "message": message}
    if fields:
        payload["fields"] = fields
    payload["request_id"] = current_request_id()
    return payload


def error_response(code, message, http_status, *, fields=None, headers=None) -> Response:
    return Response(error_payload(code, message, fields=fields), status=http_status, headers=headers)


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail → ``{"items.0.phone": ["…"]}`` so a client can point at the exact field."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        out = {}
        for index, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(message) for message in messages]} if messages else {}


def _summarize(fields: dict[str, list[str]]) -> str:
    name, messages = next(iter(fields.items()))
    if name == "non_field_errors":
        return messages[0]
    return _("%(field)s: %(reason)s") % {"field": name, "reason": messages[0]}
