"""The tag taxonomy: tag groups and tags.

Three kinds. **Corp** tags mirror WeCom's 企业标签 (ids, order, deleted) and are edited here or in WeCom, kept in
two-way sync. **System** tags are ours alone (channel source, region, value tier, group categories) and never
leave this database. **Personal** tags are what an employee typed in WeCom for themselves (个人标签): stored
read-only as the sync reports them. A group of system tags may apply to customer groups instead of customers.

Rows are never deleted: a tag deleted (here or in WeCom) is marked ``deleted`` so history that points at it still
reads. A corp tag edited here carries ``sync_state = pending`` until WeCom has it; ``local_changed_at`` and
``wecom_changed_at`` decide who wins when both sides edit the same tag (the later writer).
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from scrm.core.models import TimeStampedModel

WECOM_ID_LENGTH = 64
# WeCom's own limits (企业客户标签): names up to 30 characters, at most 3,000 tags per corp.
TAG_NAME_MAX_LENGTH = 30
MAX_CORP_TAGS = 3000


class TagKind(models.TextChoices):
    CORP = "corp", _("WeCom corp tag")
    SYSTEM = "system", _("system tag")
    PERSONAL = "personal", _("WeCom personal tag")


class TagTarget(models.TextChoices):
    CUSTOMER = "customer", _("customers")
    GROUP = "group", _("customer groups")


class SyncState(models.TextChoices):
    SYNCED = "synced", _("in sync with WeCom")
    PENDING = "pending", _("waiting to be sent to WeCom")
    FAILED = "failed", _("WeCom refused the change")
    LOCAL = "local", _("local only")


class TagQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted=False)


class _TaxonomyNode(TimeStampedModel):
    kind = models.CharField(_("kind"), max_length=8, choices=TagKind.choices, default=TagKind.CORP)
    # WeCom sorts by order descending (larger first); uint32, hence a big integer.
    order = models.BigIntegerField(_("order"), default=0)
    deleted = models.BooleanField(_("deleted"), default=False)
    wecom_created_at = models.DateTimeField(_("created in WeCom at"), null=True, blank=True)
    # Two-way sync (corp tags only). An app may edit only the corp tags it created unless it uses the 客户联系
    # secret: ``created_here`` says which ones we created.
    created_here = models.BooleanField(_("created by this system"), default=False)
    sync_state = models.CharField(_("sync state"), max_length=8, choices=SyncState.choices, default=SyncState.SYNCED)
    sync_error = models.TextField(_("last sync error"), blank=True)
    sync_attempts = models.PositiveSmallIntegerField(_("sync attempts"), default=0)
    local_changed_at = models.DateTimeField(_("changed here at"), null=True, blank=True)
    wecom_changed_at = models.DateTimeField(_("changed in WeCom at"), null=True, blank=True)

    objects = TagQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_wecom(self) -> bool:
        return self.kind == TagKind.CORP


class TagGroup(_TaxonomyNode):
    # Empty for a group that exists only here (system, personal, or a corp group not yet sent to WeCom).
    group_id = models.CharField(_("WeCom tag group id"), max_length=WECOM_ID_LENGTH, blank=True)
    # Empty only on a placeholder made from a callback (which carries the id alone) until the sync fills it in.
    name = models.CharField(_("name"), max_length=255, blank=True)
    target = models.CharField(_("applies to"), max_length=8, choices=TagTarget.choices, default=TagTarget.CUSTOMER)

    class Meta:
        verbose_name = _("tag group")
        verbose_name_plural = _("tag groups")
        ordering = ["-order", "wecom_created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group_id"], condition=~Q(group_id=""), name="tagging_taggroup_group_id_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.group_id

    def clean(self) -> None:
        if self.target == TagTarget.GROUP and self.kind != TagKind.SYSTEM:
            raise ValidationError(
                {"target": _("Only system tags can apply to customer groups: WeCom has no API for group tags.")}
            )


class Tag(_TaxonomyNode):
    tag_id = models.CharField(_("WeCom tag id"), max_length=WECOM_ID_LENGTH, blank=True)
    # Null only on a placeholder made from a callback: the event names the tag, not its group.
    group = models.ForeignKey(
        TagGroup, verbose_name=_("tag group"), on_delete=models.PROTECT, related_name="tags", null=True, blank=True
    )
    name = models.CharField(_("name"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["-order", "wecom_created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tag_id"], condition=~Q(tag_id=""), name="tagging_tag_tag_id_uniq"),
        ]
        indexes = [models.Index(fields=["name"], name="tagging_tag_name")]

    def __str__(self) -> str:
        return self.name or self.tag_id

    @property
    def label(self) -> str:
        """``group/tag``: how segment expressions name a tag whose name alone is ambiguous."""
        group = self.group.name if self.group_id and self.group else ""
        name = self.name or self.tag_id  # a placeholder from a callback has only its WeCom id until the sync
        return f"{group}/{name}" if group else name
