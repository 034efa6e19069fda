"""Stores for location routing (LBS): one public QR/URL sends each visitor to the nearest open store's group code."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from groups.models.group_codes import GroupCode
from scrm.core.models import TimeStampedModel


class Store(TimeStampedModel):
    name = models.CharField(_("name"), max_length=100)
    city = models.CharField(
        _("city"), max_length=64, help_text=_("Used when the visitor gives a city, not a location.")
    )
    address = models.CharField(_("address"), max_length=255, blank=True)
    # WGS-84 degrees, as browsers' geolocation reports them.
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        validators=[MinValueValidator(Decimal("-90")), MaxValueValidator(Decimal("90"))],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        validators=[MinValueValidator(Decimal("-180")), MaxValueValidator(Decimal("180"))],
    )
    is_open = models.BooleanField(_("open"), default=True)
    group_code = models.ForeignKey(
        GroupCode,
        verbose_name=_("group live code"),
        on_delete=models.PROTECT,
        related_name="stores",
        null=True,
        blank=True,
    )

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["city", "name"]
        constraints = [
            models.UniqueConstraint(fields=["city", "name"], name="groups_store_city_name_uniq"),
            models.CheckConstraint(
                condition=Q(latitude__gte=-90, latitude__lte=90, longitude__gte=-180, longitude__lte=180),
                name="groups_store_coordinates",
            ),
        ]
        indexes = [models.Index(fields=["city"], condition=Q(is_open=True), name="groups_store_open_city")]

    def __str__(self) -> str:
        return self.name
