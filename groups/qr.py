"""Printed QR codes (a group live code's, the store router's): the public URL each encodes and its image.

The URL is ``SITE_URL`` + the path when ``SITE_URL`` is set, so a code downloaded from an internal admin address
still works on a poster; otherwise the address the request came in on (behind a proxy, what it forwards: see
``SECURE_PROXY_SSL_HEADER`` and ``ALLOWED_HOSTS``).
"""

from __future__ import annotations

import io

import segno
from django.conf import settings
from django.http import HttpRequest

QR_KINDS = {"png": "image/png", "svg": "image/svg+xml"}
QR_ERROR = "m"  # 15 % of the modules may be lost (a crease, a smudge on a poster) and it still reads
QR_SCALE = 10  # pixels (PNG) or user units (SVG) per module: about 450 px for a typical URL, fine for print
QR_BORDER = 4  # the quiet zone the QR standard asks for


def public_url(path: str, request: HttpRequest | None = None) -> str:
    site = str(settings.SITE_URL or "").rstrip("/")
    if site:
        return site + path
    if request is None:
        raise ValueError("an absolute URL needs the request (or settings.SITE_URL)")
    return request.build_absolute_uri(path)


def qr_image(url: str, *, kind: str) -> bytes:
    """The QR code of ``url`` as a PNG or SVG (``kind``); the same URL always gives the same bytes."""
    if kind not in QR_KINDS:
        raise ValueError(f"kind must be one of {sorted(QR_KINDS)}")
    qr = segno.make(url, error=QR_ERROR, micro=False, boost_error=False)
    out = io.BytesIO()
    qr.save(out, kind=kind, scale=QR_SCALE, border=QR_BORDER)
    return out.getvalue()
