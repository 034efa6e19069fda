"""Writes of channel live codes (渠道活码, WeCom's contact_way): create, edit, activate, deactivate, delete, push
again, and the rota's refresh.

Every write is validated first (a ``ValidationError`` naming the field; nothing written, nothing sent), audited,
and reaches WeCom only after commit: the code is marked ``pending`` and ``channel_code_push`` (a task) sends it
(see ``groups.services.channel_codes_push``). WeCom hears of a change only when the contact_way would change: its
user list (the rota's answer, compared with ``wecom_users``), state, skip-verify, remark (the name), or whether
the code is active. Welcome message, tags and remark edits stay here.

The services lock the code row and save only the columns they change, never the WeCom facts (``config_id``,
``qr_code_url``, ``wecom_users``) which only the push writes: an edit racing a push cannot undo what WeCom made.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Employee
from groups.models import ChannelCode, ChannelCodeMember, GroupCode, WeComSync
from groups.selectors.channel_codes import adds_today_by_member, rota_of
from groups.services.channel_codes_push import push_after_commit
from scrm.core.hooks import publish
from scrm.core.services import audit_record

Role = ChannelCodeMember.Role

EDITABLE_FIELDS = ("name", "state", "skip_verify", "tag_ids", "welcome_text", "welcome_attachments", "remark")
# What the contact_way carries besides its users: a change of these is an update_contact_way.
WECOM_FIELDS = ("name", "state", "skip_verify")
STATE_PREFIX = "cc-"
STATE_ALPHABET = string.ascii_lowercase + string.digits
# send_welcome_msg's attachments: the object each msgtype carries and the keys WeCom requires in it.
ATTACHMENT_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "image": (("media_id",), ("pic_url",)),  # one of the two
    "link": (("title", "url"),),
    "miniprogram": (("title", "pic_media_id", "appid", "page"),),
    "video": (("media_id",),),
    "file": (("media_id",),),
}


@dataclass(frozen=True)
class MemberSpec:
    """One employee of a code: in the rota (``primary``, with an optional daily add limit) or a ``backup``."""

    userid: str
    role: str = Role.PRIMARY
    daily_limit: int | None = None
    position: int = 0


def member_specs(items: Iterable[MemberSpec | dict[str, Any] | str]) -> list[MemberSpec]:
    """Members as given (dicts from the API and admin, specs, or bare userids for rota members), positioned in the
    order given unless they say."""
    specs = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            item = {"userid": item}
        values = asdict(item) if isinstance(item, MemberSpec) else dict(item)
        values.setdefault("position", index)
        if values.get("position") is None:
            values["position"] = index
        values.setdefault("role", Role.PRIMARY)
        specs.append(
            MemberSpec(
                userid=str(values.get("userid") or "").strip(),
                role=values["role"],
                daily_limit=values.get("daily_limit"),
                position=values["position"],
            )
        )
    return specs


def members_of(code: ChannelCode) -> list[MemberSpec]:
    return [
        MemberSpec(userid=m.userid, role=m.role, daily_limit=m.daily_limit, position=m.position)
        for m in code.members.order_by("position", "pk")
    ]


# ---- validation ----------------------------------------------------------------------------------------------


def members_validate(specs: list[MemberSpec]) -> None:
    """The rota must have someone in it; each employee once, known and still with the company; limits ≥ 1 and
    only on rota members (a backup takes every add once the rota is full)."""
    problems: list[str] = []
    if not any(spec.role == Role.PRIMARY for spec in specs):
        problems.append(_("Put at least one employee in the rota."))
    seen: set[str] = set()
    for spec in specs:
        if not spec.userid:
            problems.append(_("Every employee needs a WeCom userid."))
            continue
        if spec.userid in seen:
            problems.append(_("“%(userid)s” is listed twice.") % {"userid": spec.userid})
        seen.add(spec.userid)
        if spec.role not in Role.values:
            problems.append(_("“%(role)s” is not a role: use primary or backup.") % {"role": spec.role})
        if spec.daily_limit is not None:
            if isinstance(spec.daily_limit, bool) or not isinstance(spec.daily_limit, int) or spec.daily_limit < 1:
                problems.append(_("The daily add limit of “%(userid)s” must be at least 1.") % {"userid": spec.userid})
            elif spec.role == Role.BACKUP:
                problems.append(
                    _("“%(userid)s” is a backup: a backup takes every add once the rota is full, so it has no limit.")
                    % {"userid": spec.userid}
                )
    statuses = dict(Employee.objects.filter(userid__in=seen).values_list("userid", "status"))
    for userid in sorted(seen):
        if userid not in statuses:
            problems.append(
                _("No employee “%(userid)s”: check the userid, or sync the WeCom directory first.") % {"userid": userid}
            )
        elif statuses[userid] != Employee.Status.ACTIVE:
            problems.append(_("“%(userid)s” has left the company.") % {"userid": userid})
    if problems:
        raise ValidationError({"members": problems})


def attachments_validate(attachments: Any) -> None:
    """Beyond the model's check (a list of at most 9, each with its msgtype): each carries what WeCom needs."""
    if not isinstance(attachments, list):
        return  # the model's clean says so
    for number, item in enumerate(attachments, start=1):
        if not isinstance(item, dict):
            continue
        kind = item.get("msgtype")
        if kind not in ATTACHMENT_KEYS:
            message = _("Attachment %(number)d: “%(type)s” is not one of image, link, miniprogram, video, file.")
            raise ValidationError({"welcome_attachments": message % {"number": number, "type": kind}})
        body = item.get(kind)
        if not isinstance(body, dict) or not any(all(body.get(key) for key in keys) for keys in ATTACHMENT_KEYS[kind]):
            needed = _(" or ").join(", ".join(f"{kind}.{key}" for key in keys) for keys in ATTACHMENT_KEYS[kind])
            message = _("Attachment %(number)d (%(type)s) needs %(keys)s.")
            raise ValidationError({"welcome_attachments": message % {"number": number, "type": kind, "keys": needed}})


def state_validate(state: str, *, code_pk: int | None) -> None:
    if any(char.isspace() for char in state):
        raise ValidationError({"state": _("The state cannot contain spaces.")})
    if ChannelCode.objects.filter(state=state).exclude(pk=code_pk).exists():
        raise ValidationError({"state": _("Another channel code already uses this state.")})
    if GroupCode.objects.filter(state=state).exists():  # one state, one live code: tags and stats follow it
        raise ValidationError({"state": _("A group live code already uses this state.")})


def channel_code_validate(*, code: ChannelCode, members: list[MemberSpec] | None, check_tags: bool = True) -> None:
    """Everything a save would refuse, as one ``ValidationError`` keyed by field. ``members`` None: not checked
    (the admin checks them in its inline). ``check_tags``: ask tagging whether the tags may go on customers (an edit
    that leaves the tags alone is not refused for them)."""
    errors: dict[str, list] = {}
    try:
        code.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    checks = [
        lambda: attachments_validate(code.welcome_attachments),
        lambda: state_validate(code.state, code_pk=code.pk),
    ]
    if members is not None:
        checks.append(lambda: members_validate(members))
    if check_tags and code.tag_ids and "tag_ids" not in errors:
        checks.append(lambda: publish("groups.code_tags_checking", tag_ids=list(code.tag_ids)))
    for check in checks:
        try:
            check()
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors.setdefault(name, []).extend(message for message in messages if message not in errors[name])
    if errors:
        raise ValidationError(errors)


def new_state() -> str:
    """A state no code uses yet: ``cc-`` and 12 random characters (WeCom allows 30)."""
    while True:
        state = STATE_PREFIX + "".join(secrets.choice(STATE_ALPHABET) for _ in range(12))
        if not ChannelCode.objects.filter(state=state).exists() and not GroupCode.objects.filter(state=state).exists():
            return state


def _normalized(name: str, value: Any) -> Any:
    if name in ("name", "state", "remark") and isinstance(value, str):
        return value.strip()
    if name == "tag_ids" and isinstance(value, list | tuple):
        return sorted(set(value), key=lambda tag_id: (not isinstance(tag_id, int), str(tag_id)))
    if name == "welcome_attachments" and isinstance(value, tuple):
        return list(value)
    return value


# ---- writes --------------------------------------------------------------------------------------------------


def _members_write(code: ChannelCode, specs: list[MemberSpec]) -> None:
    """Make the code's member rows these, keeping the rows of employees who stay."""
    existing = {member.userid: member for member in code.members.all()}
    wanted = {spec.userid for spec in specs}
    ChannelCodeMember.objects.filter(code=code).exclude(userid__in=wanted).delete()
    for spec in specs:
        values = {"role": spec.role, "daily_limit": spec.daily_limit, "position": spec.position}
        member = existing.get(spec.userid)
        if member is None:
            ChannelCodeMember.objects.create(code=code, userid=spec.userid, **values)
        elif any(getattr(member, name) != value for name, value in values.items()):
            ChannelCodeMember.objects.filter(pk=member.pk).update(**values)


def _save_new(code: ChannelCode) -> None:
    try:
        with transaction.atomic():
            code.save(force_insert=True)
    except IntegrityError as exc:  # a concurrent save took the state between our check and the insert
        if ChannelCode.objects.filter(state=code.state).exists():
            raise ValidationError({"state": _("Another channel code already uses this state.")}) from exc
        raise


def channel_code_create(
    *,
    name: str,
    members: Iterable[MemberSpec | dict[str, Any] | str],
    actor,
    state: str = "",
    skip_verify: bool = True,
    tag_ids: Iterable[int] = (),
    welcome_text: str = "",
    welcome_attachments: list[dict[str, Any]] | None = None,
    remark: str = "",
) -> ChannelCode:
    """A new code, ``pending`` until its contact_way is made in WeCom (after commit). A blank state is generated."""
    specs = member_specs(members)
    values = {
        "name": name,
        "state": state,
        "skip_verify": skip_verify,
        "tag_ids": list(tag_ids),
        "welcome_text": welcome_text,
        "welcome_attachments": welcome_attachments if welcome_attachments is not None else [],
        "remark": remark,
    }
    code = ChannelCode(**{key: _normalized(key, value) for key, value in values.items()})
    code.created_by = actor if getattr(actor, "pk", None) else None
    with transaction.atomic():
        if not code.state:
            code.state = new_state()
        channel_code_validate(code=code, members=specs)
        _save_new(code)
        _members_write(code, specs)
        audit_record(
            actor=actor,
            action="create",
            target=code,
            changes={**{key: getattr(code, key) for key in EDITABLE_FIELDS}, "members": [asdict(s) for s in specs]},
        )
        push_after_commit(code.pk)
    return code


def channel_code_update(
    *, code: ChannelCode, actor, members: Iterable[MemberSpec | dict[str, Any] | str] | None = None, **values: Any
) -> list[str]:
    """Change the given fields (``EDITABLE_FIELDS``) and, when given, the whole member list. Returns the names of
    what changed (``members`` included); WeCom is told after commit only if the contact_way changes. A blank
    state keeps the current one."""
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        row = ChannelCode.objects.select_for_update().get(pk=code.pk)
        before = {name: getattr(row, name) for name in EDITABLE_FIELDS}
        before_members = members_of(row)
        for name, value in values.items():
            value = _normalized(name, value)
            if name == "state" and not value:
                continue
            setattr(row, name, value)
        specs = member_specs(members) if members is not None else before_members
        changed = [name for name in EDITABLE_FIELDS if getattr(row, name) != before[name]]
        members_changed = sorted(specs, key=lambda s: s.userid) != sorted(before_members, key=lambda s: s.userid)
        if not changed and not members_changed:
            return []
        channel_code_validate(code=row, members=specs, check_tags="tag_ids" in changed)
        if members_changed:
            _members_write(row, specs)
        to_wecom = row.is_active and (
            any(name in changed for name in WECOM_FIELDS) or (members_changed and _rota_users(row) != row.wecom_users)
        )
        fields = list(changed)
        if to_wecom:
            row.wecom_sync, row.wecom_error = WeComSync.PENDING, ""
            fields += ["wecom_sync", "wecom_error"]
        row.save(update_fields=[*fields, "updated_at"])  # updated_at moves with members too: a push in flight sees it
        audit = {name: [before[name], getattr(row, name)] for name in changed}
        if members_changed:
            audit["members"] = [[asdict(s) for s in before_members], [asdict(s) for s in specs]]
            changed.append("members")
        audit_record(actor=actor, action="update", target=row, changes=audit)
        if to_wecom:
            push_after_commit(row.pk)
    _refresh(code, row)
    return changed


def _rota_users(code: ChannelCode) -> list[str]:
    return rota_of(members=code.members.all(), adds_today=adds_today_by_member([code.pk]).get(code.pk, {})).users


def _refresh(code: ChannelCode, row: ChannelCode) -> None:
    """The caller's instance takes the saved values (an admin form or a serializer renders it next)."""
    for field in ChannelCode._meta.concrete_fields:
        setattr(code, field.attname, getattr(row, field.attname))


def _set_active(*, code: ChannelCode, actor, active: bool) -> bool:
    with transaction.atomic():
        row = ChannelCode.objects.select_for_update().get(pk=code.pk)
        if row.is_active == active:
            return False
        row.is_active, row.wecom_sync, row.wecom_error = active, WeComSync.PENDING, ""
        row.save(update_fields=["is_active", "wecom_sync", "wecom_error", "updated_at"])
        audit_record(
            actor=actor,
            action="activate" if active else "deactivate",
            target=row,
            changes={"is_active": [not active, active]},
        )
        push_after_commit(row.pk)
    _refresh(code, row)
    return True


def channel_code_deactivate(*, code: ChannelCode, actor) -> bool:
    """Stop the code: its contact_way is deleted in WeCom (the QR code stops working); adds and figures stay.
    False when it was inactive already."""
    return _set_active(code=code, actor=actor, active=False)


def channel_code_activate(*, code: ChannelCode, actor) -> bool:
    """Start a stopped code again: WeCom makes it a new contact_way, with a new QR code."""
    return _set_active(code=code, actor=actor, active=True)


def channel_code_delete(*, code: ChannelCode, actor) -> None:
    """Delete the code with its members and adds (its figures go too: deactivate to keep them). Its contact_way is
    deleted in WeCom after commit, retried by that task while WeCom is busy."""
    from groups.tasks.channel_codes import contact_way_delete

    with transaction.atomic():
        row = ChannelCode.objects.select_for_update().filter(pk=code.pk).first()
        if row is None:
            return
        config_id = row.config_id
        audit_record(actor=actor, action="delete", target=row, changes={"state": row.state, "config_id": config_id})
        row.delete()
        if config_id:
            transaction.on_commit(lambda: contact_way_delete.delay(config_id))


def channel_codes_push_again(*, codes: Iterable[ChannelCode], actor) -> int:
    """Staff send the selected codes' configuration to WeCom again now (after a failure they fixed, or to put
    back what someone changed in the WeCom console). Returns how many were queued."""
    queued = 0
    with transaction.atomic():
        for row in ChannelCode.objects.select_for_update().filter(pk__in=[code.pk for code in codes]).order_by("pk"):
            before = row.wecom_sync
            row.wecom_sync, row.wecom_error = WeComSync.PENDING, ""
            row.save(update_fields=["wecom_sync", "wecom_error", "updated_at"])
            audit_record(actor=actor, action="push_again", target=row, changes={"wecom_sync": [before, row.wecom_sync]})
            push_after_commit(row.pk)
            queued += 1
    return queued


def channel_codes_rota_refresh(*, code_ids: Iterable[int] | None = None, now: datetime | None = None) -> list[int]:
    """Recompute the rota of these active codes (all of them when None): those whose user list is no longer the
    one WeCom has are marked pending and pushed after commit. Returns their ids."""
    now = now or timezone.now()
    codes = ChannelCode.objects.filter(is_active=True).prefetch_related("members").order_by("pk")
    if code_ids is not None:
        codes = codes.filter(pk__in=list(code_ids))
    codes = list(codes)
    today = adds_today_by_member([code.pk for code in codes], now=now)
    changed = []
    for code in codes:
        users = rota_of(members=code.members.all(), adds_today=today.get(code.pk, {})).users
        if users == code.wecom_users:
            continue
        # updated_at moves even when the code is pending already: a push in flight must not settle a stale list.
        ChannelCode.objects.filter(pk=code.pk).update(wecom_sync=WeComSync.PENDING, wecom_error="", updated_at=now)
        push_after_commit(code.pk)
        changed.append(code.pk)
    return changed
