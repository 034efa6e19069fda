"""WeCom customer groups (客户群) and their members, as callbacks and the sync report them.

Members who leave keep their row (``left_at`` set), so joins, departures and the member count history stay
answerable. ``member_count`` always equals the members whose ``left_at`` is null; only services change it.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Value
from django.utils.translation import gettext_lazy as _

from scrm.core.fields import IntArrayField
from scrm.core.models import KeepsServiceFields, TimeStampedModel

WECOM_ID_LENGTH = 64


class CustomerGroup(KeepsServiceFields, TimeStampedModel):
    class Status(models.TextChoices):
        NORMAL = "normal", _("normal")
        DISMISSED = "dismissed", _("dismissed")

    chat_id = models.CharField(_("chat id"), max_length=WECOM_ID_LENGTH)
    # WeCom allows unnamed groups (the client shows member names), so an empty name is real data.
    name = models.CharField(_("name"), max_length=255, blank=True)
    owner_userid = models.CharField(_("owner userid"), max_length=WECOM_ID_LENGTH, blank=True)
    notice = models.TextField(_("notice"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.NORMAL)
    dismissed_at = models.DateTimeField(_("dismissed at"), null=True, blank=True)
    wecom_created_at = models.DateTimeField(_("created in WeCom at"), null=True, blank=True)
    # WeCom's opaque member-list version (CurMemVer / member_version) and the time it describes: an older event
    # processed late must not wind it back, since the gateway compares it with the next event's LastMemVer.
    member_version = models.CharField(_("member version"), max_length=64, blank=True)
    member_version_at = models.DateTimeField(_("member version as of"), null=True, blank=True)
    member_count = models.PositiveIntegerField(_("member count"), default=0)
    admin_userids = models.JSONField(_("admin userids"), default=list, blank=True)
    # When WeCom's groupchat/get detail first landed; null = a placeholder made from a callback.
    synced_at = models.DateTimeField(_("detail synced at"), null=True, blank=True)
    # The group's tags (tagging.GroupTag) as an indexed array for segments; written only by tagging's services.
    SERVICE_FIELDS = ("tag_ids",)
    tag_ids = IntArrayField(
        _("tag ids"), default=list, db_default=Value([], output_field=IntArrayField()), editable=False
    )

    class Meta:
        verbose_name = _("customer group")
        verbose_name_plural = _("customer groups")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["chat_id"], name="groups_group_chat_id_uniq")]
        indexes = [
            models.Index(fields=["owner_userid"], name="groups_group_owner"),
            models.Index(fields=["created_at"], name="groups_group_created"),
        ]

    def __str__(self) -> str:
        return self.name or self.chat_id

    def clean(self) -> None:
        if not isinstance(self.admin_userids, list) or not all(type(u) is str for u in self.admin_userids):
            raise ValidationError({"admin_userids": _("Must be a list of userids.")}, code="invalid")
        if (self.status == self.Status.DISMISSED) != (self.dismissed_at is not None):
            raise ValidationError(
                {"dismissed_at": _("A dismissed group needs its dismissal time, and only a dismissed group.")}
            )

    @property
    def is_placeholder(self) -> bool:
        return self.synced_at is None


class GroupMemberQuerySet(models.QuerySet):
    def current(self) -> "GroupMemberQuerySet":
        return self.filter(left_at__isnull=True)


class GroupMember(TimeStampedModel):
    class MemberType(models.IntegerChoices):
        EMPLOYEE = 1, _("employee")
        EXTERNAL_CONTACT = 2, _("external contact")

    class JoinScene(models.IntegerChoices):
        # The callback says 0 for both kinds of invitation; groupchat/get tells them apart (1, 2).
        INVITED = 0, _("invited by a member")
        INVITED_DIRECTLY = 1, _("invited directly")
        INVITE_LINK = 2, _("joined by invite link")
        QR_CODE = 3, _("scanned the group QR code")

    class QuitScene(models.IntegerChoices):
        LEFT = 0, _("left by themselves")
        REMOVED = 1, _("removed by the owner")

    group = models.ForeignKey(
        CustomerGroup,
        verbose_name=_("customer group"),
        on_delete=models.CASCADE,
        related_name="members",
        db_index=False,  # the (group, member_id) unique index serves lookups by group
    )
    member_id = models.CharField(_("member id"), max_length=WECOM_ID_LENGTH)
    member_type = models.PositiveSmallIntegerField(_("member type"), choices=MemberType.choices)
    unionid = models.CharField(_("unionid"), max_length=WECOM_ID_LENGTH, blank=True)
    name = models.CharField(_("name"), max_length=255, blank=True)
    group_nickname = models.CharField(_("group nickname"), max_length=255, blank=True)
    join_time = models.DateTimeField(_("joined at"), null=True, blank=True)
    join_scene = models.PositiveSmallIntegerField(_("join scene"), choices=JoinScene.choices, null=True, blank=True)
    invitor_userid = models.CharField(_("invited by"), max_length=WECOM_ID_LENGTH, blank=True)
    # The state of the join_way (group live code) the member joined through, as groupchat/get reports it.
    join_state = models.CharField(_("joined through state"), max_length=30, blank=True)
    # When the live code of ``join_state`` put its tags on this member's customer: once per join (a later join_time
    # means a new join), so a tag staff took off is not put back by the next refresh of the group.
    code_tagged_at = models.DateTimeField(_("tagged by its live code at"), null=True, blank=True, editable=False)
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    quit_scene = models.PositiveSmallIntegerField(_("quit scene"), choices=QuitScene.choices, null=True, blank=True)

    objects = GroupMemberQuerySet.as_manager()

    class Meta:
        verbose_name = _("group member")
        verbose_name_plural = _("group members")
        ordering = ["join_time", "id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "member_id"], name="groups_member_group_member_uniq"),
        ]
        indexes = [models.Index(fields=["member_id"], name="groups_member_member_id")]

    def __str__(self) -> str:
        return self.name or self.member_id

    @property
    def in_group(self) -> bool:
        return self.left_at is None
