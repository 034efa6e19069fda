"""Store routing reads: the nearest routable store (open, with an open group code) by haversine distance, found
through bounding boxes that widen until the nearest is certain; a city's most central store."""

import pytest

from groups.models import GroupCode
from groups.selectors.stores import haversine_km, nearest_open_store, routable_cities, store_for_city
from tests.groups.store_fixtures import CENTRE, code, offset, store

pytestmark = pytest.mark.django_db


def test_nearest_is_the_exact_choice_among_several_and_skips_unroutable_stores(django_assert_num_queries):
    near = store("南京东路店", offset(CENTRE, north_km=1.2), group_code=code("s-near"))
    store("陆家嘴店", offset(CENTRE, east_km=3.0), group_code=code("s-far"))
    store("关店", offset(CENTRE, north_km=0.1), group_code=code("s-closed"), is_open=False)
    store("无码店", offset(CENTRE, east_km=0.2))
    store("暂停店", offset(CENTRE, north_km=-0.3), group_code=code("s-paused", GroupCode.Status.PAUSED))
    store("满员店", offset(CENTRE, north_km=0.4), group_code=code("s-full", GroupCode.Status.FULL))

    with django_assert_num_queries(1):  # found within the first box: one query, code included
        found = nearest_open_store(lat=CENTRE[0], lng=CENTRE[1])
        assert found.group_code.state == "s-near"

    assert found.pk == near.pk
    assert found.distance_km == pytest.approx(1.2, abs=0.01)


def test_nothing_near_widens_the_box_until_a_store_is_found(django_assert_num_queries):
    far = store("苏州店", offset(CENTRE, north_km=50), city="苏州市", group_code=code("s-suzhou"))

    with django_assert_num_queries(3):  # 5 km, 25 km: empty; 100 km: found
        found = nearest_open_store(lat=CENTRE[0], lng=CENTRE[1])

    assert found.pk == far.pk
    assert found.distance_km == pytest.approx(50, abs=0.05)


def test_a_store_in_the_box_corner_does_not_hide_a_nearer_one_outside_it(django_assert_num_queries):
    corner = store("角落店", offset(CENTRE, north_km=4.5, east_km=4.5), group_code=code("s-corner"))  # 6.4 km, inside
    east = store("东边店", offset(CENTRE, east_km=5.5), group_code=code("s-east"))  # 5.5 km, outside the 5 km box

    with django_assert_num_queries(2):  # the 5 km box finds the corner store farther than 5 km: widened once
        found = nearest_open_store(lat=CENTRE[0], lng=CENTRE[1])

    assert found.pk == east.pk
    assert haversine_km(*CENTRE, float(corner.latitude), float(corner.longitude)) > found.distance_km


def test_beyond_every_box_the_whole_table_is_searched():
    london = store("London", (51.5074, -0.1278), city="London", group_code=code("s-london"))

    assert nearest_open_store(lat=CENTRE[0], lng=CENTRE[1]).pk == london.pk


def test_across_the_antimeridian():
    fiji = store("Suva", (-18.1416, 178.4419), city="Suva", group_code=code("s-suva"))
    store("Taveuni", (-16.9, 179.9), city="Taveuni")  # no code

    found = nearest_open_store(lat=-18.0, lng=-179.9)

    assert found.pk == fiji.pk
    assert found.distance_km < 300


def test_no_routable_store_is_none():
    store("关店", CENTRE, group_code=code("s-closed"), is_open=False)

    assert nearest_open_store(lat=CENTRE[0], lng=CENTRE[1]) is None


def test_city_routing_matches_with_or_without_the_suffix_and_picks_the_central_store():
    west = store("静安店", offset(CENTRE, east_km=-8), group_code=code("s-west"))
    middle = store("人民广场店", offset(CENTRE, east_km=0.5), group_code=code("s-middle"))
    store("浦东店", offset(CENTRE, east_km=8), group_code=code("s-east"))
    store("外滩店", offset(CENTRE, east_km=0.1), is_open=False, group_code=code("s-shut"))
    store("王府井店", (39.9139, 116.4103), city="北京", group_code=code("s-beijing"))

    assert store_for_city(city="上海").pk == middle.pk
    assert store_for_city(city=" 上海市 ").pk == middle.pk
    assert store_for_city(city="北京市").group_code.state == "s-beijing"
    assert store_for_city(city="杭州") is None
    assert store_for_city(city="") is None
    assert west.pk != middle.pk


def test_routable_cities_list_only_stores_that_take_visitors(django_assert_num_queries):
    store("人民广场店", CENTRE, group_code=code("s-a"))
    store("关店", offset(CENTRE, east_km=1), group_code=code("s-b"), is_open=False)
    store("王府井店", (39.9139, 116.4103), city="北京市", group_code=code("s-c"))

    with django_assert_num_queries(1):
        cities = [(city, [s.name for s in stores]) for city, stores in routable_cities()]

    assert cities == [("上海市", ["人民广场店"]), ("北京市", ["王府井店"])]
