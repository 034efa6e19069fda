"""The permanent QR of a group live code (群活码) and the public page it leads to (no login).

The QR image we serve encodes our own URL, ``https://<host>/g/<public_token>/``, never WeCom's: the token never
changes, so the printed code keeps working however often the groups behind it rotate or WeCom's join_way is made
again. The page shows WeCom's current QR image of the join_way (``qr_code_url``), which a customer long-presses
in WeChat to join; a paused or full code gets a friendly message instead, an unknown token a 404.

The absolute URL is ``groups.qr.public_url``'s (``SITE_URL``, else the request's address).
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_safe

from groups.models import GroupCode
from groups.qr import QR_KINDS, public_url, qr_image
from groups.selectors.group_codes import group_code_by_token


def group_code_public_url(code: GroupCode, request: HttpRequest | None = None) -> str:
    """The permanent URL the code's QR encodes."""
    return public_url(reverse("groups-code-landing", args=[code.public_token]), request)


def group_code_qr(code: GroupCode, *, request: HttpRequest | None, kind: str) -> bytes:
    """The permanent QR image (``kind`` "png" or "svg") of the code's public URL."""
    return qr_image(group_code_public_url(code, request), kind=kind)


def group_code_qr_response(code: GroupCode, *, request: HttpRequest, kind: str) -> HttpResponse:
    """The QR image as a download named after the code's id."""
    response = HttpResponse(group_code_qr(code, request=request, kind=kind), content_type=QR_KINDS[kind])
    response["Content-Disposition"] = f'attachment; filename="group-code-{code.pk}.{kind}"'
    return response


def landing_state(code: GroupCode) -> str:
    """What the page shows: ``open`` (WeCom's QR), ``paused``, ``full`` or ``preparing`` (no QR from WeCom yet)."""
    if code.status == GroupCode.Status.PAUSED:
        return "paused"
    if code.status == GroupCode.Status.FULL:
        return "full"
    return "open" if code.qr_code_url else "preparing"


@require_safe
def group_code_landing(request: HttpRequest, token: str) -> HttpResponse:
    code = group_code_by_token(token=token)
    if code is None:
        raise Http404("no such group live code")
    response = render(request, "groups/group_codes/landing.html", {"code": code, "state": landing_state(code)})
    add_never_cache_headers(response)  # WeCom's QR behind it changes as groups fill up
    return response


urlpatterns = [
    path("g/<str:token>/", group_code_landing, name="groups-code-landing"),
]
