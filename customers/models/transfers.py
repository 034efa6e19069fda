"""Customer transfers (在职继承 / 离职继承) and loss alerts: the company keeps its customers when staff change."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.models.customer import Customer
from customers.models.wecom import Employee, ExternalContact
from scrm.core.models import TimeStampedModel


class CustomerTransfer(TimeStampedModel):
    """One contact handed from one employee to another through WeCom. WeCom only *starts* a transfer; the result
    (``transfer_result``/``resigned/transfer_result``) is polled until it is final, and a ``transfer_fail``
    callback can end it too. At most one open transfer per contact and handover employee."""

    class Kind(models.TextChoices):
        IN_POST = "in_post", _("in post (在职继承)")
        RESIGNED = "resigned", _("resigned (离职继承)")

    class Status(models.TextChoices):
        PENDING = "pending", _("not yet sent")
        WAITING = "waiting", _("waiting for takeover")
        DONE = "done", _("taken over")
        FAILED = "failed", _("failed")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    contact = models.ForeignKey(
        ExternalContact, verbose_name=_("external contact"), on_delete=models.PROTECT, related_name="transfers"
    )
    handover = models.ForeignKey(
        Employee, verbose_name=_("from employee"), on_delete=models.PROTECT, related_name="transfers_out"
    )
    takeover = models.ForeignKey(
        Employee, verbose_name=_("to employee"), on_delete=models.PROTECT, related_name="transfers_in"
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    # WeCom's per-customer errcode when it refused, or the transfer_result status (1 done, 2 waiting, 3 refused
    # by the customer, 4 takeover employee at the limit)
    errcode = models.IntegerField(_("WeCom code"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    requested_at = models.DateTimeField(_("requested at"), null=True, blank=True)
    takeover_at = models.DateTimeField(_("takeover time"), null=True, blank=True)
    next_poll_at = models.DateTimeField(_("next result check"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("customer transfer")
        verbose_name_plural = _("customer transfers")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "handover"],
                condition=Q(status__in=["pending", "waiting"]),
                name="customers_transfer_one_open",
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_poll_at"], name="customers_transfer_due"),
            models.Index(fields=["handover", "status"], name="customers_transfer_handover"),
        ]

    def __str__(self) -> str:
        return f"{self.contact} {self.handover} → {self.takeover}"


class CustomerAlert(TimeStampedModel):
    """Something the owner and ops must act on, e.g. a customer deleted their employee (流失)."""

    class Kind(models.TextChoices):
        LOST = "lost", _("customer lost")
        TRANSFER_FAILED = "transfer_failed", _("transfer failed")

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    employee = models.ForeignKey(
        Employee,
        verbose_name=_("employee concerned"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    message = models.CharField(_("message"), max_length=255)
    # e.g. "lost:<external_userid>:<userid>:<event time>": a re-delivered callback raises no second alert
    source_key = models.CharField(_("source key"), max_length=200)
    notified_at = models.DateTimeField(_("owner notified at"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer alert")
        verbose_name_plural = _("customer alerts")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["source_key"], name="customers_alert_source_key_uniq")]
        indexes = [models.Index(fields=["resolved_at", "created_at"], name="customers_alert_open")]

    def __str__(self) -> str:
        return self.message
