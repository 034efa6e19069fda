"""Saved segments: a named segment expression over customers or customer groups, counted live."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from scrm.core.models import TimeStampedModel
from tagging.models.taxonomy import TagTarget


class Segment(TimeStampedModel):
    name = models.CharField(_("name"), max_length=100)
    target = models.CharField(_("applies to"), max_length=8, choices=TagTarget.choices, default=TagTarget.CUSTOMER)
    expression = models.TextField(
        _("expression"), help_text=_("For example: (奶粉 OR 辅食) AND NOT 已流失 AND stage:谈判 AND spend>=500")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    last_count = models.PositiveIntegerField(_("last count"), null=True, blank=True)
    counted_at = models.DateTimeField(_("counted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["name", "target"], name="tagging_segment_name_uniq")]

    def __str__(self) -> str:
        return self.name
