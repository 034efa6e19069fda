"""渠道活码: channel live codes, WeCom's contact_way (「联系我」) with our rota, tags and welcome message.

A code is one WeCom contact_way (``config_id``, its QR image URL) whose ``state`` comes back on every
add_external_contact it brings, so each add is attributed to the code (``ChannelCodeAdd``). The employees who
take the adds (``ChannelCodeMember``) rotate: a member who reached today's daily limit leaves the contact_way's
user list until tomorrow, and the backups stand in when every primary member is at their limit.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q, Value
from django.utils.translation import gettext_lazy as _

from groups.models.groups import WECOM_ID_LENGTH
from scrm.core.fields import IntArrayField
from scrm.core.models import TimeStampedModel

STATE_LENGTH = 30  # WeCom's limit on a contact_way / join_way state
MAX_ATTACHMENTS = 9  # WeCom's limit on a welcome message's attachments


class WeComSync(models.TextChoices):
    """Where a code's configuration stands with WeCom."""

    PENDING = "pending", _("waiting to be sent")
    SYNCED = "synced", _("in WeCom")
    FAILED = "failed", _("failed")


class WelcomeMessageFields(models.Model):
    """A welcome message: text and WeCom attachments (``[{"msgtype": "image"|"link"|"miniprogram"|"video"|"file",
    …}]``, as ``send_welcome_msg`` takes them)."""

    welcome_text = models.TextField(_("welcome text"), blank=True)
    welcome_attachments = models.JSONField(_("welcome attachments"), default=list, blank=True)

    class Meta:
        abstract = True

    def clean(self) -> None:
        super().clean()
        attachments = self.welcome_attachments
        if not isinstance(attachments, list) or not all(
            isinstance(item, dict) and isinstance(item.get("msgtype"), str) for item in attachments
        ):
            raise ValidationError(
                {"welcome_attachments": _("Must be a list of attachments, each with its msgtype.")}, code="invalid"
            )
        if len(attachments) > MAX_ATTACHMENTS:
            raise ValidationError(
                {"welcome_attachments": _("At most %(max)d attachments.") % {"max": MAX_ATTACHMENTS}}, code="max"
            )

    @property
    def has_welcome(self) -> bool:
        return bool(self.welcome_text or self.welcome_attachments)


class ChannelCode(WelcomeMessageFields, TimeStampedModel):
    name = models.CharField(_("name"), max_length=100)
    state = models.CharField(
        _("channel state"),
        max_length=STATE_LENGTH,
        help_text=_("Sent back by WeCom with every add through this code (at most 30 characters)."),
    )
    skip_verify = models.BooleanField(_("add without verification"), default=True)
    # Corp or system tags (tagging.Tag pks) put on every customer who adds through this code.
    tag_ids = IntArrayField(
        _("tags on add"), default=list, blank=True, db_default=Value([], output_field=IntArrayField())
    )
    is_active = models.BooleanField(_("active"), default=True)
    remark = models.CharField(_("remark"), max_length=255, blank=True)
    # WeCom's side: the contact_way this code is, and how far our configuration reached it.
    config_id = models.CharField(_("WeCom config id"), max_length=WECOM_ID_LENGTH, blank=True)
    qr_code_url = models.URLField(_("QR code image"), max_length=1000, blank=True)
    wecom_sync = models.CharField(_("WeCom sync"), max_length=8, choices=WeComSync.choices, default=WeComSync.PENDING)
    wecom_error = models.TextField(_("WeCom error"), blank=True)
    # The user list last sent to WeCom (the rota's current answer), to skip an update that changes nothing.
    wecom_users = models.JSONField(_("users in WeCom"), default=list, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("channel live code")
        verbose_name_plural = _("channel live codes")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["state"], name="groups_channelcode_state_uniq"),
            models.UniqueConstraint(
                fields=["config_id"], condition=~Q(config_id=""), name="groups_channelcode_config_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ChannelCodeMember(models.Model):
    class Role(models.TextChoices):
        PRIMARY = "primary", _("in the rota")
        BACKUP = "backup", _("backup")

    code = models.ForeignKey(
        ChannelCode, verbose_name=_("channel live code"), on_delete=models.CASCADE, related_name="members"
    )
    userid = models.CharField(_("employee userid"), max_length=WECOM_ID_LENGTH)
    role = models.CharField(_("role"), max_length=8, choices=Role.choices, default=Role.PRIMARY)
    # Adds a day through this code before the member sits out until tomorrow; null = no limit.
    daily_limit = models.PositiveIntegerField(_("daily add limit"), null=True, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("channel code employee")
        verbose_name_plural = _("channel code employees")
        ordering = ["code", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["code", "userid"], name="groups_channelcodemember_uniq"),
            models.CheckConstraint(
                condition=Q(daily_limit__isnull=True) | Q(daily_limit__gte=1), name="groups_channelcodemember_limit"
            ),
        ]

    def __str__(self) -> str:
        return self.userid


class ChannelCodeAdd(models.Model):
    """One customer added one employee through a code (an add_external_contact carrying its state)."""

    class Welcome(models.TextChoices):
        NONE = "none", _("no welcome message")
        PENDING = "pending", _("to be sent")
        SENT = "sent", _("sent")
        ALREADY_SENT = "already", _("already sent by someone else")  # 41051: WeCom sent one, do not retry
        EXPIRED = "expired", _("expired")  # the 20-second welcome_code lapsed
        FAILED = "failed", _("failed")

    code = models.ForeignKey(
        ChannelCode, verbose_name=_("channel live code"), on_delete=models.CASCADE, related_name="adds"
    )
    userid = models.CharField(_("employee userid"), max_length=WECOM_ID_LENGTH)
    external_userid = models.CharField(_("external userid"), max_length=WECOM_ID_LENGTH)
    added_at = models.DateTimeField(_("added at"))
    welcome_code = models.CharField(_("welcome code"), max_length=128, blank=True, editable=False)
    welcome = models.CharField(_("welcome message"), max_length=8, choices=Welcome.choices, default=Welcome.NONE)
    welcome_sent_at = models.DateTimeField(_("welcome sent at"), null=True, blank=True)
    welcome_error = models.TextField(_("welcome error"), blank=True)

    class Meta:
        verbose_name = _("add through a channel code")
        verbose_name_plural = _("adds through channel codes")
        ordering = ["-added_at", "-id"]
        constraints = [
            # A replayed callback finds its add already recorded.
            models.UniqueConstraint(
                fields=["code", "userid", "external_userid", "added_at"], name="groups_channelcodeadd_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["code", "added_at"], name="groups_codeadd_code_added"),
            models.Index(fields=["userid", "added_at"], name="groups_codeadd_user_added"),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.external_userid} → {self.userid}"
