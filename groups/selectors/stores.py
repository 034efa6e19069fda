"""Reads of stores for location routing (LBS): the nearest open store to a point, a city's store, and the stores a
visitor may pick from when we know neither.

A store takes visitors only when it is open and its group live code is open (``GroupCode.Status.OPEN``): a store
without a code, or whose code is paused or full, has nowhere to send them.

The nearest store is found in SQL: a bounding box around the visitor (plain comparisons on latitude and longitude,
which any index or a cheap scan serves) cuts the candidates down, and only those get the haversine distance,
ordered, first row. The box is a square of half-side ``radius``, so it holds every store within ``radius`` — but
its nearest candidate may sit in a corner (up to radius·√2 away) while a store just outside an edge is nearer.
The answer is therefore kept only when it lies within ``radius``; otherwise the box widens, and after the widest
box the whole table is searched. A handful of queries at most, each touching the stores of one box.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import FloatField, Q, QuerySet, Value
from django.db.models.functions import ASin, Cast, Cos, Least, Power, Radians, Sin, Sqrt

from groups.models import GroupCode, Store

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180
# Half-sides of the boxes tried in turn, in km: a town, a city, a region, a province, most of China.
SEARCH_RADII_KM = (5.0, 25.0, 100.0, 400.0, 1500.0)


def stores_routable() -> QuerySet[Store]:
    """Open stores whose group live code takes joiners, with their code."""
    return Store.objects.filter(is_open=True, group_code__status=GroupCode.Status.OPEN).select_related("group_code")


def landing_path(store: Store) -> str:
    """The public page of the store's group live code (``/g/<public_token>/``), where the visitor joins."""
    return f"/g/{store.group_code.public_token}/"


# ---- distances ---------------------------------------------------------------------------------------------------


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """The great-circle distance between two WGS-84 points, in km."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _distance_km_sql(lat: float, lng: float):
    """The haversine distance from (lat, lng) to each store's coordinates, as an SQL expression (PostgreSQL has the
    functions; Django registers them on SQLite)."""
    phi1 = math.radians(lat)
    phi2 = Radians(Cast("latitude", FloatField()))
    lam2 = Radians(Cast("longitude", FloatField()))
    half_dphi = (phi2 - Value(phi1)) / Value(2.0)
    half_dlam = (lam2 - Value(math.radians(lng))) / Value(2.0)
    a = Power(Sin(half_dphi), 2) + Value(math.cos(phi1)) * Cos(phi2) * Power(Sin(half_dlam), 2)
    # rounding may push a hair above 1 for antipodal points, where ASIN is undefined
    return Value(2 * EARTH_RADIUS_KM) * ASin(Sqrt(Least(a, Value(1.0), output_field=FloatField())))


def bounding_box(*, lat: float, lng: float, radius_km: float) -> Q:
    """Stores within ``radius_km`` of the point lie inside this box (it may hold others, up to radius·√2 away).
    Near a pole, or when the box would span the whole longitude range, only latitude bounds it; across the
    antimeridian its longitude range splits in two."""
    dlat = radius_km / KM_PER_DEGREE
    box = Q(latitude__gte=_deg(lat - dlat), latitude__lte=_deg(lat + dlat))
    cos_lat = math.cos(math.radians(lat))
    if abs(lat) + dlat >= 89.0 or cos_lat * 180 * KM_PER_DEGREE <= radius_km:
        return box
    dlng = radius_km / (KM_PER_DEGREE * cos_lat)
    west, east = lng - dlng, lng + dlng
    if west < -180:
        return box & (Q(longitude__gte=_deg(west + 360)) | Q(longitude__lte=_deg(east)))
    if east > 180:
        return box & (Q(longitude__gte=_deg(west)) | Q(longitude__lte=_deg(east - 360)))
    return box & Q(longitude__gte=_deg(west), longitude__lte=_deg(east))


def _deg(value: float) -> Decimal:
    return Decimal(repr(round(value, 7)))


def nearest_open_store(*, lat: float, lng: float, radii_km: Iterable[float] = SEARCH_RADII_KM) -> Store | None:
    """The routable store nearest to (lat, lng), with ``distance_km`` set; None when no store is routable.

    Boxes of growing half-side are searched in turn (see the module notes); the nearest store found in a box
    is kept only if it lies within that half-side, the guarantee that nothing outside the box is nearer.
    """
    lat, lng = float(lat), float(lng)
    candidates = stores_routable().annotate(distance_km=_distance_km_sql(lat, lng)).order_by("distance_km", "pk")
    for radius in radii_km:
        store = candidates.filter(bounding_box(lat=lat, lng=lng, radius_km=radius)).first()
        if store is not None and store.distance_km <= radius:
            return store
    return candidates.first()


# ---- cities ------------------------------------------------------------------------------------------------------


def city_variants(city: str) -> list[str]:
    """The spellings a city parameter may match: as given, and with or without the 市 suffix (上海 / 上海市)."""
    city = " ".join(city.split())
    if not city:
        return []
    base = city.removesuffix("市") or city
    return list(dict.fromkeys([city, base, f"{base}市"]))


def _in_city(city: str) -> Q:
    matches = Q(pk__in=[])
    for variant in city_variants(city):
        matches |= Q(city__iexact=variant)
    return matches


def store_for_city(*, city: str) -> Store | None:
    """The routable store of a city (case-insensitive, 上海 = 上海市), ``distance_km`` unset. With several, the most
    central: the one nearest the middle of the city's routable stores — without the visitor's location, the one
    most of the city can reach (ties: by name)."""
    if not city_variants(city):
        return None
    stores = list(stores_routable().filter(_in_city(city)).order_by("name", "pk"))
    if len(stores) <= 1:
        return stores[0] if stores else None
    mid_lat = sum(float(s.latitude) for s in stores) / len(stores)
    mid_lng = sum(float(s.longitude) for s in stores) / len(stores)
    return min(stores, key=lambda s: haversine_km(mid_lat, mid_lng, float(s.latitude), float(s.longitude)))


def routable_cities() -> list[tuple[str, list[Store]]]:
    """Every routable store grouped by city, cities and stores by name: the list a visitor picks from. One query."""
    cities: dict[str, list[Store]] = {}
    for store in stores_routable().order_by("city", "name", "pk"):
        cities.setdefault(store.city, []).append(store)
    return list(cities.items())


def store_list(*, city: str | None = None, is_open: bool | None = None, search: str = "") -> QuerySet[Store]:
    """Stores for the API and admin, with their group code, by city then name."""
    stores = Store.objects.select_related("group_code").order_by("city", "name", "pk")
    if city:
        stores = stores.filter(_in_city(city))
    if is_open is not None:
        stores = stores.filter(is_open=is_open)
    if search:
        stores = stores.filter(Q(name__icontains=search) | Q(address__icontains=search) | Q(city__icontains=search))
    return stores


__all__ = [
    "bounding_box",
    "city_variants",
    "haversine_km",
    "landing_path",
    "nearest_open_store",
    "routable_cities",
    "store_for_city",
    "store_list",
    "stores_routable",
]
