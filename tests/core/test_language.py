"""Chinese first: the admin speaks Simplified Chinese whatever the browser's locale, English on request."""

import pytest

pytestmark = pytest.mark.django_db


def test_admin_is_chinese_even_for_an_english_browser(client):
    response = client.get("/admin/login/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")

    assert response.status_code == 200
    assert "<title>登录 | SCRM 管理</title>" in response.content.decode()
    assert response["Content-Language"] == "zh-hans"


def test_language_switch_turns_the_admin_english(client):
    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/admin/login/"})
    response = client.get("/admin/login/")

    assert switched.status_code == 302
    assert "<title>Log in | SCRM admin</title>" in response.content.decode()
    assert '<option value="zh-hans">简体中文</option>' in response.content.decode()


def test_unknown_language_cookie_falls_back_to_chinese(client):
    client.cookies["django_language"] = "xx"

    response = client.get("/admin/login/")

    assert response["Content-Language"] == "zh-hans"


def test_api_clients_may_ask_for_english(api_client):
    english = api_client.get("/api/me/", HTTP_ACCEPT_LANGUAGE="en")
    default = api_client.get("/api/me/")

    assert english.json()["message"] == "Authentication credentials were not provided."
    assert default.json()["message"] == "身份认证信息未提供。"
