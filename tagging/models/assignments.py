"""Who carries which tag, since when, and why.

``CustomerTag``/``GroupTag`` rows are the record (source, actor, time); ``Customer.tag_ids`` and
``CustomerGroup.tag_ids`` are the same set as an indexed integer array, written in the same transaction by
``tagging.services.assignments`` only, so that segments count with one index scan.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, FollowRelation
from groups.models import CustomerGroup
from tagging.models.taxonomy import Tag


class Source(models.TextChoices):
    MANUAL = "manual", _("manual")
    RULE = "rule", _("rule")
    WECOM = "wecom", _("WeCom")
    IMPORT = "import", _("import")
    CODE = "code", _("live code")  # a channel or group live code's tags, on those who came through it


class _Assignment(models.Model):
    tag = models.ForeignKey(Tag, verbose_name=_("tag"), on_delete=models.PROTECT, related_name="+")
    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    rule = models.ForeignKey(
        "tagging.TagRule", verbose_name=_("rule"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    job = models.ForeignKey(
        "tagging.TagBulkJob",
        verbose_name=_("bulk job"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("tagged at"))

    class Meta:
        abstract = True


class CustomerTag(_Assignment):
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="tag_assignments", db_index=False
    )

    class Meta:
        verbose_name = _("customer tag")
        verbose_name_plural = _("customer tags")
        constraints = [models.UniqueConstraint(fields=["customer", "tag"], name="tagging_customertag_uniq")]
        indexes = [
            models.Index(fields=["tag", "customer"], name="tagging_customertag_tag"),
            models.Index(fields=["job"], condition=Q(job__isnull=False), name="tagging_customertag_job"),
            models.Index(fields=["rule"], condition=Q(rule__isnull=False), name="tagging_customertag_rule"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.tag_id}"


class GroupTag(_Assignment):
    group = models.ForeignKey(
        CustomerGroup,
        verbose_name=_("customer group"),
        on_delete=models.CASCADE,
        related_name="tag_assignments",
        db_index=False,
    )

    class Meta:
        verbose_name = _("group tag")
        verbose_name_plural = _("group tags")
        constraints = [models.UniqueConstraint(fields=["group", "tag"], name="tagging_grouptag_uniq")]
        indexes = [models.Index(fields=["tag", "group"], name="tagging_grouptag_tag")]

    def __str__(self) -> str:
        return f"{self.group_id}:{self.tag_id}"


class WeComTagPush(models.Model):
    """Outbox of ``mark_tag`` calls: corp tags added here that WeCom must show on a follow relation, or removed.

    One pending row per relation at most (a partial unique index), so many changes to one relation before the
    drain become one call. Drained by a periodic task at the rate limit; a refused call keeps its error.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    relation = models.ForeignKey(
        FollowRelation, verbose_name=_("follow relation"), on_delete=models.CASCADE, related_name="+"
    )
    add_tag_ids = models.JSONField(_("WeCom tag ids to add"), default=list, blank=True)
    remove_tag_ids = models.JSONField(_("WeCom tag ids to remove"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    due_at = models.DateTimeField(_("due at"))
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("WeCom tag push")
        verbose_name_plural = _("WeCom tag pushes")
        constraints = [
            models.UniqueConstraint(
                fields=["relation"], condition=Q(status="pending"), name="tagging_wecomtagpush_pending_uniq"
            ),
        ]
        indexes = [models.Index(fields=["due_at"], condition=Q(status="pending"), name="tagging_wecomtagpush_due")]

    def __str__(self) -> str:
        return f"mark_tag #{self.pk}"
