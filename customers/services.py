"""Writes to employees, external contacts and follow relations: idempotent upserts that callbacks and the full
WeCom sync both call.

Idempotency comes from the unique keys (userid, external_userid, employee × contact): an upsert locks or creates
the row by its key and writes only the fields that differ, so re-applying the same data changes nothing and
``updated_at`` moves only on a real change. Status changes carry the time WeCom says they happened; an older
change arriving after a newer one (a retried callback, a sync racing an event) is ignored.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Employee, ExternalContact, FollowRelation
from scrm.core.upsert import as_int, as_text, given, lock_or_create, require_id, update_changed, wecom_time

logger = logging.getLogger(__name__)

CONTACT_TEXT_FIELDS = ("name", "avatar", "unionid", "corp_name", "corp_full_name", "position")
INACTIVE_STATUSES = frozenset(
    {
        FollowRelation.Status.DELETED_BY_CUSTOMER,
        FollowRelation.Status.DELETED_BY_EMPLOYEE,
        FollowRelation.Status.TRANSFERRED,
    }
)


# ---- employees ---------------------------------------------------------------------------------------------------


def employee_upsert(
    *,
    userid: str,
    name: str | None = None,
    department_ids: list[int] | None = None,
    status: Employee.Status | str | None = None,
    avatar: str | None = None,
) -> Employee:
    """Create or update an employee by userid. ``None`` leaves a field as it is, so an event that only knows
    the userid creates a placeholder and never blanks what the directory sync filled in."""
    require_id(userid, "userid")
    values = given(name=name, department_ids=department_ids, status=status, avatar=avatar)
    with transaction.atomic():
        employee, created = lock_or_create(Employee, lookup={"userid": userid}, defaults=values)
        if not created:
            update_changed(employee, values)
    return employee


def employee_mark_resigned(*, userid: str) -> Employee:
    return employee_upsert(userid=userid, status=Employee.Status.RESIGNED)


# ---- external contacts -------------------------------------------------------------------------------------------


def external_contact_ensure(*, external_userid: str) -> ExternalContact:
    """The contact row, as a placeholder (external_userid only) if we have not seen it yet."""
    require_id(external_userid, "external_userid")
    with transaction.atomic():
        contact, _created = lock_or_create(
            ExternalContact, lookup={"external_userid": external_userid}, defaults={}, lock=False
        )
    return contact


def external_contact_upsert_from_wecom(*, detail: dict, follow_userid: str | None = None) -> ExternalContact:
    """Apply one contact's WeCom detail, in either shape WeCom returns it:

    - ``externalcontact/get``: ``{"external_contact": {...}, "follow_user": [{userid, remark, description,
      createtime, tags: [{tag_id, ...}], remark_corp_name, remark_mobiles, add_way, state, ...}]}``;
    - one item of ``batch/get_by_user``'s ``external_contact_list``: ``{"external_contact": {...},
      "follow_info": {userid, ..., tag_id: [...]}}``. ``follow_userid`` names the employee when WeCom leaves
      userid out of follow_info (it has done so).

    Relations not listed are left alone: follow_user is paged and limited to the app's visible members, so
    absence is not deletion (del_* callbacks and their times say that).
    """
    contact_data = detail.get("external_contact") if isinstance(detail, dict) else None
    if not isinstance(contact_data, dict):
        raise ValidationError({"external_contact": _("WeCom detail has no external_contact object.")})
    external_userid = as_text(contact_data.get("external_userid"))
    require_id(external_userid, "external_userid")

    values: dict[str, Any] = {key: as_text(contact_data[key]) for key in CONTACT_TEXT_FIELDS if key in contact_data}
    if contact_data.get("type") not in (None, ""):
        values["type"] = as_int(contact_data["type"], "type")
    if contact_data.get("gender") not in (None, ""):
        values["gender"] = as_int(contact_data["gender"], "gender")

    follows = _follows_of(detail, follow_userid)
    now = timezone.now()
    with transaction.atomic():
        contact, created = lock_or_create(
            ExternalContact, lookup={"external_userid": external_userid}, defaults={**values, "synced_at": now}
        )
        if not created:
            update_changed(contact, {**values, "synced_at": contact.synced_at or now})
        for follow in follows:
            _follow_upsert_from_wecom(contact=contact, follow=follow, at=now)
    return contact


def _follows_of(detail: dict, follow_userid: str | None) -> list[dict]:
    if "follow_user" in detail:
        follows = detail["follow_user"] or []
        if not isinstance(follows, list) or not all(isinstance(item, dict) for item in follows):
            raise ValidationError({"follow_user": _("follow_user must be a list of objects.")})
        return follows
    if "follow_info" in detail:
        info = detail["follow_info"]
        if not isinstance(info, dict):
            raise ValidationError({"follow_info": _("follow_info must be an object.")})
        if not info.get("userid") and follow_userid:
            info = {**info, "userid": follow_userid}
        return [info]
    return []


def _follow_upsert_from_wecom(*, contact: ExternalContact, follow: dict, at: datetime) -> FollowRelation:
    tag_ids = None  # neither key: leave the relation's tags as they are
    if "tag_id" in follow:  # batch/get_by_user: a list of corp tag ids
        if not isinstance(follow["tag_id"] or [], list):
            raise ValidationError({"tag_id": _("Must be a list of tag ids.")})
        tag_ids = [as_text(tag) for tag in follow["tag_id"] or []]
    elif "tags" in follow:  # externalcontact/get: tag objects; personal tags (type 2) carry no tag_id
        tags = follow["tags"] or []
        if not isinstance(tags, list) or not all(isinstance(tag, dict) for tag in tags):
            raise ValidationError({"tags": _("Must be a list of objects.")})
        tag_ids = [as_text(tag["tag_id"]) for tag in tags if tag.get("tag_id")]
    mobiles = follow.get("remark_mobiles")
    if mobiles is not None and not isinstance(mobiles, list):
        raise ValidationError({"remark_mobiles": _("Must be a list of phone numbers.")})
    return _relation_upsert(
        userid=as_text(follow.get("userid")),
        contact=contact,
        values=given(
            remark=_text_or_none(follow, "remark"),
            description=_text_or_none(follow, "description"),
            remark_corp_name=_text_or_none(follow, "remark_corp_name"),
            remark_mobiles=None if mobiles is None else [as_text(m) for m in mobiles],
            add_way=None if follow.get("add_way") in (None, "") else as_int(follow["add_way"], "add_way"),
            state=_text_or_none(follow, "state"),
            added_at=wecom_time(follow.get("createtime"), field="createtime"),
            wecom_tag_ids=tag_ids,
        ),
        at=at,
    )


def _text_or_none(data: dict, key: str) -> str | None:
    return as_text(data[key]) if key in data else None


# ---- follow relations --------------------------------------------------------------------------------------------


def follow_relation_upsert(
    *,
    userid: str,
    external_userid: str,
    at: datetime | None = None,
    remark: str | None = None,
    description: str | None = None,
    remark_corp_name: str | None = None,
    remark_mobiles: list[str] | None = None,
    add_way: int | None = None,
    state: str | None = None,
    added_at: datetime | None = None,
    wecom_tag_ids: list[str] | None = None,
) -> FollowRelation:
    """WeCom says ``userid`` follows ``external_userid`` as of ``at`` (default now): make the relation exist and
    be active, creating employee and contact placeholders as needed. ``None`` leaves a field as it is.

    A relation ended *after* ``at`` stays ended: this news is older than the deletion.
    """
    at = at or timezone.now()
    require_id(external_userid, "external_userid")
    values = given(
        remark=remark,
        description=description,
        remark_corp_name=remark_corp_name,
        remark_mobiles=remark_mobiles,
        add_way=add_way,
        state=state,
        added_at=added_at,
        wecom_tag_ids=wecom_tag_ids,
    )
    with transaction.atomic():
        contact = external_contact_ensure(external_userid=external_userid)
        return _relation_upsert(userid=userid, contact=contact, values=values, at=at)


def follow_relation_mark(
    *, userid: str, external_userid: str, status: FollowRelation.Status | str, at: datetime
) -> FollowRelation:
    """Record that a relation ended (deleted by either side, or transferred) at ``at``. The row is kept; a
    relation we never saw is recorded as already ended. Marking again, or with news older than the relation's
    last change, changes nothing."""
    if status not in INACTIVE_STATUSES:
        raise ValidationError({"status": _("A follow relation can only be marked deleted or transferred.")})
    require_id(userid, "userid")
    require_id(external_userid, "external_userid")
    with transaction.atomic():
        employee = _employee_ensure(userid)
        contact = external_contact_ensure(external_userid=external_userid)
        relation, created = lock_or_create(
            FollowRelation,
            lookup={"employee": employee, "contact": contact},
            defaults={"status": status, "status_changed_at": at},
        )
        if not created and relation.status != status and not _is_stale(relation, at):
            update_changed(relation, {"status": status, "status_changed_at": at})
    return relation


def _relation_upsert(*, userid: str, contact: ExternalContact, values: dict, at: datetime) -> FollowRelation:
    require_id(userid, "userid")
    employee = _employee_ensure(userid)
    relation, created = lock_or_create(
        FollowRelation,
        lookup={"employee": employee, "contact": contact},
        defaults={**values, "status": FollowRelation.Status.ACTIVE, "status_changed_at": at},
    )
    if not created:
        changes = dict(values)
        if relation.status != FollowRelation.Status.ACTIVE and not _is_stale(relation, at):
            changes.update(status=FollowRelation.Status.ACTIVE, status_changed_at=at)
        update_changed(relation, changes)
    return relation


def _employee_ensure(userid: str) -> Employee:
    employee, _created = lock_or_create(Employee, lookup={"userid": userid}, defaults={}, lock=False)
    return employee


def _is_stale(relation: FollowRelation, at: datetime) -> bool:
    return relation.status_changed_at is not None and at < relation.status_changed_at
