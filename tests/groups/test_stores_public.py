"""The public store router: a location or a city redirects (302) to the chosen store's group code page; no
location, a refusal, bad values or no match get the fallback list (bad values: 400, never a 500); the page without
parameters asks the browser for its location. The router's QR code encodes its absolute URL."""

import pytest
from django.utils import translation

from groups.models import GroupCode
from scrm.core.roles import OPS, SALES
from tests.groups.qr_reading import decode, png_modules
from tests.groups.store_fixtures import CENTRE, code, offset, store

pytestmark = pytest.mark.django_db

URL = "/stores/nearest/"


@pytest.fixture
def lang_en(client, settings):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def stores():
    near = store("人民广场店", offset(CENTRE, north_km=1), group_code=code("s-near"))
    far = store("陆家嘴店", offset(CENTRE, east_km=4), group_code=code("s-far"))
    closed = store("关店", CENTRE, group_code=code("s-closed"), is_open=False)
    beijing = store("王府井店", (39.9139, 116.4103), city="北京市", group_code=code("s-beijing"))
    return {"near": near, "far": far, "closed": closed, "beijing": beijing}


def test_a_location_redirects_to_the_nearest_stores_code_page(client, stores):
    response = client.get(URL, {"lat": str(CENTRE[0]), "lng": str(CENTRE[1])})

    assert response.status_code == 302
    assert response["Location"] == f"/g/{stores['near'].group_code.public_token}/"
    assert "no-store" in response["Cache-Control"]


def test_a_city_redirects_to_that_citys_store(client, stores):
    response = client.get(URL, {"city": "北京"})

    assert response.status_code == 302
    assert response["Location"] == f"/g/{stores['beijing'].group_code.public_token}/"


def test_without_parameters_the_page_asks_for_the_location(lang_en, stores):
    response = lang_en.get(URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert "navigator.geolocation.getCurrentPosition" in body
    assert 'href="?error=skip"' in body
    assert "Finding the store nearest to you" in body


@pytest.mark.parametrize(
    "params",
    [
        {"lat": "abc", "lng": "121.47"},
        {"lat": "31.23"},
        {"lat": "95", "lng": "121.47"},
        {"lat": "31.23", "lng": "nan"},
        {"lat": "31.23", "lng": "1e400"},
    ],
)
def test_bad_coordinates_get_the_fallback_with_a_message(lang_en, stores, params):
    response = lang_en.get(URL, params)

    assert response.status_code == 400
    body = response.content.decode()
    assert "We could not read your location. Pick a store below." in body
    assert f'href="/g/{stores["near"].group_code.public_token}/"' in body
    assert stores["closed"].group_code.public_token not in body


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("denied", "You did not share your location. Pick a store below."),
        ("timeout", "Finding your location took too long. Pick a store below."),
        ("anything", "Your phone could not tell your location. Pick a store below."),
    ],
)
def test_no_location_gets_the_fallback_listing_open_stores_by_city(lang_en, stores, error, message):
    response = lang_en.get(URL, {"error": error})

    assert response.status_code == 200
    body = response.content.decode()
    assert message in body
    assert body.index("上海市") < body.index("人民广场店") < body.index("陆家嘴店") < body.index("北京市")
    assert "关店" not in body


def test_an_unknown_city_or_no_store_at_all_gets_the_fallback(lang_en, stores):
    unknown = lang_en.get(URL, {"city": "杭州"})
    GroupCode.objects.update(status=GroupCode.Status.PAUSED)
    nothing = lang_en.get(URL, {"lat": "31.23", "lng": "121.47"})

    assert unknown.status_code == 200
    assert "We have no open store in 杭州 yet. Pick one below." in unknown.content.decode()
    assert nothing.status_code == 200
    assert "No store is taking new members right now." in nothing.content.decode()
    assert 'id="no-stores"' in nothing.content.decode()


def test_the_pages_speak_chinese_by_default(client, stores):
    with translation.override("zh-hans"):
        response = client.get(URL, {"error": "denied"})

    assert response.status_code == 200
    assert response["Content-Language"] == "zh-hans"


def test_the_router_qr_code_encodes_its_absolute_url(api_client, make_user):
    api_client.force_authenticate(make_user("sales1", role=SALES))

    png = api_client.get("/api/groups/stores/qr.png", HTTP_ACCEPT="image/png")
    svg = api_client.get("/api/groups/stores/qr.svg", {"download": "1"})

    assert png.status_code == 200
    assert png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert png["X-QR-URL"] == "http://testserver/stores/nearest/"
    assert svg.status_code == 200
    assert svg["Content-Type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    assert svg["Content-Disposition"] == 'attachment; filename="stores-nearest-qr.svg"'


def test_the_qr_code_needs_a_login_and_the_view_permission(api_client, make_user):
    assert api_client.get("/api/groups/stores/qr.png").status_code == 401
    api_client.force_authenticate(make_user("nobody"))
    assert api_client.get("/api/groups/stores/qr.png").status_code == 403
    api_client.force_authenticate(make_user("ops1", role=OPS))
    assert api_client.get("/api/groups/stores/qr.png").status_code == 200


def test_with_site_url_the_router_qr_code_encodes_the_public_address(api_client, make_user, settings):
    settings.SITE_URL = "https://scrm.example.com/"
    api_client.force_authenticate(make_user("ops1", role=OPS))

    png = api_client.get("/api/groups/stores/qr.png")

    assert decode(png_modules(png.content, scale=10, border=4)) == "https://scrm.example.com/stores/nearest/"
