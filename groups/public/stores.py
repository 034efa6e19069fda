"""The store router (public, no login): one URL, printed as one QR code on every poster, that sends each visitor
to the group live code of the nearest open store.

``/stores/nearest/``
- without parameters: a small page asks the browser for its position (``navigator.geolocation``) and reloads
  itself with ``?lat=&lng=``; if the visitor refuses, or the browser cannot tell, it reloads with ``?error=``;
- ``?lat=&lng=`` (WGS-84 degrees): 302 to the nearest routable store's code page, ``/g/<public_token>/``;
- ``?city=``: 302 to that city's store (see ``store_for_city``);
- otherwise — no position, refused, bad values, nothing matched — the fallback: the open stores by city, to pick.

Bad input gets the fallback with a message saying what was wrong (status 400), never an error page. The
answers depend on the query string and are never cached.
"""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from groups.selectors.stores import landing_path, nearest_open_store, routable_cities, store_for_city

TEMPLATES = "groups/stores"
MAX_CITY_LENGTH = 64


def parse_location(lat: str | None, lng: str | None) -> tuple[float, float]:
    """The visitor's (lat, lng) from query parameters, or a ValidationError naming ``lat`` / ``lng``."""
    errors = {}
    values = {}
    for field, raw, limit in (("lat", lat, 90.0), ("lng", lng, 180.0)):
        try:
            value = float((raw or "").strip())
        except ValueError:
            errors[field] = _("The location is not a number.")
            continue
        if not math.isfinite(value) or abs(value) > limit:
            errors[field] = _("The location is out of range.")
            continue
        values[field] = value
    if errors:
        raise ValidationError(errors)
    return values["lat"], values["lng"]


LOCATION_ERRORS = {
    # ?error= set by the page's script from GeolocationPositionError.code, or by the "pick myself" link
    "denied": lambda: _("You did not share your location. Pick a store below."),
    "unavailable": lambda: _("Your phone could not tell your location. Pick a store below."),
    "timeout": lambda: _("Finding your location took too long. Pick a store below."),
    "unsupported": lambda: _("This browser cannot share your location. Pick a store below."),
    "skip": lambda: "",
}


@require_safe
def nearest_store(request: HttpRequest) -> HttpResponse:
    params = request.GET
    if "lat" in params or "lng" in params:
        try:
            lat, lng = parse_location(params.get("lat"), params.get("lng"))
        except ValidationError:
            return _fallback(request, _("We could not read your location. Pick a store below."), status=400)
        store = nearest_open_store(lat=lat, lng=lng)
        if store is None:
            return _fallback(request, _("No store is taking new members right now."))
        return _to_store(store)
    if "city" in params:
        city = " ".join(params["city"].split())
        if not city or len(city) > MAX_CITY_LENGTH:
            return _fallback(request, _("Pick your city below."), status=400)
        store = store_for_city(city=city)
        if store is None:
            return _fallback(request, _("We have no open store in %(city)s yet. Pick one below.") % {"city": city})
        return _to_store(store)
    if "error" in params:
        message = LOCATION_ERRORS.get(params["error"], LOCATION_ERRORS["unavailable"])()
        return _fallback(request, message)
    response = render(request, f"{TEMPLATES}/locate.html", {"fallback_url": "?error=skip"})
    add_never_cache_headers(response)
    return response


def _to_store(store) -> HttpResponse:
    response = HttpResponseRedirect(landing_path(store))
    add_never_cache_headers(response)
    return response


def _fallback(request: HttpRequest, message: str, *, status: int = 200) -> HttpResponse:
    cities = [(city, [(store, landing_path(store)) for store in stores]) for city, stores in routable_cities()]
    response = render(request, f"{TEMPLATES}/fallback.html", {"message": message, "cities": cities}, status=status)
    add_never_cache_headers(response)
    return response


urlpatterns = [
    path("stores/nearest/", nearest_store, name="groups-stores-nearest"),
]
