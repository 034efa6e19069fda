"""WeCom corp tags (企业标签) and their groups, as get_corp_tag_list and change_external_tag callbacks report them.

Rows are never deleted: a tag deleted in WeCom is marked ``deleted`` so history that points at it still reads.
Auto-tagging rules and segments come with a later issue.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from scrm.core.models import TimeStampedModel

WECOM_ID_LENGTH = 64


class TagQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted=False)


class TagGroup(TimeStampedModel):
    group_id = models.CharField(_("WeCom tag group id"), max_length=WECOM_ID_LENGTH)
    # Empty only on a placeholder made from a callback (which carries the id alone) until the sync fills it in.
    name = models.CharField(_("name"), max_length=255, blank=True)
    # WeCom sorts by order descending (larger first); uint32, hence a big integer.
    order = models.BigIntegerField(_("order"), default=0)
    deleted = models.BooleanField(_("deleted"), default=False)
    wecom_created_at = models.DateTimeField(_("created in WeCom at"), null=True, blank=True)

    objects = TagQuerySet.as_manager()

    class Meta:
        verbose_name = _("tag group")
        verbose_name_plural = _("tag groups")
        ordering = ["-order", "wecom_created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["group_id"], name="tagging_taggroup_group_id_uniq")]

    def __str__(self) -> str:
        return self.name or self.group_id


class Tag(TimeStampedModel):
    tag_id = models.CharField(_("WeCom tag id"), max_length=WECOM_ID_LENGTH)
    # Null only on a placeholder made from a callback: the event names the tag, not its group.
    group = models.ForeignKey(
        TagGroup, verbose_name=_("tag group"), on_delete=models.PROTECT, related_name="tags", null=True, blank=True
    )
    name = models.CharField(_("name"), max_length=255, blank=True)
    order = models.BigIntegerField(_("order"), default=0)
    deleted = models.BooleanField(_("deleted"), default=False)
    wecom_created_at = models.DateTimeField(_("created in WeCom at"), null=True, blank=True)

    objects = TagQuerySet.as_manager()

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["-order", "wecom_created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["tag_id"], name="tagging_tag_tag_id_uniq")]

    def __str__(self) -> str:
        return self.name or self.tag_id
