"""Per group and day figures, rolled up from members (and, once they land, chat messages and SOP pushes)."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from groups.models.groups import CustomerGroup


class GroupDailyStat(models.Model):
    group = models.ForeignKey(
        CustomerGroup, verbose_name=_("customer group"), on_delete=models.CASCADE, related_name="daily_stats"
    )
    day = models.DateField(_("day"))  # a calendar day in TIME_ZONE
    members = models.PositiveIntegerField(_("members at the end of the day"), default=0)
    joins = models.PositiveIntegerField(_("joins"), default=0)
    quits = models.PositiveIntegerField(_("quits"), default=0)
    # Null until chat sync lands: "no data" is not "no messages".
    messages = models.PositiveIntegerField(_("messages"), null=True, blank=True)
    sop_pushes = models.PositiveIntegerField(_("SOP pushes"), default=0)
    sop_clicks = models.PositiveIntegerField(_("SOP clicks"), default=0)
    computed_at = models.DateTimeField(_("computed at"), auto_now=True)

    class Meta:
        verbose_name = _("group daily figures")
        verbose_name_plural = _("group daily figures")
        ordering = ["-day", "group"]
        constraints = [models.UniqueConstraint(fields=["group", "day"], name="groups_dailystat_group_day_uniq")]
        indexes = [models.Index(fields=["day"], name="groups_dailystat_day")]

    def __str__(self) -> str:
        return f"{self.group} {self.day}"
