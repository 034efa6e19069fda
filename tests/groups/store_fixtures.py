"""Stores and group codes for the store tests: points around Shanghai's People's Square and helpers that place a
store a given distance north and east of a point."""

from __future__ import annotations

import math

from groups.models import GroupCode, Store
from groups.selectors.stores import KM_PER_DEGREE
from groups.services.stores import store_create

CENTRE = (31.2304, 121.4737)  # 人民广场, 上海


def code(state: str, status: str = GroupCode.Status.OPEN) -> GroupCode:
    return GroupCode.objects.create(name=f"code {state}", state=state, status=status)


def offset(point: tuple[float, float], *, north_km: float = 0.0, east_km: float = 0.0) -> tuple[float, float]:
    lat, lng = point
    return (
        round(lat + north_km / KM_PER_DEGREE, 6),
        round(lng + east_km / (KM_PER_DEGREE * math.cos(math.radians(lat))), 6),
    )


def store(name: str, point: tuple[float, float], *, city: str = "上海市", group_code=None, is_open=True) -> Store:
    lat, lng = point
    return store_create(
        name=name, city=city, latitude=lat, longitude=lng, is_open=is_open, group_code=group_code, actor=None
    )
