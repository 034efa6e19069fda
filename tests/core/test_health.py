import pytest
from django.core.cache import caches
from django.test import override_settings

from scrm.celery import app as celery_app
from scrm.core.health import describe_error
from tests.helpers import free_port


def test_healthz_answers_without_touching_anything(client):
    # No django_db mark: any database access here would raise.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_every_part_ok(client):
    response = client.get("/readyz")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["failing"] == []
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.fixture
def dead_redis_url():
    """A Redis URL on a loopback port nobody listens on: what a crashed Redis looks like to a client."""
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.mark.django_db
def test_readyz_names_a_dead_redis_as_cache_and_broker(client, dead_redis_url):
    dead_cache = {
        "default": {
            "BACKEND": "scrm.core.cache.RedisCache",
            "LOCATION": dead_redis_url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    previous_broker = celery_app.conf.broker_url
    celery_app.conf.broker_url = dead_redis_url
    try:
        with override_settings(CACHES=dead_cache):
            response = client.get("/readyz")
    finally:
        celery_app.conf.broker_url = previous_broker
        caches.close_all()

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["failing"] == ["cache", "broker"]
    assert body["checks"]["database"]["ok"] is True
    assert "ConnectionError" in body["checks"]["cache"]["error"]
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["broker"]["error"]


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_ok_on_a_live_redis(client, settings):
    assert settings.CACHES["default"]["BACKEND"] == "scrm.core.cache.RedisCache"
    assert celery_app.conf.broker_url.startswith("redis://")

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["failing"] == []


def test_error_descriptions_never_carry_credentials():
    error = ConnectionError("cannot reach redis://:s3cret@cache.internal:6379/0 or postgres://u:pw@db/x")

    description = describe_error(error)

    assert "s3cret" not in description
    assert "pw@" not in description
    assert description == "ConnectionError: cannot reach redis://***@cache.internal:6379/0 or postgres://***@db/x"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_any_host_over_plain_http(client, settings, path):
    settings.SECURE_SSL_REDIRECT = True

    probe = client.get(path, HTTP_HOST="10.0.0.5:8000")
    page = client.get("/admin/login/", HTTP_HOST="10.0.0.5:8000")

    assert probe.status_code == 200
    assert page.status_code == 400  # everything else still validates the Host header
