"""群活码: group live codes. One permanent QR image we serve (it encodes our own URL, so it never changes) in front
of a WeCom join_way whose chat list we keep pointed at the code's groups that still have room.

A code's groups (``GroupCodeGroup``) fill in order: when the current group reaches the code's threshold, it is
marked full and the join_way moves on to the next ones (WeCom takes at most 5 chats per join_way). When every
group is full, WeCom's ``auto_create_room`` makes a new one (adopted here when it appears) or, with that off,
operations are alerted. Joiners carry the code's ``state`` in groupchat/get, which tags them.
"""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.utils.translation import gettext_lazy as _

from groups.models.channel_codes import STATE_LENGTH, WeComSync, WelcomeMessageFields
from groups.models.groups import WECOM_ID_LENGTH, CustomerGroup
from scrm.core.fields import IntArrayField
from scrm.core.models import TimeStampedModel

MAX_CHATS_PER_JOIN_WAY = 5
ROOM_BASE_NAME_LENGTH = 40
DEFAULT_THRESHOLD = 200


def new_public_token() -> str:
    return secrets.token_urlsafe(12)


class GroupCode(WelcomeMessageFields, TimeStampedModel):
    class Status(models.TextChoices):
        OPEN = "open", _("taking joiners")
        FULL = "full", _("every group full")  # and no new group could be made: operations were alerted
        PAUSED = "paused", _("paused")

    name = models.CharField(_("name"), max_length=100)
    state = models.CharField(
        _("channel state"),
        max_length=STATE_LENGTH,
        help_text=_("WeCom reports it on each member who joined through this code (at most 30 characters)."),
    )
    # The permanent QR image encodes /g/<public_token>: it never changes, whatever groups stand behind it.
    public_token = models.CharField(_("public token"), max_length=32, default=new_public_token, editable=False)
    threshold = models.PositiveIntegerField(
        _("members per group"),
        default=DEFAULT_THRESHOLD,
        help_text=_("When a group reaches this many members, the code moves on to the next group."),
    )
    auto_create_room = models.BooleanField(_("create a new group when all are full"), default=True)
    room_base_name = models.CharField(_("new group name prefix"), max_length=ROOM_BASE_NAME_LENGTH, blank=True)
    room_base_id = models.PositiveIntegerField(_("new group first number"), default=1)
    # Tags (tagging.Tag pks, system tags for customers) put on each customer who joins through this code.
    tag_ids = IntArrayField(
        _("tags on join"), default=list, blank=True, db_default=Value([], output_field=IntArrayField())
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.OPEN)
    alerted_at = models.DateTimeField(_("full alert sent at"), null=True, blank=True)
    remark = models.CharField(_("remark"), max_length=255, blank=True)
    # WeCom's side: the join_way and the group welcome template (入群欢迎语素材).
    config_id = models.CharField(_("WeCom config id"), max_length=WECOM_ID_LENGTH, blank=True)
    qr_code_url = models.URLField(_("WeCom QR code image"), max_length=1000, blank=True)
    welcome_template_id = models.CharField(_("welcome template id"), max_length=128, blank=True)
    wecom_sync = models.CharField(_("WeCom sync"), max_length=8, choices=WeComSync.choices, default=WeComSync.PENDING)
    wecom_error = models.TextField(_("WeCom error"), blank=True)
    # The chat list last sent to WeCom, to skip an update that changes nothing.
    wecom_chat_ids = models.JSONField(_("chats in WeCom"), default=list, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("group live code")
        verbose_name_plural = _("group live codes")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["state"], name="groups_groupcode_state_uniq"),
            models.UniqueConstraint(fields=["public_token"], name="groups_groupcode_token_uniq"),
            models.UniqueConstraint(
                fields=["config_id"], condition=~Q(config_id=""), name="groups_groupcode_config_uniq"
            ),
            models.CheckConstraint(condition=Q(threshold__gte=1), name="groups_groupcode_threshold_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class GroupCodeGroup(models.Model):
    code = models.ForeignKey(
        GroupCode, verbose_name=_("group live code"), on_delete=models.CASCADE, related_name="code_groups"
    )
    group = models.ForeignKey(
        CustomerGroup, verbose_name=_("customer group"), on_delete=models.CASCADE, related_name="code_links"
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    # Set when the group reached the code's threshold (or was dismissed): the code no longer sends joiners there.
    full_at = models.DateTimeField(_("full since"), null=True, blank=True)
    # True for a group WeCom created through auto_create_room, adopted from the join_way.
    auto_created = models.BooleanField(_("created automatically"), default=False)
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("group of a live code")
        verbose_name_plural = _("groups of a live code")
        ordering = ["code", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["code", "group"], name="groups_groupcodegroup_uniq")]

    def __str__(self) -> str:
        return f"{self.code}: {self.group}"
