"""The public page behind the permanent QR (no login): the code's name and WeCom's current QR to long-press, a
friendly message when the code is paused, full or not ready yet, 404 for a token nobody has."""

import pytest
from django.conf import settings

from groups.models import GroupCode

pytestmark = pytest.mark.django_db


@pytest.fixture(name="visitor")
def visitor_fixture(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def make(**values) -> GroupCode:
    return GroupCode.objects.create(name="南京西路店福利群", state=values.pop("state", "s1"), **values)


def test_an_open_code_shows_wecom_qr_to_long_press(visitor):
    code = make(qr_code_url="https://wework.qpic.cn/wwpic/sim/abc/0")

    response = visitor.get(f"/g/{code.public_token}/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "南京西路店福利群" in body
    assert 'src="https://wework.qpic.cn/wwpic/sim/abc/0"' in body
    assert "Press and hold the QR code" in body
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"status": "paused", "qr_code_url": "https://wework.qpic.cn/x"}, "not taking new members at the moment"),
        ({"status": "full", "qr_code_url": "https://wework.qpic.cn/x"}, "All our groups are full right now"),
        ({"qr_code_url": ""}, "The group is being prepared"),
    ],
)
def test_a_code_that_cannot_take_joiners_says_so(visitor, values, message):
    code = make(**values)

    response = visitor.get(f"/g/{code.public_token}/")

    assert response.status_code == 200
    body = response.content.decode()
    assert message in body
    assert "<img" not in body


def test_an_unknown_token_is_not_found(visitor):
    make()

    assert visitor.get("/g/no-such-token/").status_code == 404
    assert visitor.post(f"/g/{GroupCode.objects.get().public_token}/").status_code == 405
