"""Writes to stores (门店) for location routing: create, edit, delete, open and close, each validated (coordinates
named by field, with the reason) and audited. The CSV import for operations is in ``stores_import``.

Coordinates are WGS-84 degrees, as browsers report the visitor's position. Maps in China (Amap, Tencent) show
GCJ-02 coordinates, a few hundred metres off; ``gcj02_to_wgs84`` converts what was picked on one of them.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from groups.models import GroupCode, Store
from scrm.core.services import audit_record

EDITABLE_FIELDS = ("name", "city", "address", "latitude", "longitude", "is_open", "group_code")
COORDINATE_PLACES = Decimal("0.000001")  # the model keeps 6 decimals: about 0.1 m
WGS84 = "wgs84"
GCJ02 = "gcj02"
COORDINATE_SYSTEMS = (WGS84, GCJ02)


# ---- coordinates -------------------------------------------------------------------------------------------------


def coordinate(value: Any, *, field: str) -> Decimal:
    """A latitude (``field="latitude"``) or longitude as a Decimal of 6 places, or a ValidationError naming the
    field: not a number, not finite, or out of range (a latitude above 90 is most often a swapped pair)."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError({field: _("Enter a number of degrees.")}, code="required")
    try:
        number = Decimal(
            value.strip() if isinstance(value, str) else repr(value) if isinstance(value, float) else value
        )
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationError({field: _("“%(value)s” is not a number of degrees.") % {"value": value}}) from None
    if not number.is_finite():
        raise ValidationError({field: _("“%(value)s” is not a number of degrees.") % {"value": value}})
    limit = 90 if field == "latitude" else 180
    if abs(number) > limit:
        if field == "latitude":
            message = _("A latitude is between -90 and 90 (were latitude and longitude swapped?).")
        else:
            message = _("A longitude is between -180 and 180.")
        raise ValidationError({field: message}, code="range")
    return number.quantize(COORDINATE_PLACES, rounding=ROUND_HALF_UP)


def coordinates(latitude: Any, longitude: Any, *, system: str = WGS84) -> tuple[Decimal, Decimal]:
    """Both coordinates checked (errors on both fields at once), converted from GCJ-02 when ``system`` says so.
    (0, 0) is refused: it is where empty cells land, in the sea off Africa, not a store."""
    errors: dict[str, list] = {}
    values = {}
    for field, value in (("latitude", latitude), ("longitude", longitude)):
        try:
            values[field] = coordinate(value, field=field)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    lat, lng = values["latitude"], values["longitude"]
    if lat == 0 and lng == 0:
        raise ValidationError({"latitude": _("(0, 0) is not a store's location: are the coordinates missing?")})
    if system == GCJ02:
        wgs_lat, wgs_lng = gcj02_to_wgs84(float(lat), float(lng))
        lat, lng = coordinate(wgs_lat, field="latitude"), coordinate(wgs_lng, field="longitude")
    elif system != WGS84:
        raise ValidationError({"coordinates": _("Unknown coordinate system %(system)s.") % {"system": system}})
    return lat, lng


# GCJ-02 ("Mars coordinates") shifts WGS-84 positions inside mainland China by a published formula; its inverse is
# taken by one fixed-point step, which is within a metre or two — far below what matters for picking a store.
_A = 6378245.0
_EE = 0.00669342162296594323


def _out_of_china(lat: float, lng: float) -> bool:
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _shift(lat: float, lng: float) -> tuple[float, float]:
    x, y = lng - 105.0, lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    dlat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlng += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlng += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlng += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return dlat, dlng


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    if _out_of_china(lat, lng):
        return lat, lng
    dlat, dlng = _shift(lat, lng)
    return lat + dlat, lng + dlng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    if _out_of_china(lat, lng):
        return lat, lng
    dlat, dlng = _shift(lat, lng)
    return lat - dlat, lng - dlng


# ---- validation --------------------------------------------------------------------------------------------------


def store_validate(*, store: Store) -> None:
    """The model's checks (lengths, blanks) and a store name unique within its city, as errors on their fields."""
    errors: dict[str, list] = {}
    try:
        store.latitude, store.longitude = coordinates(store.latitude, store.longitude)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    store.name = " ".join((store.name or "").split())
    store.city = " ".join((store.city or "").split())
    store.address = (store.address or "").strip()
    try:
        # the coordinates were checked above (range, precision rounded); the model's validators would refuse a
        # float that has no exact 6-place decimal before it is rounded
        store.full_clean(exclude=["latitude", "longitude"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if not errors and _name_taken(store):
        errors["name"] = [
            _("%(city)s already has a store named “%(name)s”.") % {"city": store.city, "name": store.name}
        ]
    if errors:
        raise ValidationError(errors)


def _name_taken(store: Store) -> bool:
    return Store.objects.filter(city=store.city, name=store.name).exclude(pk=store.pk).exists()


def _save(store: Store, **kwargs) -> None:
    """Save; a store of the same city and name committed meanwhile loses on the unique constraint, reported on the
    name as the check before would have."""
    try:
        with transaction.atomic():
            store.save(**kwargs)
    except IntegrityError:
        if _name_taken(store):
            raise ValidationError(
                {"name": _("%(city)s already has a store named “%(name)s”.") % {"city": store.city, "name": store.name}}
            ) from None
        raise


def _described(store: Store) -> dict[str, Any]:
    return {name: _value(store, name) for name in EDITABLE_FIELDS}


def _value(store: Store, name: str) -> Any:
    if name == "group_code":
        return store.group_code.state if store.group_code_id else None
    return getattr(store, name)


# ---- writes ------------------------------------------------------------------------------------------------------


def store_create(
    *,
    name: str,
    city: str,
    latitude: Any,
    longitude: Any,
    address: str = "",
    is_open: bool = True,
    group_code: GroupCode | None = None,
    actor,
) -> Store:
    store = Store(
        name=name,
        city=city,
        address=address,
        latitude=latitude,
        longitude=longitude,
        is_open=is_open,
        group_code=group_code,
    )
    store_validate(store=store)
    with transaction.atomic():
        _save(store, force_insert=True)
        audit_record(actor=actor, action="create", target=store, changes=_described(store))
    return store


def store_update(*, store: Store, actor, **values: Any) -> list[str]:
    """Change fields among ``EDITABLE_FIELDS``; returns the names that changed (empty: nothing written)."""
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field cannot be changed here.") for name in sorted(unknown)})
    with transaction.atomic():
        locked = Store.objects.select_for_update().get(pk=store.pk)
        before = {name: _value(locked, name) for name in EDITABLE_FIELDS}
        for name, value in values.items():
            setattr(locked, name, value)
        store_validate(store=locked)
        changes = {name: [before[name], _value(locked, name)] for name in EDITABLE_FIELDS}
        changes = {name: pair for name, pair in changes.items() if pair[0] != pair[1]}
        if not changes:
            return []
        _save(locked, update_fields=[*changes, "updated_at"])
        audit_record(actor=actor, action="update", target=locked, changes=changes)
    for name in EDITABLE_FIELDS:
        setattr(store, name, getattr(locked, name))
    store.updated_at = locked.updated_at
    return list(changes)


def store_delete(*, store: Store, actor) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="delete", target=store, changes=_described(store))
        Store.objects.filter(pk=store.pk).delete()


def store_set_open(*, store: Store, is_open: bool, actor) -> bool:
    """Open or close the store; False when it already was (a conditional update: nothing written, not audited)."""
    with transaction.atomic():
        now = timezone.now()
        changed = Store.objects.filter(pk=store.pk).exclude(is_open=is_open).update(is_open=is_open, updated_at=now)
        if changed:
            store.is_open, store.updated_at = is_open, now
            audit_record(
                actor=actor,
                action="open" if is_open else "close",
                target=store,
                changes={"is_open": [not is_open, is_open]},
            )
    return bool(changed)


def store_open(*, store: Store, actor) -> bool:
    return store_set_open(store=store, is_open=True, actor=actor)


def store_close(*, store: Store, actor) -> bool:
    return store_set_open(store=store, is_open=False, actor=actor)
