"""The stores API: operations create, read, edit, open/close and delete stores (a bad coordinate is a 400 naming
the field, nothing stored); sales and integrators read, including the nearest routable store to a point; sales
write nothing."""

import pytest
from rest_framework.test import APIClient

from groups.models import Store
from scrm.core.models import AuditLog
from scrm.core.roles import OPS, SALES
from tests.groups.store_fixtures import CENTRE, code, offset, store

pytestmark = pytest.mark.django_db

STORES = "/api/groups/stores/"
NEAREST = "/api/groups/stores/nearest/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.fixture
def ops(make_user) -> APIClient:
    return client_for(make_user("ops1", role=OPS))


@pytest.fixture
def sales(make_user) -> APIClient:
    return client_for(make_user("sales1", role=SALES))


def test_create_read_list_edit_close_delete(ops):
    group_code = code("s-rmgc")
    created = ops.post(
        STORES,
        {
            "name": "人民广场店",
            "city": "上海市",
            "latitude": 31.23041611,
            "longitude": 121.4737,
            "group_code": group_code.pk,
        },
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    store_id = body["id"]
    assert {k: body[k] for k in ("name", "latitude", "is_open", "group_code_name", "routable", "landing_path")} == {
        "name": "人民广场店",
        "latitude": 31.230416,
        "is_open": True,
        "group_code_name": "code s-rmgc",
        "routable": True,
        "landing_path": f"/g/{group_code.public_token}/",
    }

    assert ops.get(f"{STORES}{store_id}/").json()["city"] == "上海市"
    listed = ops.get(STORES, {"city": "上海"}).json()
    assert [row["id"] for row in listed["results"]] == [store_id]
    assert ops.get(STORES, {"city": "北京"}).json()["count"] == 0

    closed = ops.patch(f"{STORES}{store_id}/", {"is_open": False}, format="json")
    assert (closed.status_code, closed.json()["is_open"], closed.json()["routable"]) == (200, False, False)
    moved = ops.patch(f"{STORES}{store_id}/", {"address": "南京东路 1 号", "group_code": None}, format="json")
    assert (moved.json()["address"], moved.json()["group_code"], moved.json()["landing_path"]) == (
        "南京东路 1 号",
        None,
        None,
    )

    assert ops.delete(f"{STORES}{store_id}/").status_code == 204
    assert Store.objects.count() == 0
    assert list(AuditLog.objects.order_by("pk").values_list("action", flat=True)) == [
        "create",
        "close",
        "update",
        "delete",
    ]


def test_a_bad_coordinate_is_a_400_naming_the_field_and_nothing_is_stored(ops):
    response = ops.post(STORES, {"name": "店", "city": "上海市", "latitude": 121.47, "longitude": 31.23}, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "latitude": ["A latitude is between -90 and 90 (were latitude and longitude swapped?)."]
    }
    assert Store.objects.count() == 0
    assert AuditLog.objects.count() == 0


def test_nearest_answers_the_store_and_its_distance(sales):
    near = store("人民广场店", offset(CENTRE, north_km=2), group_code=code("s-near"))
    store("陆家嘴店", offset(CENTRE, east_km=3), group_code=code("s-far"))

    response = sales.get(NEAREST, {"lat": CENTRE[0], "lng": CENTRE[1]})

    assert response.status_code == 200
    assert response.json()["store"]["id"] == near.pk
    assert response.json()["distance_km"] == pytest.approx(2.0, abs=0.005)


def test_nearest_refuses_bad_input_and_says_when_nothing_is_routable(sales):
    bad = sales.get(NEAREST, {"lat": "north", "lng": "121"})
    none = sales.get(NEAREST, {"lat": "31.2", "lng": "121.4"})

    assert bad.status_code == 400
    assert bad.json()["fields"] == {"lat": ["The location is not a number."]}
    assert none.status_code == 404
    assert none.json()["message"] == "No store is taking visitors."


def test_sales_read_but_write_nothing(sales):
    shop = store("人民广场店", CENTRE)

    assert sales.get(STORES).json()["count"] == 1
    assert sales.get(f"{STORES}{shop.pk}/").status_code == 200
    assert sales.post(STORES, {"name": "店", "city": "上海市", "latitude": 31, "longitude": 121}).status_code == 403
    assert sales.patch(f"{STORES}{shop.pk}/", {"is_open": False}).status_code == 403
    assert sales.delete(f"{STORES}{shop.pk}/").status_code == 403
    assert Store.objects.filter(is_open=True).count() == 1
    assert AuditLog.objects.filter(action__in=["close", "delete"]).count() == 0


def test_anonymous_and_unprivileged_get_nothing(make_user):
    store("人民广场店", CENTRE)

    assert APIClient().get(STORES).status_code == 401
    assert client_for(make_user("nobody")).get(NEAREST, {"lat": 31, "lng": 121}).status_code == 403
