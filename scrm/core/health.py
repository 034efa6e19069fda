"""Readiness checks for /readyz: can this process reach its database, cache and broker right now?"""

import re
import time
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection

from scrm.celery import app as celery_app

# An error message must never leak a credential from a connection URL.
_URL_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]*@")


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("value written to the cache could not be read back")
    cache.delete(key)


def check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=3)
        # Redis connects lazily: open the channel and talk to the server for real.
        client = getattr(conn.default_channel, "client", None)
        if client is not None and hasattr(client, "ping"):
            client.ping()


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


def run_checks() -> dict[str, dict]:
    results = {}
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
        except Exception as exc:  # any failure is a "not ready", reported by name
            results[name] = {"ok": False, "error": describe_error(exc)}
        else:
            results[name] = {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}
    return results


def describe_error(exc: BaseException) -> str:
    return _URL_CREDENTIALS.sub(r"\1***@", f"{type(exc).__name__}: {exc}")[:300]
