"""Store writes: coordinates checked with errors on their fields (and nothing stored), one name per city, open and
close as conditional updates, everything audited; the CSV import is all or nothing, each error by row and column;
GCJ-02 coordinates from Chinese maps are converted."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from groups.models import Store
from groups.services.stores import (
    gcj02_to_wgs84,
    store_close,
    store_create,
    store_delete,
    store_open,
    store_update,
    wgs84_to_gcj02,
)
from groups.services.stores_import import StoreImportError, stores_import_csv
from scrm.core.models import AuditLog
from tests.groups.store_fixtures import CENTRE, code, store

pytestmark = pytest.mark.django_db


def audits() -> list[str]:
    return list(AuditLog.objects.filter(target_type="groups.store").order_by("pk").values_list("action", flat=True))


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\n".join(lines) + "\n").encode(encoding)


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    ("latitude", "longitude", "errors"),
    [
        ("abc", "121.47", {"latitude": ["“abc” is not a number of degrees."]}),
        (
            "121.47",
            "31.23",
            {"latitude": ["A latitude is between -90 and 90 (were latitude and longitude swapped?)."]},
        ),
        ("31.23", "-181", {"longitude": ["A longitude is between -180 and 180."]}),
        ("", None, {"latitude": ["Enter a number of degrees."], "longitude": ["Enter a number of degrees."]}),
        (0, 0, {"latitude": ["(0, 0) is not a store's location: are the coordinates missing?"]}),
        (float("nan"), "121", {"latitude": ["“nan” is not a number of degrees."]}),
    ],
)
def test_bad_coordinates_are_refused_on_their_field(latitude, longitude, errors):
    with pytest.raises(ValidationError) as refused:
        store_create(name="店", city="上海市", latitude=latitude, longitude=longitude, actor=None)

    assert refused.value.message_dict == errors
    assert Store.objects.count() == 0
    assert audits() == []


def test_create_rounds_to_six_places_and_audits(make_user):
    ops = make_user("ops1")
    created = store_create(
        name=" 人民广场店 ",
        city="上海市",
        latitude="31.23041611",
        longitude=121.4737009,
        group_code=code("s1"),
        actor=ops,
    )

    stored = Store.objects.get()
    assert (stored.name, stored.latitude, stored.longitude) == (
        "人民广场店",
        Decimal("31.230416"),
        Decimal("121.473701"),
    )
    assert created.pk == stored.pk
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor_label, entry.changes["group_code"], entry.changes["latitude"]) == (
        "create",
        "ops1",
        "s1",
        "31.230416",
    )


def test_one_name_per_city():
    store("人民广场店", CENTRE)
    store("人民广场店", (39.9, 116.4), city="北京市")  # another city: fine

    with pytest.raises(ValidationError) as refused:
        store("人民广场店", (31.2, 121.4))

    assert refused.value.message_dict == {"name": ["上海市 already has a store named “人民广场店”."]}
    assert Store.objects.count() == 2


def test_update_writes_only_changes_and_delete_audits():
    shop = store("人民广场店", CENTRE)

    assert store_update(store=shop, actor=None, latitude="31.230400", address="") == []
    assert store_update(store=shop, actor=None, latitude="31.2305", address="南京东路 1 号") == ["address", "latitude"]
    with pytest.raises(ValidationError) as refused:
        store_update(store=shop, actor=None, longitude="200")
    with pytest.raises(ValidationError) as unknown:
        store_update(store=shop, actor=None, created_at=None)

    assert refused.value.message_dict == {"longitude": ["A longitude is between -180 and 180."]}
    assert list(unknown.value.message_dict) == ["created_at"]
    assert Store.objects.get().longitude == Decimal("121.473700")
    store_delete(store=shop, actor=None)
    assert Store.objects.count() == 0
    assert audits() == ["create", "update", "delete"]


def test_open_and_close_are_conditional():
    shop = store("人民广场店", CENTRE)

    assert store_open(store=shop, actor=None) is False
    assert store_close(store=shop, actor=None) is True
    assert store_close(store=shop, actor=None) is False
    assert Store.objects.get().is_open is False
    assert store_open(store=shop, actor=None) is True
    assert audits() == ["create", "close", "open"]


def test_gcj02_round_trip_and_offset():
    gcj = wgs84_to_gcj02(*CENTRE)
    back = gcj02_to_wgs84(*gcj)

    assert back == pytest.approx(CENTRE, abs=2e-5)  # within about 2 m
    assert 0.3 < abs(gcj[1] - CENTRE[1]) * 95 + abs(gcj[0] - CENTRE[0]) * 111 < 1.0  # a few hundred metres, in km
    assert wgs84_to_gcj02(51.5, -0.12) == (51.5, -0.12)  # outside China: no shift


# ---- CSV import --------------------------------------------------------------------------------------------------

HEADER = "name,city,address,latitude,longitude,open,group code state"


def test_import_creates_then_updates_by_city_and_name(make_user):
    code("s-rmgc")
    code("s-ljz")
    first = stores_import_csv(
        data=csv_bytes(
            HEADER,
            "人民广场店,上海市,南京东路 1 号,31.2304,121.4737,是,s-rmgc",
            "陆家嘴店,上海市,,31.2397,121.4998,1,s-ljz",
            ",,,,,,",  # a blank line is skipped
            "王府井店,北京市,,39.9139,116.4103,no,",
        ),
        actor=make_user("ops1"),
    )
    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    assert sorted(Store.objects.values_list("name", "is_open", "group_code__state")) == [
        ("人民广场店", True, "s-rmgc"),
        ("王府井店", False, None),
        ("陆家嘴店", True, "s-ljz"),
    ]

    # a file without the open and code columns keeps them; a changed address updates that store only
    again = stores_import_csv(
        data=csv_bytes(
            "城市,门店名称,纬度,经度,地址",
            "上海市,人民广场店,31.2304,121.4737,南京东路 2 号",
            "北京市,王府井店,39.9139,116.4103,",
        ),
        actor=None,
    )
    assert (again.created, again.updated, again.unchanged) == (0, 1, 1)
    assert Store.objects.get(name="人民广场店").address == "南京东路 2 号"
    assert Store.objects.get(name="人民广场店").group_code.state == "s-rmgc"
    assert audits() == ["import_create", "import_create", "import_create", "import_update"]


def test_import_is_all_or_nothing_with_every_error_by_row_and_column():
    code("s-ok")
    data = csv_bytes(
        HEADER,
        "人民广场店,上海市,,31.2304,121.4737,yes,s-ok",  # row 2: fine
        "陆家嘴店,上海市,,abc,121.4998,yes,s-ok",  # row 3
        "静安店,上海市,,31.22,121.44,maybe,s-missing",  # row 4: two errors
        "人民广场店,上海市,,31.2304,121.4737,yes,",  # row 5: row 2 again
        ",上海市,,31.2,121.4,yes,",  # row 6: no name
    )

    with pytest.raises(StoreImportError) as refused:
        stores_import_csv(data=data, actor=None)

    assert [(e.row, e.field, e.message) for e in refused.value.errors] == [
        (3, "latitude", "“abc” is not a number of degrees."),
        (4, "is_open", "Write yes or no (是/否, 1/0), not “maybe”."),
        (4, "group_code", "No group live code has the state “s-missing”."),
        (5, "name", "The same store (city and name) is on row 2 already."),
        (6, "name", "This field cannot be blank."),
    ]
    assert str(refused.value.message) == (
        "Nothing was imported: 5 errors, the first on row 3 (latitude): “abc” is not a number of degrees."
    )
    assert Store.objects.count() == 0
    assert AuditLog.objects.count() == 0


def test_import_refuses_a_file_without_a_required_column():
    with pytest.raises(StoreImportError) as refused:
        stores_import_csv(data=csv_bytes("name,city,lat", "店,上海市,31.2"), actor=None)

    assert [(e.row, e.field) for e in refused.value.errors] == [(1, "longitude")]
    assert Store.objects.count() == 0


def test_import_reads_gb18030_and_converts_gcj02():
    gcj = wgs84_to_gcj02(*CENTRE)
    data = csv_bytes("门店名称,城市,纬度,经度", f"人民广场店,上海市,{gcj[0]:.6f},{gcj[1]:.6f}", encoding="gb18030")

    stores_import_csv(data=data, actor=None, coordinate_system="gcj02")

    stored = Store.objects.get()
    assert (float(stored.latitude), float(stored.longitude)) == pytest.approx(CENTRE, abs=2e-5)


def test_import_refuses_an_empty_file():
    with pytest.raises(StoreImportError) as empty:
        stores_import_csv(data=b"", actor=None)
    with pytest.raises(StoreImportError) as header_only:
        stores_import_csv(data=csv_bytes(HEADER), actor=None)

    assert empty.value.errors[0].field == "file"
    assert header_only.value.errors[0].message == "The file has no stores below its header row."
