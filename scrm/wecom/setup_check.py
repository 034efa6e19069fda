"""The setup self-test behind ``manage.py wecom_check`` and the admin page.

Most trouble with a WeCom integration is configuration: a secret used for the wrong API (48002), a server IP the
app does not trust (48009/60020), a callback URL that never verified. Each check says in plain words what is
wrong and how to fix it. Read-only: it fetches tokens and calls harmless read APIs, and changes nothing.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Max
from django.utils.translation import gettext as _

from scrm.wecom.client import get_client
from scrm.wecom.crypto import CallbackCrypto, CallbackCryptoError
from scrm.wecom.errors import WeComConfigError, WeComError
from scrm.wecom.models import InboxEvent
from scrm.wecom.views import CALLBACK_VERIFIED_KEY

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    message: str
    fix: str = ""


# kind → (what it is for, a harmless call that needs that secret's permission)
PROBES: dict[str, tuple[Callable[[], str], Callable]] = {
    "contact": (
        lambda: _("客户联系 secret (customers, groups, tags, mass messages)"),
        lambda client: client.external_contact.get_follow_user_list(),
    ),
    "agent": (
        lambda: _("self-built app secret (sidebar JS-SDK, app messages)"),
        lambda client: client.jsapi.get_agent_jsapi_ticket(),
    ),
    "archive": (lambda: _("会话存档 secret (chat archive)"), lambda client: client.msgaudit.get_permit_user_list()),
}
OPTIONAL_KINDS = {"agent", "archive"}


def run_setup_checks() -> list[CheckResult]:
    results = [check_corp_id()]
    results += [check_secret(kind) for kind in PROBES]
    results += check_callback()
    return results


def check_corp_id() -> CheckResult:
    if not settings.WECOM_CORP_ID:
        return CheckResult(
            "corp", FAIL, _("WECOM_CORP_ID is not set."), _("Copy 企业ID from 我的企业 → 企业信息 into WECOM_CORP_ID.")
        )
    return CheckResult(
        "corp",
        OK,
        _("Corp id %(corp)s, API at %(url)s") % {"corp": settings.WECOM_CORP_ID, "url": settings.WECOM_API_BASE_URL},
    )


def check_secret(kind: str) -> CheckResult:
    purpose, probe = PROBES[kind]
    name = f"secret:{kind}"
    try:
        client = get_client(kind)
    except WeComConfigError as exc:
        status = WARN if kind in OPTIONAL_KINDS else FAIL
        return CheckResult(
            name,
            status,
            _("%(purpose)s: %(setting)s is not set.") % {"purpose": purpose(), "setting": exc.setting},
            str(exc.hint),
        )
    try:
        client.fetch_access_token()
        probe(client)
    except WeComError as exc:
        return CheckResult(
            name,
            FAIL,
            f"{purpose()}: {exc}",
            str(exc.hint or _("See the errcode in WeCom's global error code list (全局错误码).")),
        )
    return CheckResult(name, OK, _("%(purpose)s: token and permission OK.") % {"purpose": purpose()})


def check_callback() -> list[CheckResult]:
    token, aes_key = settings.WECOM_CALLBACK_TOKEN, settings.WECOM_CALLBACK_AES_KEY
    if not (token and aes_key):
        return [
            CheckResult(
                "callback",
                FAIL,
                _("WECOM_CALLBACK_TOKEN or WECOM_CALLBACK_AES_KEY is not set."),
                _(
                    "In 客户联系 → API → 接收事件服务器, generate Token and EncodingAESKey, put them in the two "
                    "variables, then save the URL https://<your host>/wecom/callback there."
                ),
            )
        ]
    try:
        crypto = CallbackCrypto(token=token, encoding_aes_key=aes_key, receive_id=settings.WECOM_CORP_ID)
        if crypto.decrypt(crypto.encrypt("self-test")) != "self-test":
            raise CallbackCryptoError("round trip changed the message")
    except CallbackCryptoError as exc:
        return [
            CheckResult(
                "callback",
                FAIL,
                _("Callback keys unusable: %(error)s") % {"error": exc},
                _("WECOM_CALLBACK_AES_KEY must be the 43-character EncodingAESKey exactly as WeCom shows it."),
            )
        ]
    results = [CheckResult("callback", OK, _("Callback token and key decrypt our own test message."))]
    verified_at = cache.get(CALLBACK_VERIFIED_KEY)
    last_event = InboxEvent.objects.aggregate(last=Max("received_at"))["last"]
    if verified_at or last_event:
        seen = _("last event received %(when)s") % {"when": last_event} if last_event else _("no event yet")
        results.append(
            CheckResult("callback:reached", OK, _("WeCom reaches /wecom/callback (%(seen)s).") % {"seen": seen})
        )
    else:
        results.append(
            CheckResult(
                "callback:reached",
                WARN,
                _("WeCom has never called /wecom/callback."),
                _(
                    "Save the URL https://<your host>/wecom/callback with the same Token and EncodingAESKey in "
                    "客户联系 → API → 接收事件服务器; WeCom verifies it at once. The host must be reachable over HTTPS."
                ),
            )
        )
    failed = InboxEvent.objects.filter(status=InboxEvent.Status.FAILED).count()
    if failed:
        results.append(
            CheckResult(
                "callback:inbox",
                WARN,
                _("%(count)d callback events failed processing.") % {"count": failed},
                _("Open 回调收件箱 in the admin, read the errors, fix the cause and replay them."),
            )
        )
    return results
