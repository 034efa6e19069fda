import re
import uuid

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from scrm.core.logging import reset_request_id, set_request_id

# Accept a caller's id (load balancer, WeCom retry tracing) only if it is short and harmless to log.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_for(incoming: str) -> str:
    """The caller's ``X-Request-ID`` if it is safe to log, else a new id."""
    return incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives every request an id (``X-Request-ID`` in, or a new one), for logs, errors and the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_for(request.headers.get("X-Request-ID", ""))
        request.request_id = request_id
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response["X-Request-ID"] = request_id
        return response


class HealthProbeMiddleware:
    """Answers /healthz and /readyz before host validation and the HTTPS redirect: load balancers and container
    health checks probe by bare IP over plain HTTP, and a 400 DisallowedHost or a 301 would read as "down"."""

    def __init__(self, get_response):
        from scrm.core.views import healthz, readyz

        self.probes = {"/healthz": healthz, "/readyz": readyz}
        self.get_response = get_response

    def __call__(self, request):
        probe = self.probes.get(request.path_info)
        return probe(request) if probe else self.get_response(request)


class LanguageMiddleware(LocaleMiddleware):
    """Chinese first. The admin and the sidebar speak Simplified Chinese unless the user picked English with the
    language switch (a cookie) — a browser's English locale is not a choice ops staff in China made. API clients
    may ask with Accept-Language."""

    def process_request(self, request):
        if request.path_info.startswith("/api/"):
            language = translation.get_language_from_request(request)
        else:
            try:
                chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) or settings.LANGUAGE_CODE
                language = translation.get_supported_language_variant(chosen)
            except LookupError:
                language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
