"""``/wecom/callback``: WeCom's URL verification (GET) and event delivery (POST).

A POST is verified, decrypted, stored in the inbox and answered at once; the work happens in a Celery task,
because WeCom gives us 5 seconds and retries three times.
"""

import functools
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from scrm.wecom.crypto import CallbackCrypto, CallbackCryptoError
from scrm.wecom.events import EventParseError, parse_event, parse_xml
from scrm.wecom.services import inbox_event_receive

logger = logging.getLogger(__name__)

# When WeCom last verified the URL (GET): the setup self-test reports it.
CALLBACK_VERIFIED_KEY = "wecom:callback:verified_at"
# WeCom signs a fresh timestamp into every delivery; one much older than this is a replay, not a retry.
TIMESTAMP_TOLERANCE_SECONDS = 600


def callback_crypto() -> CallbackCrypto | None:
    return _crypto_for(settings.WECOM_CALLBACK_TOKEN, settings.WECOM_CALLBACK_AES_KEY, settings.WECOM_CORP_ID)


@functools.lru_cache(maxsize=4)  # one per configuration: the callback's hot path decodes its key once
def _crypto_for(token: str, encoding_aes_key: str, corp_id: str) -> CallbackCrypto | None:
    if not (token and encoding_aes_key and corp_id):
        return None
    return CallbackCrypto(token=token, encoding_aes_key=encoding_aes_key, receive_id=corp_id)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def callback(request):
    if request.method == "POST":
        status, text = callback_receive(
            signature=request.GET.get("msg_signature", ""),
            timestamp=request.GET.get("timestamp", ""),
            nonce=request.GET.get("nonce", ""),
            body=request.body,
        )
        return HttpResponse(text, status=status, content_type="text/plain")
    crypto = callback_crypto()
    if crypto is None:
        status, text = _not_configured()
        return HttpResponse(text, status=status, content_type="text/plain")
    return _verify_url(
        crypto,
        request.GET.get("msg_signature", ""),
        request.GET.get("timestamp", ""),
        request.GET.get("nonce", ""),
        request.GET.get("echostr", ""),
    )


def _not_configured() -> tuple[int, str]:
    logger.error("WeCom callback received but WECOM_CALLBACK_TOKEN/AES_KEY/CORP_ID are not all set")
    return 503, "callback not configured"


def _verify_url(crypto, signature, timestamp, nonce, echostr):
    try:
        crypto.verify(signature, timestamp, nonce, echostr)
        plain = crypto.decrypt(echostr)
    except CallbackCryptoError as exc:
        logger.warning("WeCom URL verification refused: %s", exc)
        return HttpResponseForbidden("signature or key mismatch", content_type="text/plain")
    cache.set(CALLBACK_VERIFIED_KEY, timezone.now().isoformat(), timeout=None)
    logger.info("WeCom verified the callback URL")
    return HttpResponse(plain, content_type="text/plain")


def callback_receive(*, signature: str, timestamp: str, nonce: str, body: bytes) -> tuple[int, str]:
    """An event delivery (POST): verified, decrypted and stored in the inbox. Returns the HTTP status and the plain
    text answer; this view and the WSGI fast path in front of Django (``scrm.wecom.wsgi``) both answer with it."""
    crypto = callback_crypto()
    if crypto is None:
        return _not_configured()
    try:
        encrypted = (parse_xml(body.decode()).findtext("Encrypt") or "").strip()
    except (EventParseError, UnicodeDecodeError):
        return 400, "malformed body"
    if not encrypted:
        return 400, "no Encrypt element"
    try:
        crypto.verify(signature, timestamp, nonce, encrypted)
    except CallbackCryptoError:
        logger.warning("WeCom callback with a bad signature refused")
        return 403, "bad signature"
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS:
        logger.warning("WeCom callback outside the timestamp window refused (timestamp=%r)", timestamp)
        return 403, "stale timestamp"
    try:
        raw_xml = crypto.decrypt(encrypted)
        event = parse_event(raw_xml)
    except CallbackCryptoError as exc:
        # The signature matched, so the token is right: the AES key or the corp id is not.
        logger.error("WeCom callback could not be decrypted (check WECOM_CALLBACK_AES_KEY and corp id): %s", exc)
        return 403, "cannot decrypt"
    except EventParseError as exc:
        logger.error("WeCom callback decrypted to an unreadable event: %s", exc)
        return 400, "malformed event"
    event_id, created = inbox_event_receive(raw_xml=raw_xml, event=event)
    logger.info(
        "WeCom callback %s/%s stored as inbox event %s%s",
        event.event,
        event.change_type,
        event_id,
        "" if created else " (duplicate delivery)",
    )
    return 200, "success"
