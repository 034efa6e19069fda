"""WeCom-side records of people: employees (成员), external contacts (外部联系人) and who follows whom.

WeCom owns these rows: callbacks and the full sync keep them current through ``customers.services``. Each
external contact belongs to one phone-keyed ``Customer`` (``contact.customer``); a merge moves contacts, and with
them their follow relations, tags and group memberships.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from scrm.core.models import TimeStampedModel

# WeCom ids are at most 64 bytes (userid 1-64, external_userid 32 today); avatars are CDN URLs of any length.
WECOM_ID_LENGTH = 64
URL_LENGTH = 1000


def validate_list_of(value, item_type: type, field: str) -> None:
    """JSON list fields hold exactly one item type, so readers never meet a stray dict or null."""
    if not isinstance(value, list) or not all(type(item) is item_type for item in value):
        raise ValidationError(
            {field: _("Must be a list of %(type)s values.") % {"type": item_type.__name__}}, code="invalid"
        )


def validate_list_fields(model: type[models.Model], values: dict) -> None:
    """The model's ``LIST_FIELDS`` rule for whichever of them ``values`` holds."""
    for name, item_type in getattr(model, "LIST_FIELDS", {}).items():
        if name in values:
            validate_list_of(values[name], item_type, name)


class Employee(TimeStampedModel):
    """A corp member (成员) as WeCom knows them. Created as a placeholder (userid only) when an event names
    someone we have not synced yet; the directory sync fills in the rest."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        RESIGNED = "resigned", _("resigned")

    userid = models.CharField(_("WeCom userid"), max_length=WECOM_ID_LENGTH)
    name = models.CharField(_("name"), max_length=128, blank=True)
    department_ids = models.JSONField(_("department ids"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Not a URLField: the URL comes from WeCom and is only displayed; refusing an odd one would drop the event.
    avatar = models.CharField(_("avatar"), max_length=URL_LENGTH, blank=True)
    # The staff login of this employee: what a sales user may see is what their employee follows.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("login"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="employee",
    )

    class Meta:
        verbose_name = _("employee")
        verbose_name_plural = _("employees")
        ordering = ["userid"]
        # Keys are declared as constraints and indexes, not unique=True/db_index=True on the field: on PostgreSQL
        # those also build a varchar_pattern_ops (LIKE) index that nothing queries and every insert writes.
        constraints = [models.UniqueConstraint(fields=["userid"], name="customers_employee_userid_uniq")]
        indexes = [models.Index(fields=["created_at"], name="customers_employee_created")]

    def __str__(self) -> str:
        return self.label(userid=self.userid, name=self.name)

    @staticmethod
    def label(*, userid: str, name: str) -> str:
        """How an employee is named to people (also where only the two values were read, not the row)."""
        return f"{name} ({userid})" if name else userid

    LIST_FIELDS = {"department_ids": int}

    def clean(self) -> None:
        validate_list_fields(type(self), {name: getattr(self, name) for name in self.LIST_FIELDS})


class ExternalContact(TimeStampedModel):
    """A WeCom external contact (外部联系人/客户). One row per external_userid, however many employees follow it.

    ``customer`` joins it to the phone-keyed customer; every contact gets one as soon as it is stored (null only
    in the moment between the two inserts).
    """

    class Type(models.IntegerChoices):
        WECHAT = 1, _("WeChat user")
        WECOM = 2, _("WeCom user")

    class Gender(models.IntegerChoices):
        UNKNOWN = 0, _("unknown")
        MALE = 1, _("male")
        FEMALE = 2, _("female")

    external_userid = models.CharField(_("external userid"), max_length=WECOM_ID_LENGTH)
    name = models.CharField(_("name"), max_length=128, blank=True)
    avatar = models.CharField(_("avatar"), max_length=URL_LENGTH, blank=True)
    # Null on a placeholder created from a callback: WeCom tells the type only in the contact's detail.
    type = models.PositiveSmallIntegerField(_("type"), choices=Type.choices, null=True, blank=True)
    gender = models.PositiveSmallIntegerField(_("gender"), choices=Gender.choices, default=Gender.UNKNOWN)
    unionid = models.CharField(_("unionid"), max_length=WECOM_ID_LENGTH, blank=True)
    corp_name = models.CharField(_("corp short name"), max_length=255, blank=True)
    corp_full_name = models.CharField(_("corp full name"), max_length=255, blank=True)
    position = models.CharField(_("position"), max_length=255, blank=True)
    # When the WeCom detail (externalcontact/get or batch/get_by_user) last landed; null = placeholder only.
    synced_at = models.DateTimeField(_("detail synced at"), null=True, blank=True)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="contacts",
    )

    class Meta:
        verbose_name = _("external contact")
        verbose_name_plural = _("external contacts")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["external_userid"], name="customers_contact_external_userid_uniq")
        ]
        indexes = [
            models.Index(fields=["unionid"], name="customers_contact_unionid"),
            models.Index(fields=["created_at"], name="customers_contact_created"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_userid})" if self.name else self.external_userid

    @property
    def is_placeholder(self) -> bool:
        return self.synced_at is None


class FollowRelation(TimeStampedModel):
    """An employee × external contact friendship (WeCom's follow_user / follow_info), kept after it ends."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        DELETED_BY_CUSTOMER = "deleted_by_customer", _("deleted by the customer")
        DELETED_BY_EMPLOYEE = "deleted_by_employee", _("deleted by the employee")
        TRANSFERRED = "transferred", _("transferred")

    employee = models.ForeignKey(
        Employee,
        verbose_name=_("employee"),
        on_delete=models.PROTECT,
        related_name="follow_relations",
        db_index=False,  # the (employee, contact) unique index serves lookups by employee
    )
    contact = models.ForeignKey(
        ExternalContact,
        verbose_name=_("external contact"),
        on_delete=models.PROTECT,
        related_name="follow_relations",
        db_index=False,  # the (contact, status) index serves lookups by contact
    )
    remark = models.CharField(_("remark"), max_length=255, blank=True)
    description = models.CharField(_("description"), max_length=512, blank=True)
    remark_corp_name = models.CharField(_("remark corp name"), max_length=255, blank=True)
    remark_mobiles = models.JSONField(_("remark mobiles"), default=list, blank=True)
    # WeCom's add_way (0 unknown, 1 scanned a QR code, … 201 shared by a member, 202 assigned by the admin …).
    add_way = models.PositiveIntegerField(_("add way"), default=0)
    # The channel code's state. WeCom caps the state we *set* on a contact way at 30 chars, but this column
    # stores what WeCom *reports*, from every add path (other apps' codes, acquisition links); a longer value
    # must not make the whole add event fail and retry forever. Our own channel codes enforce 30 where made.
    state = models.CharField(_("channel state"), max_length=64, blank=True)
    added_at = models.DateTimeField(_("added at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=32, choices=Status.choices, default=Status.ACTIVE)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    # The tags as WeCom shows them on this relation: corp tag ids, and the names of the employee's personal tags
    # (个人标签, which have no id). tagging turns them into the customer's tag assignments (source "WeCom").
    wecom_tag_ids = models.JSONField(_("WeCom tag ids"), default=list, blank=True)
    personal_tags = models.JSONField(_("personal tags"), default=list, blank=True)

    class Meta:
        verbose_name = _("follow relation")
        verbose_name_plural = _("follow relations")
        ordering = ["-added_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["employee", "contact"], name="customers_follow_employee_contact_uniq"),
        ]
        indexes = [
            models.Index(fields=["contact", "status"], name="customers_follow_contact_st"),
            models.Index(fields=["state"], name="customers_follow_state"),
        ]

    def __str__(self) -> str:
        return f"{self.employee} → {self.contact}"

    LIST_FIELDS = {"remark_mobiles": str, "wecom_tag_ids": str, "personal_tags": str}

    def clean(self) -> None:
        validate_list_fields(type(self), {name: getattr(self, name) for name in self.LIST_FIELDS})

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE
