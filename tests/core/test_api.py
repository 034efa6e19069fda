"""The API's contract: OpenAPI, authentication, and one JSON error envelope for every failure."""

import pytest
from django.test import Client
from openapi_spec_validator import validate
from rest_framework.authtoken.models import Token

from scrm.core.roles import SALES

pytestmark = pytest.mark.django_db


def test_schema_is_valid_openapi_3(api_client):
    response = api_client.get("/api/schema/?format=json")

    assert response.status_code == 200
    spec = response.json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert {"/api/me/", "/api/auth/token/"} <= set(spec["paths"])


def test_swagger_ui_is_served_without_a_cdn(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"cdn.jsdelivr.net" not in response.content


def test_anonymous_request_gets_a_json_401(api_client):
    response = api_client.get("/api/me/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "not_authenticated"
    assert body["message"] == "Authentication credentials were not provided."
    assert body["request_id"] == response["X-Request-ID"]


def test_errors_speak_chinese_by_default(api_client):
    response = api_client.get("/api/me/")

    assert response.status_code == 401
    assert response.json()["message"] == "身份认证信息未提供。"


def test_token_login_then_token_auth(api_client, make_user):
    make_user("li.lei", role=SALES, password="s3cret-pass")

    issued = api_client.post("/api/auth/token/", {"username": "li.lei", "password": "s3cret-pass"}, format="json")
    token = issued.json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = api_client.get("/api/me/", HTTP_ACCEPT_LANGUAGE="en")

    assert issued.status_code == 200
    assert Token.objects.get(user__username="li.lei").key == token
    assert me.status_code == 200
    assert me.json() == {
        "id": me.json()["id"],
        "username": "li.lei",
        "display_name": "li.lei",
        "roles": ["sales"],
        "is_superuser": False,
        "language": "en",
    }


def test_session_auth_works_for_the_browser(client, make_user):
    make_user("han.meimei", password="pw-12345!")
    client.login(username="han.meimei", password="pw-12345!")

    response = client.get("/api/me/")

    assert response.status_code == 200
    assert response.json()["username"] == "han.meimei"


def test_wrong_password_is_refused_and_issues_no_token(api_client, make_user):
    make_user("li.lei", password="right-pass")

    response = api_client.post(
        "/api/auth/token/", {"username": "li.lei", "password": "wrong"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["fields"] == {"non_field_errors": ["Unable to log in with provided credentials."]}
    assert body["message"] == "Unable to log in with provided credentials."
    assert Token.objects.count() == 0


def test_validation_errors_name_the_field(api_client):
    response = api_client.post("/api/auth/token/", {"username": "li.lei"}, format="json", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert response.json()["fields"] == {"password": ["This field is required."]}
    assert response.json()["message"] == "password: This field is required."


def test_unknown_api_url_is_a_json_404(api_client):
    response = api_client.get("/api/no-such-thing/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


@pytest.mark.urls("tests.core.error_urls")
def test_domain_errors_keep_their_code_and_field(api_client):
    response = api_client.get("/api/test/refused/")

    assert response.status_code == 409
    assert response.json() == {
        "code": "phone_taken",
        "message": "This phone already belongs to another customer.",
        "fields": {"phone": ["This phone already belongs to another customer."]},
        "request_id": response["X-Request-ID"],
    }


@pytest.mark.urls("tests.core.error_urls")
def test_unexpected_error_is_a_json_500_without_internals(api_client, caplog):
    response = api_client.get("/api/test/boom/", HTTP_X_REQUEST_ID="trace-1", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "server_error"
    assert body["request_id"] == "trace-1"
    assert "exploded" not in response.content.decode()
    assert body["message"].startswith("An unexpected error occurred.")
    assert [r.request_id for r in caplog.records if r.name == "scrm.api"] == ["trace-1"]


@pytest.mark.urls("tests.core.error_urls")
def test_unexpected_error_message_is_translated(api_client):
    response = api_client.get("/api/test/boom/")

    assert response.status_code == 500
    assert response.json()["message"].startswith("发生了意外错误")


@pytest.mark.urls("tests.core.error_urls")
def test_error_outside_drf_under_api_is_still_json():
    client = Client(raise_request_exception=False)

    response = client.get("/api/test/plain-boom/", HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "server_error"
