"""Orders: the basis of GMV, member tiers and the conversion/repurchase lifecycle stages."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models.customer import Customer


class Order(models.Model):
    """An order from any shop or system; ``external_id`` is its id there, unique so feeds are idempotent."""

    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="orders",
        db_index=False,  # the (customer, ordered_at) index serves it
    )
    external_id = models.CharField(_("external order id"), max_length=64)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    ordered_at = models.DateTimeField(_("ordered at"))
    source = models.CharField(_("source"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        # "order" alone is also a sort order (tagging): the context keeps the two apart in translation
        verbose_name = pgettext_lazy("purchase", "order")
        verbose_name_plural = pgettext_lazy("purchase", "orders")
        ordering = ["-ordered_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="customers_order_external_id_uniq"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="customers_order_amount_gte_0"),
        ]
        indexes = [models.Index(fields=["customer", "ordered_at"], name="customers_order_customer")]

    def __str__(self) -> str:
        return self.external_id
