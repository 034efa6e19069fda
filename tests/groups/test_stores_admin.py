"""The stores admin: the list by city with code, map link and the router's QR links; the form refuses a bad
coordinate on its field and saves through the services (rounded, audited); open and close actions; the CSV import
lists each error by row and column and stores nothing, or imports; sales may look but change nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from groups.models import Store
from scrm.core.models import AuditLog
from scrm.core.roles import OPS, SALES
from tests.groups.store_fixtures import CENTRE, code, store

pytestmark = pytest.mark.django_db

LIST = "/admin/groups/store/"
ADD = "/admin/groups/store/add/"
IMPORT = "/admin/groups/store/import/"


@pytest.fixture
def ops(client, make_user, settings):
    client.force_login(make_user("ops1", role=OPS, is_staff=True))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def sales(client, make_user, settings):
    client.force_login(make_user("sales1", role=SALES, is_staff=True))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def form(**values) -> dict:
    return {
        "name": "人民广场店",
        "city": "上海市",
        "address": "",
        "latitude": "31.2304",
        "longitude": "121.4737",
        **values,
    }


def upload(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("stores.csv", text.encode("utf-8"), content_type="text/csv")


def test_the_list_shows_code_map_and_router(ops):
    store("人民广场店", CENTRE, group_code=code("s-rmgc"))
    store("王府井店", (39.9139, 116.4103), city="北京市")

    body = ops.get(LIST, {"city": "上海市"}).content.decode()

    assert "人民广场店" in body
    assert "王府井店" not in body
    assert "code s-rmgc (taking joiners)" in body
    assert "https://uri.amap.com/marker?position=121.473700%2C31.230400" in body
    assert "coordinate=wgs84" in body
    assert "http://testserver/stores/nearest/" in body
    assert "/api/groups/stores/qr.png?download=1" in body
    assert IMPORT in body


def test_the_form_refuses_a_bad_coordinate_on_its_field_and_saves_through_the_service(ops):
    refused = ops.post(ADD, form(latitude="121.47", longitude="31.23"))

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors == {
        "latitude": ["A latitude is between -90 and 90 (were latitude and longitude swapped?)."]
    }
    assert Store.objects.count() == 0

    saved = ops.post(ADD, form(latitude="31.23041611", group_code=code("s1").pk))
    assert saved.status_code == 302
    stored = Store.objects.get()
    assert (str(stored.latitude), stored.group_code.state) == ("31.230416", "s1")

    duplicate = ops.post(ADD, form())
    assert duplicate.context["adminform"].form.errors == {"name": ["上海市 already has a store named “人民广场店”."]}
    assert list(AuditLog.objects.values_list("action", flat=True)) == ["create"]


def test_open_and_close_actions(ops):
    shops = [store("人民广场店", CENTRE), store("王府井店", (39.9139, 116.4103), city="北京市")]

    ops.post(LIST, {"action": "close_stores", "_selected_action": [s.pk for s in shops]})
    ops.post(LIST, {"action": "open_stores", "_selected_action": [shops[0].pk]})

    assert dict(Store.objects.values_list("name", "is_open")) == {"人民广场店": True, "王府井店": False}
    assert sorted(AuditLog.objects.exclude(action="create").values_list("action", flat=True)) == [
        "close",
        "close",
        "open",
    ]


def test_the_import_lists_errors_by_row_and_column_and_stores_nothing(ops):
    response = ops.post(
        IMPORT,
        {
            "file": upload(
                "name,city,latitude,longitude\n人民广场店,上海市,31.23,121.47\n陆家嘴店,上海市,31.24,west\n"
            ),
            "coordinate_system": "wgs84",
        },
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "<tr><td>3</td><td>longitude</td><td>“west” is not a number of degrees.</td></tr>" in body
    assert Store.objects.count() == 0


def test_the_import_stores_a_good_file(ops):
    code("s-rmgc")
    response = ops.post(
        IMPORT,
        {
            "file": upload("门店名称,城市,纬度,经度,群活码\n人民广场店,上海市,31.23,121.47,s-rmgc\n"),
            "coordinate_system": "wgs84",
        },
        follow=True,
    )

    assert response.redirect_chain == [(LIST, 302)]
    assert "Stores imported: 1 new, 0 updated, 0 unchanged." in response.content.decode()
    assert Store.objects.get().group_code.state == "s-rmgc"


def test_sales_may_look_but_change_nothing(sales):
    shop = store("人民广场店", CENTRE)

    listed = sales.get(LIST)
    assert listed.status_code == 200
    assert IMPORT not in listed.content.decode()
    assert 'name="_save"' not in sales.get(f"{LIST}{shop.pk}/change/").content.decode()
    assert sales.get(ADD).status_code == 403
    assert sales.get(IMPORT).status_code == 403
    assert sales.post(IMPORT, {"file": upload("name,city,latitude,longitude\n店,上海市,31,121\n")}).status_code == 403
    sales.post(LIST, {"action": "close_stores", "_selected_action": [shop.pk]})
    assert Store.objects.get().is_open is True
    assert Store.objects.count() == 1
