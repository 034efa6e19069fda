"""The follow-up timeline (跟进记录): everything that happened with a customer, from every feed, in one table."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models.customer import Customer
from customers.models.wecom import Employee

SOURCE_KEY_LENGTH = 96


class TimelineEntry(models.Model):
    """One thing that happened. ``source_key`` names it in its feed (a call's id, a chat message's msgid, an
    order's external id …) and is unique, so feeding the same record twice stores it once."""

    class Kind(models.TextChoices):
        WECOM_CHAT = "wecom_chat", _("WeCom chat")
        CALL = "call", _("phone call")
        SMS = "sms", _("SMS")
        NOTE = "note", _("note")
        STAGE_CHANGE = "stage_change", _("stage change")
        TAG_CHANGE = "tag_change", _("tag change")
        SOP_DELIVERY = "sop_delivery", _("SOP delivery")
        ORDER = "order", _("order")
        TIER_CHANGE = "tier_change", _("member tier change")
        RELATION = "relation", _("WeCom relation")

    class Channel(models.TextChoices):
        WECOM = "wecom", _("WeCom")
        PHONE = "phone", _("phone")
        SMS = "sms", _("SMS")
        STAFF = "staff", _("staff")
        SYSTEM = "system", _("system")

    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="timeline",
        db_index=False,  # the (customer, occurred_at, id) index serves it
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    occurred_at = models.DateTimeField(_("time"))
    employee = models.ForeignKey(
        Employee,
        verbose_name=_("employee"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # never looked up by employee; an index would cost every insert of ten million rows
    )
    summary = models.CharField(_("summary"), max_length=255, blank=True)
    content = models.TextField(_("content"), blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)
    source_key = models.CharField(_("source key"), max_length=SOURCE_KEY_LENGTH)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("timeline entry")
        verbose_name_plural = _("timeline entries")
        ordering = ["-occurred_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["source_key"], name="customers_timeline_source_key_uniq")]
        indexes = [models.Index(fields=["customer", "-occurred_at", "-id"], name="customers_timeline_newest")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d %H:%M}"
