"""Bots (托管账号): the WeCom accounts that send SOP content to customer groups, each running at most
``SOP_MAX_GROUPS_PER_BOT`` groups.

The cap is the database's to keep, not only the services': ``group_count`` is the number of the bot's
``BotGroup`` rows, raised only by a conditional UPDATE (``… WHERE group_count < LEAST(capacity, cap)``) in the
transaction that inserts the row, and a CHECK constraint refuses any count above ``capacity``. Two concurrent
assignments to a bot with one free slot cannot both pass: the second UPDATE waits for the first's row lock and
then finds no slot. A group runs under one bot at a time (a unique group).
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from groups.models.groups import WECOM_ID_LENGTH, CustomerGroup
from scrm.core.models import KeepsServiceFields, TimeStampedModel


def default_capacity() -> int:
    return settings.SOP_MAX_GROUPS_PER_BOT


class Bot(KeepsServiceFields, TimeStampedModel):
    # The sending account: an employee (the groups' owner, or a hosting account the owners made group admin).
    userid = models.CharField(_("employee userid"), max_length=WECOM_ID_LENGTH)
    name = models.CharField(_("name"), max_length=64, blank=True)
    capacity = models.PositiveIntegerField(
        _("capacity"),
        default=default_capacity,
        help_text=_("The most groups this bot may run; never above SOP_MAX_GROUPS_PER_BOT."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    note = models.TextField(_("note"), blank=True)
    # The number of BotGroup rows; only the bot services change it, with the rows, in one transaction.
    SERVICE_FIELDS = ("group_count",)
    group_count = models.PositiveIntegerField(_("groups"), default=0, editable=False)

    class Meta:
        verbose_name = _("bot")
        verbose_name_plural = _("bots")
        ordering = ["userid"]
        constraints = [
            models.UniqueConstraint(fields=["userid"], name="groups_bot_userid_uniq"),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="groups_bot_capacity_positive"),
            models.CheckConstraint(condition=Q(group_count__lte=F("capacity")), name="groups_bot_within_capacity"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.userid})" if self.name else self.userid

    @property
    def limit(self) -> int:
        """The groups this bot may run now: its capacity, lowered by the setting if that was lowered since."""
        return min(self.capacity, settings.SOP_MAX_GROUPS_PER_BOT)

    @property
    def utilization(self) -> float:
        return self.group_count / self.limit if self.limit else 1.0

    def clean(self) -> None:
        cap = settings.SOP_MAX_GROUPS_PER_BOT
        if self.capacity is not None and self.capacity > cap:
            raise ValidationError(
                {"capacity": _("A bot may run at most %(cap)d groups (SOP_MAX_GROUPS_PER_BOT).") % {"cap": cap}}
            )
        if self.capacity is not None and self.pk and self.capacity < self.group_count:
            raise ValidationError(
                {
                    "capacity": _("This bot runs %(count)d groups: move some away before lowering its capacity.")
                    % {"count": self.group_count}
                }
            )


class BotGroup(models.Model):
    """A customer group run by a bot. Written only by the bot services, which keep ``Bot.group_count``."""

    bot = models.ForeignKey(Bot, verbose_name=_("bot"), on_delete=models.PROTECT, related_name="assignments")
    group = models.OneToOneField(
        CustomerGroup, verbose_name=_("customer group"), on_delete=models.CASCADE, related_name="bot_assignment"
    )
    assigned_at = models.DateTimeField(_("assigned at"), auto_now_add=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("bot group")
        verbose_name_plural = _("bot groups")
        ordering = ["bot", "assigned_at", "id"]

    def __str__(self) -> str:
        return f"{self.bot} → {self.group}"
