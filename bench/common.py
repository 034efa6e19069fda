"""What the benchmark scripts share (each runs as ``python bench/<name>.py``, so this folder is on sys.path)."""

import base64
import os
import socket
import tempfile


def free_port() -> int:
    """A port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def django_for_benchmark(name: str) -> None:
    """Set Django up in this process as the benchmarks run it (DEBUG off: it keeps every query in memory; a
    throwaway var dir unless SCRM_VAR_DIR is set), then migrate the DATABASE_URL database and say which it is."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="scrm.settings.base",
        SCRM_VAR_DIR=os.environ.get("SCRM_VAR_DIR") or tempfile.mkdtemp(prefix=f"scrm-bench-{name}-"),
        DEBUG="false",
        SECRET_KEY=os.environ.get("SECRET_KEY") or base64.b64encode(os.urandom(32)).decode(),
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        ALLOWED_HOSTS="testserver",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
