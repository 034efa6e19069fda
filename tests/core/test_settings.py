"""Settings switch by environment alone. Each case loads the real settings module in a fresh interpreter with
exactly the variables given, as a deployment would."""

import json
import os
import secrets
import stat
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from scrm.celery import app as celery_app
from tests.conftest import ROOT

PROBE = """
import json, django
from django.conf import settings
from scrm.celery import app
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"), "port": db.get("PORT"),
    "conn_max_age": db.get("CONN_MAX_AGE"),
    "cache": settings.CACHES["default"]["BACKEND"], "cache_location": settings.CACHES["default"]["LOCATION"],
    "broker": app.conf.broker_url, "backend": app.conf.result_backend,
    "time_zone": settings.TIME_ZONE, "celery_tz": app.conf.timezone, "language": settings.LANGUAGE_CODE,
    "debug": settings.DEBUG, "secret_key": settings.SECRET_KEY, "var_dir": str(settings.VAR_DIR),
}))
"""


def load_settings(tmp_path, **variables) -> dict:
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "scrm.settings.base",
        "SCRM_ENV_FILE": os.devnull,  # a developer's .env must not leak into these cases
        "SCRM_VAR_DIR": str(tmp_path / "var"),
        **variables,
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_no_variables_means_the_embedded_default(tmp_path):
    loaded = load_settings(tmp_path)

    var = tmp_path / "var"
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["name"] == str(var / "db.sqlite3")
    assert loaded["cache"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert loaded["broker"] == "filesystem://"
    assert loaded["backend"] == f"file://{var / 'celery-results'}"
    assert (var / "broker" / "queue").is_dir()
    assert loaded["time_zone"] == loaded["celery_tz"] == "Asia/Shanghai"
    assert loaded["language"] == "zh-hans"
    assert loaded["debug"] is False


def test_generated_secret_key_is_private_and_stable(tmp_path):
    first = load_settings(tmp_path)["secret_key"]
    second = load_settings(tmp_path)["secret_key"]

    key_file = tmp_path / "var" / "secret_key"
    assert first == second == key_file.read_text()
    assert len(first) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_secret_key_from_the_environment_wins(tmp_path):
    loaded = load_settings(tmp_path, SECRET_KEY="k" * 60)

    assert loaded["secret_key"] == "k" * 60
    assert not (tmp_path / "var" / "secret_key").exists()


def test_database_url_switches_to_postgresql(tmp_path):
    loaded = load_settings(tmp_path, DATABASE_URL="postgres://scrm:pw@db.internal:5433/scrm")

    assert loaded["engine"] == "django.db.backends.postgresql"
    assert (loaded["name"], loaded["host"], loaded["port"]) == ("scrm", "db.internal", 5433)
    assert loaded["conn_max_age"] == 60
    assert loaded["broker"] == "filesystem://"  # the broker follows REDIS_URL only


def test_redis_url_makes_redis_broker_backend_and_cache(tmp_path):
    loaded = load_settings(tmp_path, REDIS_URL="redis://cache.internal:6380/2", TIME_ZONE="UTC")

    assert loaded["broker"] == loaded["backend"] == "redis://cache.internal:6380/2"
    assert loaded["cache"] == "scrm.core.cache.RedisCache"
    assert loaded["cache_location"] == "redis://cache.internal:6380/2"
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert not (tmp_path / "var" / "broker").exists()
    assert loaded["time_zone"] == loaded["celery_tz"] == "UTC"


def test_deploy_check_flags_a_missing_secret_key(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "SCRM_ENV_FILE": os.devnull,
        "SCRM_VAR_DIR": str(tmp_path / "var"),
        "ALLOWED_HOSTS": "scrm.example.com",
    }
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]

    without_key = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    with_key = subprocess.run(
        command,
        cwd=ROOT,
        env={**env, "SECRET_KEY": secrets.token_urlsafe(50)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert without_key.returncode == 1
    assert "scrm.W001" in without_key.stderr
    assert with_key.returncode == 0, with_key.stderr


@pytest.mark.postgres
@pytest.mark.django_db
def test_tests_really_run_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        (version,) = cursor.fetchone()

    assert connection.vendor == "postgresql"
    assert version.startswith("PostgreSQL")


@pytest.mark.redis
def test_tests_really_run_on_redis():
    cache.set("settings-probe", {"ok": 1}, timeout=30)

    assert settings.CACHES["default"]["BACKEND"] == "scrm.core.cache.RedisCache"
    assert cache.get("settings-probe") == {"ok": 1}
    assert celery_app.conf.broker_url == settings.REDIS_URL
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        assert conn.default_channel.client.ping() is True


@pytest.mark.redis
def test_the_redis_cache_keeps_one_client_per_pool_and_behaves_as_django_s():
    client = cache._cache.get_client(write=True)

    assert cache.add("cache-probe", 1, timeout=30) is True
    assert cache.add("cache-probe", 2, timeout=30) is False  # SET NX: the first writer wins
    assert cache.get("cache-probe") == 1
    assert cache._cache.get_client(write=True) is client  # not a new redis.Redis per call
