"""The customer: one per phone number, with its stages, member tier and the record of merges."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Right
from django.utils.translation import gettext_lazy as _

from customers.models.wecom import Employee
from customers.phones import E164_MAX_LENGTH, phone_mask
from scrm.core.fields import IntArrayField
from scrm.core.models import KeepsServiceFields, TimeStampedModel


class Lifecycle(models.TextChoices):
    """The customer lifecycle, in order. Events only move a customer forward (see ``lifecycle_rank``)."""

    AWARENESS = "awareness", _("Awareness (认知)")
    TRIAL = "trial", _("Trial (体验)")
    CONVERSION = "conversion", _("Conversion (转化)")
    REPURCHASE = "repurchase", _("Repurchase (复购)")
    ADVOCACY = "advocacy", _("Advocacy (传播)")


LIFECYCLE_ORDER = list(Lifecycle.values)


def lifecycle_rank(value: str) -> int:
    return LIFECYCLE_ORDER.index(value)


class OpportunityStage(TimeStampedModel):
    """A stage of the opportunity pipeline (商机阶段). Ops configure the list; the defaults come from a data
    migration. A stage in use is deactivated rather than deleted, so the history keeps its meaning."""

    class Outcome(models.TextChoices):
        OPEN = "open", _("open")
        WON = "won", _("won")
        LOST = "lost", _("lost")

    name = models.CharField(_("name"), max_length=64)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices, default=Outcome.OPEN)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("opportunity stage")
        verbose_name_plural = _("opportunity stages")
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["name"], name="customers_oppstage_name_uniq")]

    def __str__(self) -> str:
        return self.name


class MemberTier(TimeStampedModel):
    """A member tier reached by cumulative spend (``min_spend`` and up). Defaults from a data migration."""

    name = models.CharField(_("name"), max_length=64)
    min_spend = models.DecimalField(_("minimum cumulative spend"), max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("member tier")
        verbose_name_plural = _("member tiers")
        ordering = ["min_spend"]
        constraints = [
            models.UniqueConstraint(fields=["name"], name="customers_tier_name_uniq"),
            models.UniqueConstraint(fields=["min_spend"], name="customers_tier_min_spend_uniq"),
            models.CheckConstraint(condition=Q(min_spend__gte=0), name="customers_tier_min_spend_gte_0"),
        ]

    def __str__(self) -> str:
        return self.name


class CustomerQuerySet(models.QuerySet):
    def reachable(self) -> CustomerQuerySet:
        """Customers a marketing sender may contact: every sender (SOP, mass message) goes through this."""
        return self.filter(marketing_opt_out=False)


class Customer(KeepsServiceFields, TimeStampedModel):
    """One person, keyed by phone number (E.164). Calls, SMS, WeCom chats and orders all hang off this row.

    ``phone`` is empty until known (a WeCom contact without a remark mobile); the database allows one customer
    per non-empty number. Binding a number another customer holds merges the two (``customer_bind_phone``).
    """

    class Origin(models.TextChoices):
        WECOM = "wecom", _("WeCom contact")
        IMPORT = "import", _("import (new number)")
        MANUAL = "manual", _("entered by staff")

    phone = models.CharField(_("phone"), max_length=E164_MAX_LENGTH, blank=True)
    name = models.CharField(_("name"), max_length=128, blank=True)
    owner = models.ForeignKey(
        Employee,
        verbose_name=_("owner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_customers",
    )
    origin = models.CharField(_("origin"), max_length=8, choices=Origin.choices, default=Origin.MANUAL)
    lifecycle_stage = models.CharField(
        _("lifecycle stage"), max_length=16, choices=Lifecycle.choices, default=Lifecycle.AWARENESS
    )
    opportunity_stage = models.ForeignKey(
        OpportunityStage,
        verbose_name=_("opportunity stage"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="customers",
        db_index=False,  # a partial index below: most customers have none
    )
    tier = models.ForeignKey(
        MemberTier,
        verbose_name=_("member tier"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # a partial index below
    )
    total_spend = models.DecimalField(_("total spend"), max_digits=14, decimal_places=2, default=Decimal("0"))
    order_count = models.PositiveIntegerField(_("orders"), default=0)
    referred_by = models.ForeignKey(
        "self",
        verbose_name=_("referred by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        db_index=False,  # a partial index below
    )
    marketing_opt_out = models.BooleanField(
        _("opted out of marketing"), default=False, help_text=_("No SOP push or mass message reaches this customer.")
    )
    last_contact_at = models.DateTimeField(_("last contact"), null=True, blank=True)
    # The ids of the tags the customer carries (tagging.CustomerTag) as an indexed array that segments filter on;
    # written only by tagging's assignment services, in the same transaction as the rows.
    SERVICE_FIELDS = ("tag_ids",)
    tag_ids = IntArrayField(
        _("tag ids"), default=list, db_default=Value([], output_field=IntArrayField()), editable=False
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-id"]
        permissions = [
            ("view_full_phone", _("Can view full phone numbers")),
            # without it a user sees only the customers their employee follows or owns
            ("view_all_customers", _("Can see every customer")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["phone"],
                condition=~Q(phone=""),
                name="customers_customer_phone_uniq",
                violation_error_message=_("A customer with this phone number already exists."),
            ),
        ]
        # Partial indexes: the full WeCom sync creates customers by the hundred thousand, most without a phone,
        # stage, tier, referrer or contact yet, and each index a new row skips is a write saved. Queries that
        # use them say the condition (``phone <> ''`` with the last four digits).
        indexes = [
            # "search by the last 4 digits" is how staff look a caller up
            models.Index(Right("phone", 4), condition=~Q(phone=""), name="customers_customer_last4"),
            models.Index(
                fields=["last_contact_at"],
                condition=Q(last_contact_at__isnull=False),
                name="customers_customer_lastcontact",
            ),
            models.Index(
                fields=["opportunity_stage"],
                condition=Q(opportunity_stage__isnull=False),
                name="customers_customer_oppstage",
            ),
            models.Index(fields=["tier"], condition=Q(tier__isnull=False), name="customers_customer_tier"),
            # segments filter by spend and lifecycle beside tags: with these the planner ANDs index bitmaps
            # instead of checking every tagged row (a third off the slow counts at a million customers)
            models.Index(fields=["total_spend"], condition=Q(total_spend__gt=0), name="customers_customer_spend"),
            models.Index(fields=["lifecycle_stage"], name="customers_customer_lifecycle"),
            models.Index(
                fields=["referred_by"], condition=Q(referred_by__isnull=False), name="customers_customer_referrer"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.masked_phone or f"#{self.pk}"

    @property
    def masked_phone(self) -> str:
        return phone_mask(self.phone)

    def clean(self) -> None:
        if self.referred_by_id and self.referred_by_id == self.pk:
            raise ValidationError({"referred_by": _("A customer cannot refer themselves.")})


class StageChange(models.Model):
    """History of both pipelines: who moved which stage, from what to what, and why."""

    class Pipeline(models.TextChoices):
        LIFECYCLE = "lifecycle", _("lifecycle")
        OPPORTUNITY = "opportunity", _("opportunity")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="stage_changes"
    )
    pipeline = models.CharField(_("pipeline"), max_length=16, choices=Pipeline.choices)
    from_value = models.CharField(_("from"), max_length=64, blank=True)
    to_value = models.CharField(_("to"), max_length=64)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    changed_at = models.DateTimeField(_("changed at"))

    class Meta:
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_value or '—'} → {self.to_value}"


class CustomerMerge(models.Model):
    """The record of one merge: the customer that disappeared, as it was, and what moved over."""

    into = models.ForeignKey(Customer, verbose_name=_("kept customer"), on_delete=models.CASCADE, related_name="merges")
    other_id = models.BigIntegerField(_("merged customer id"))
    other_phone = models.CharField(_("merged customer phone"), max_length=E164_MAX_LENGTH, blank=True)
    other_name = models.CharField(_("merged customer name"), max_length=128, blank=True)
    snapshot = models.JSONField(_("merged customer as it was"), default=dict)
    moved = models.JSONField(_("rows moved"), default=dict)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("merged by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    merged_at = models.DateTimeField(_("merged at"))

    class Meta:
        verbose_name = _("customer merge")
        verbose_name_plural = _("customer merges")
        ordering = ["-merged_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.other_id} → #{self.into_id}"
