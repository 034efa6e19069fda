from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.defaults import page_not_found, server_error

from scrm.core.api_errors import error_payload
from scrm.core.errors import SERVER_ERROR_MESSAGE
from scrm.core.health import run_checks
from scrm.core.selectors import heartbeat_ages


@never_cache
def healthz(request):
    """Liveness: the process answers. Deliberately touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    """Readiness: database, cache and broker reachable; 503 naming the failing parts otherwise.

    Worker heartbeats are shown for operators but do not decide readiness: a web process can serve
    without a worker, and a load balancer must not pull it for that.
    """
    checks = run_checks()
    failing = [name for name, result in checks.items() if not result["ok"]]
    body = {"status": "fail" if failing else "ok", "failing": failing, "checks": checks}
    if checks["database"]["ok"]:
        body["heartbeats"] = heartbeat_ages()
    return JsonResponse(body, status=503 if failing else 200)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler404(request, exception):
    if _is_api(request):
        return JsonResponse(error_payload("not_found", _("Not found.")), status=404)
    return page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        return JsonResponse(error_payload("server_error", str(SERVER_ERROR_MESSAGE)), status=500)
    return server_error(request)
