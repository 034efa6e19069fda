"""Auto-tagging rules (自动打标签), declarative: "customers who <condition> carry <tag>".

Conditions that describe a moment (added through a channel code, said a keyword) only ever add the tag; conditions
that describe a state (spend, idleness, group membership, stage) also take it away when the state ends — but only
from customers the rule tagged, never a tag someone put on by hand.
"""

from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from scrm.core.models import TimeStampedModel
from tagging.models.taxonomy import Tag, TagTarget


class RuleKind(models.TextChoices):
    CHANNEL_CODE = "channel_code", _("added through channel code")
    CHAT_KEYWORD = "chat_keyword", _("said a keyword in chat")
    SPEND_AT_LEAST = "spend_at_least", _("cumulative spend at least")
    IDLE_DAYS = "idle_days", _("no interaction for at least N days")
    GROUP_MEMBER = "group_member", _("member of customer group")
    LIFECYCLE_STAGE = "lifecycle_stage", _("lifecycle stage")
    OPPORTUNITY_STAGE = "opportunity_stage", _("opportunity stage")


# Kinds whose condition can stop holding: the rule removes its own tag then.
STATE_KINDS = frozenset(
    {
        RuleKind.SPEND_AT_LEAST,
        RuleKind.IDLE_DAYS,
        RuleKind.GROUP_MEMBER,
        RuleKind.LIFECYCLE_STAGE,
        RuleKind.OPPORTUNITY_STAGE,
    }
)


class TagRule(TimeStampedModel):
    name = models.CharField(_("name"), max_length=100)
    tag = models.ForeignKey(Tag, verbose_name=_("tag"), on_delete=models.PROTECT, related_name="rules")
    kind = models.CharField(_("condition"), max_length=20, choices=RuleKind.choices)
    # channel code (state), keyword, amount, days, group chat id, lifecycle value or opportunity stage name
    value = models.CharField(_("value"), max_length=255)
    enabled = models.BooleanField(_("enabled"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    last_run_at = models.DateTimeField(_("last evaluated at"), null=True, blank=True)
    last_added = models.PositiveIntegerField(_("added at last evaluation"), default=0)
    last_removed = models.PositiveIntegerField(_("removed at last evaluation"), default=0)

    class Meta:
        verbose_name = _("tagging rule")
        verbose_name_plural = _("tagging rules")
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["kind"], name="tagging_rule_kind")]

    def __str__(self) -> str:
        return self.name

    @property
    def removes_tag(self) -> bool:
        return self.kind in STATE_KINDS

    def clean(self) -> None:
        self.value = (self.value or "").strip()
        if not self.value:
            raise ValidationError({"value": _("This condition needs a value.")})
        if self.kind == RuleKind.SPEND_AT_LEAST:
            try:
                amount = Decimal(self.value)
            except InvalidOperation:
                raise ValidationError({"value": _("Enter an amount, such as 500.")}) from None
            if not amount.is_finite() or amount < 0:
                raise ValidationError({"value": _("Enter an amount of 0 or more.")})
        if self.kind == RuleKind.IDLE_DAYS and not (self.value.isdigit() and 1 <= int(self.value) <= 3650):
            raise ValidationError({"value": _("Enter a whole number of days between 1 and 3650.")})
        if self.kind == RuleKind.CHANNEL_CODE and len(self.value) > 30:
            raise ValidationError({"value": _("A channel code (state) has at most 30 characters.")})
        if self.tag_id and (self.tag.deleted or (self.tag.group_id and self.tag.group.target != TagTarget.CUSTOMER)):
            raise ValidationError({"tag": _("Choose a live tag that applies to customers.")})
