"""Helpers shared by tests (fixtures live in conftest.py)."""

import base64
import os
import socket
import time
from urllib.parse import quote

from django.conf import settings


def is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def database_url_for_subprocess() -> str:
    """The URL of the test database (after pytest-django created it), for worker subprocesses."""
    db = settings.DATABASES["default"]
    if is_postgres():
        auth = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            auth += ":" + quote(db["PASSWORD"], safe="")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def subprocess_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        SCRM_VAR_DIR=str(settings.VAR_DIR),
        DATABASE_URL=database_url_for_subprocess(),
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def wait_until(predicate, *, timeout: float = 30, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(interval)
    return predicate()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- WeCom test corp: the simulator and the app's settings share these -------------------------------------------

CORP_ID = "wwtestcorp"
TOKEN = "callback-token"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
SIM_SECRETS = {"contact": "contact-secret", "agent": "agent-secret", "archive": "archive-secret"}
SIM_AGENT_ID = "1000002"


def wecom_env(simulator) -> dict[str, str]:
    """Environment for a process (a Celery worker) that must talk to ``simulator`` as the test process does."""
    return {
        "WECOM_API_BASE_URL": simulator.base_url,
        "WECOM_CORP_ID": CORP_ID,
        "WECOM_CONTACT_SECRET": SIM_SECRETS["contact"],
        "WECOM_AGENT_SECRET": SIM_SECRETS["agent"],
        "WECOM_ARCHIVE_SECRET": SIM_SECRETS["archive"],
        "WECOM_AGENT_ID": SIM_AGENT_ID,
        "WECOM_CALLBACK_TOKEN": TOKEN,
        "WECOM_CALLBACK_AES_KEY": AES_KEY,
        "WECOM_RATE_LIMIT_PER_MINUTE": "0",
    }


def event_xml(event: str, change_type: str, create_time: int = 1700000000, **fields: str) -> str:
    extra = "".join(f"<{name}><![CDATA[{value}]]></{name}>" for name, value in fields.items())
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event><ChangeType><![CDATA[{change_type}]]></ChangeType>{extra}</xml>"
    )
