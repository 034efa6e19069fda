"""Shared fixtures, and the rule about services.

Tests marked ``postgres`` or ``redis`` need that service (DATABASE_URL / REDIS_URL). Without it they are
skipped with the reason — except under ``CI=true``, where a missing or unreachable service fails the run
before any test starts: CI must never go green by skipping.
"""

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from scrm.queues import Queue
from tests.helpers import CORP_ID, SIM_AGENT_ID, SIM_SECRETS, is_postgres, subprocess_env, wecom_env

ROOT = Path(__file__).resolve().parent.parent


def _service_problems() -> list[str]:
    problems = []
    if not is_postgres():
        problems.append("DATABASE_URL does not point at PostgreSQL")
    else:
        import psycopg2

        db = settings.DATABASES["default"]
        try:
            psycopg2.connect(
                dbname=db["NAME"],
                user=db["USER"],
                password=db["PASSWORD"],
                host=db["HOST"],
                port=db["PORT"] or 5432,
                connect_timeout=5,
            ).close()
        except psycopg2.Error as exc:
            problems.append(f"PostgreSQL unreachable: {exc}".strip())
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis unreachable: {exc}")
    return problems


def pytest_sessionstart(session):
    if os.environ.get("CI", "").lower() == "true" and (problems := _service_problems()):
        pytest.exit("CI=true requires PostgreSQL and Redis: " + "; ".join(problems), returncode=3)


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://…")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL=redis://…")
    for item in items:
        if "postgres" in item.keywords and not is_postgres():
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the product's language: a request the test client made with another Accept-Language
    leaves that language active in the thread (a server activates one per request, a test process does not)."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def make_user(db):
    from django.contrib.auth.models import Group, User

    def make(username: str = "user", *, role: str | None = None, password: str = "pw-12345!", **fields) -> User:
        user = User.objects.create_user(username=username, password=password, **fields)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def ops_client(client, make_user):
    """The Django test client, logged in as a staff user with the ops role."""
    from scrm.core.roles import OPS

    client.force_login(make_user("ops1", role=OPS, is_staff=True))
    return client


@pytest.fixture(scope="session")
def simulator():
    """The loopback WeCom, shared by the test process and the Celery worker (tests reset it)."""
    from scrm.wecom.simulator import SimulatorServer

    server = SimulatorServer(corp_id=CORP_ID, secrets=SIM_SECRETS, agent_id=SIM_AGENT_ID, port=0).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory, simulator):
    """A real ``celery worker`` process on the configured broker, the test database and the simulator."""
    from scrm.celery import app
    from scrm.core.tasks import ping

    if not settings.REDIS_URL:
        shutil.rmtree(settings.BROKER_DIR / "queue", ignore_errors=True)
        (settings.BROKER_DIR / "queue").mkdir(parents=True)
    else:
        app.control.purge()
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    name = f"test-{uuid.uuid4().hex[:8]}@%h"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "scrm",
                "worker",
                "-l",
                "info",
                "-c",
                "1",
                "-Q",
                Queue.all_names(),
                "-n",
                name,
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=subprocess_env(**wecom_env(simulator)),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        ping.delay("warm-up").get(timeout=60)
    except Exception:
        proc.kill()
        pytest.fail(f"celery worker did not start:\n{log.read_text()[-3000:]}")
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 9)
