"""Writes to employees, external contacts and follow relations: idempotent upserts that callbacks and the full
WeCom sync both call.

Idempotency comes from the unique keys (userid, external_userid, employee × contact): an upsert locks or creates
the row by its key and writes only the fields that differ, so re-applying the same data changes nothing and
``updated_at`` moves only on a real change. Status changes carry the time WeCom says they happened; an older
change arriving after a newer one (a retried callback, a sync racing an event) is ignored.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Employee, ExternalContact, FollowRelation, validate_list_fields
from customers.services.identity import contacts_link_customers, customers_for_new_contacts
from scrm.core.hooks import publish
from scrm.core.upsert import (
    as_int,
    as_text,
    given,
    insert_rows,
    lock_or_create,
    require_id,
    update_changed,
    update_rows,
    wecom_time,
)

logger = logging.getLogger(__name__)

CONTACT_TEXT_FIELDS = ("name", "avatar", "unionid", "corp_name", "corp_full_name", "position")
# externalcontact/get's tag types: 1 corp tag, 2 the employee's personal tag (个人标签), 3 a rule-group tag.
PERSONAL_TAG_TYPE = "2"
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
    external_userid, values, follows = _parse_detail(detail, follow_userid)
    now = timezone.now()
    with transaction.atomic():
        contact, created = lock_or_create(
            ExternalContact, lookup={"external_userid": external_userid}, defaults={**values, "synced_at": now}
        )
        if not created:
            update_changed(contact, {**values, "synced_at": contact.synced_at or now})
        for userid, relation_values in follows:
            _relation_upsert(userid=userid, contact=contact, values=relation_values, at=now)
        mobiles = [mobile for _userid, values in follows for mobile in values.get("remark_mobiles", [])]
        contacts_link_customers(contact_ids=[contact.pk], remark_mobiles={contact.pk: mobiles})
        publish("customers.contacts_changed", contact_ids=[contact.pk])
    if contact.customer_id is None:
        contact.refresh_from_db(fields=["customer"])
    return contact


@dataclass
class ContactPage:
    """A page of WeCom contact details, parsed and validated: everything that needs no database.

    The full sync parses the next page on its fetch thread while this one is written (the database releases the
    GIL while it works, so the two overlap).
    """

    details: list[dict]
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # external_userid → values
    relations: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (userid, external_userid) →


def contact_page_parse(*, details: list[dict]) -> ContactPage:
    """Parse and validate a page (``batch/get_by_user``'s ``external_contact_list``, or ``externalcontact/get``
    answers); a ``ValidationError`` names the first bad field. Touches no database and no shared state."""
    page = ContactPage(details=details)
    for detail in details:  # merged in page order: the last mention of a contact or relation wins
        external_userid, values, follows = _parse_detail(detail, None)
        page.contacts[external_userid] = {**page.contacts.get(external_userid, {}), **values}
        for userid, relation_values in follows:
            require_id(userid, "userid")
            key = (userid, external_userid)
            page.relations[key] = {**page.relations.get(key, {}), **relation_values}
    for external_userid, values in page.contacts.items():
        _check_values(ExternalContact, {**values, "external_userid": external_userid})
    for userid in {userid for userid, _external_userid in page.relations}:
        _check_values(Employee, {"userid": userid})
    for values in page.relations.values():
        _check_values(FollowRelation, values)
    return page


def contact_pages_merge(pages: list[ContactPage]) -> ContactPage:
    """Parsed pages as one, in order (a later mention of a contact or relation wins, as within a page): the sync
    writes a few pages per transaction, since most of a page's statements cost the same for 100 contacts or 400."""
    if len(pages) == 1:
        return pages[0]
    merged = ContactPage(details=[detail for page in pages for detail in page.details])
    for page in pages:
        for external_userid, values in page.contacts.items():
            merged.contacts[external_userid] = {**merged.contacts.get(external_userid, {}), **values}
        for key, values in page.relations.items():
            merged.relations[key] = {**merged.relations.get(key, {}), **values}
    return merged


def _check_values(model: type[models.Model], values: dict[str, Any]) -> None:
    """What ``full_clean`` checks of these fields (each field's rules, then the model's list rules) without
    building a row, which costs more than the checks. The other fields keep their defaults."""
    errors = {}
    for name, value in values.items():
        try:
            model._meta.get_field(name).clean(value, None)
        except ValidationError as exc:
            errors[name] = exc.error_list
    if errors:
        raise ValidationError(errors)
    validate_list_fields(model, values)


def external_contacts_upsert_from_wecom(*, details: list[dict] | ContactPage) -> dict[str, int]:
    """Apply a page of WeCom details (raw, or parsed by ``contact_page_parse``) with the same outcome as
    ``external_contact_upsert_from_wecom`` on each in order, in a handful of queries: one read each of the page's
    contacts, employees and relations, then bulk inserts of the new rows and bulk updates of only the rows that
    changed (so ``updated_at`` moves only on a real change). All or nothing: one bad item refuses the whole page.
    Returns how many rows were created and updated (``{"one_by_one": n}`` when a concurrent insert sent the page
    down the single-item path).
    """
    page = details if isinstance(details, ContactPage) else contact_page_parse(details=details)
    try:
        with transaction.atomic():
            return _bulk_upsert(page=page, at=timezone.now())
    except IntegrityError:
        # A callback inserted one of these rows between our read and our insert (the savepoint undid the page):
        # apply the items one by one; each one settles that race on its own.
        logger.info("Bulk contact upsert met a concurrent insert; applying %s items one by one", len(page.details))
        with transaction.atomic():
            for detail in page.details:
                external_contact_upsert_from_wecom(detail=detail)
        return {"one_by_one": len(page.details)}


def _parse_detail(detail: Any, follow_userid: str | None) -> tuple[str, dict[str, Any], list[tuple[str, dict]]]:
    """A WeCom detail → (external_userid, contact values, [(userid, relation values)]), or a ValidationError that
    names the field. Nothing is written here, so a refused detail leaves no trace."""
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
    follows = [_follow_values(follow) for follow in _follows_of(detail, follow_userid)]
    return external_userid, values, follows


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


def _follow_values(follow: dict) -> tuple[str, dict[str, Any]]:
    """One follow_user / follow_info entry → (userid, the relation's values; absent keys are left out)."""
    tag_ids = personal = None  # neither key: leave the relation's tags as they are
    if "tag_id" in follow:  # batch/get_by_user: corp tag ids only, so personal tags stay as they are
        if not isinstance(follow["tag_id"] or [], list):
            raise ValidationError({"tag_id": _("Must be a list of tag ids.")})
        tag_ids = [as_text(tag) for tag in follow["tag_id"] or []]
    elif "tags" in follow:  # externalcontact/get: tag objects; personal tags (type 2) have a name, no tag_id
        tags = follow["tags"] or []
        if not isinstance(tags, list) or not all(isinstance(tag, dict) for tag in tags):
            raise ValidationError({"tags": _("Must be a list of objects.")})
        tag_ids = [as_text(tag["tag_id"]) for tag in tags if tag.get("tag_id")]
        names = (as_text(tag.get("tag_name")) for tag in tags if as_text(tag.get("type")) == PERSONAL_TAG_TYPE)
        personal = [name for name in dict.fromkeys(names) if name]
    mobiles = follow.get("remark_mobiles")
    if mobiles is not None and not isinstance(mobiles, list):
        raise ValidationError({"remark_mobiles": _("Must be a list of phone numbers.")})
    return as_text(follow.get("userid")), given(
        remark=_text_or_none(follow, "remark"),
        description=_text_or_none(follow, "description"),
        remark_corp_name=_text_or_none(follow, "remark_corp_name"),
        remark_mobiles=None if mobiles is None else [as_text(m) for m in mobiles],
        add_way=None if follow.get("add_way") in (None, "") else as_int(follow["add_way"], "add_way"),
        state=_text_or_none(follow, "state"),
        added_at=wecom_time(follow.get("createtime"), field="createtime"),
        wecom_tag_ids=tag_ids,
        personal_tags=personal,
    )


def _text_or_none(data: dict, key: str) -> str | None:
    return as_text(data[key]) if key in data else None


# ---- the bulk path: the same rules as the single-row one, a page at a time ---------------------------------------


def _bulk_upsert(*, page: ContactPage, at: datetime) -> dict[str, int]:
    """Write a parsed page. Its values were validated when it was parsed; what is set here (timestamps, keys,
    an active status) is valid by construction."""
    found = {
        contact.external_userid: contact
        for contact in ExternalContact.objects.select_for_update()
        .filter(external_userid__in=list(page.contacts))
        .order_by("pk")
    }
    new_contacts, changed_contacts, contact_fields = [], [], set()
    for external_userid, values in page.contacts.items():
        contact = found.get(external_userid)
        if contact is None:
            new_contacts.append({"external_userid": external_userid, **values, "synced_at": at})
        elif changed := _set_changed(contact, {**values, "synced_at": contact.synced_at or at}):
            changed_contacts.append(contact)
            contact_fields.update(changed)
    employee_ids = _ids_ensured(Employee, "userid", {userid for userid, _external_userid in page.relations})
    mobiles, owners = _noted_mobiles_and_first_followers(page, employee_ids)
    # New contacts are inserted already linked to their customer (no second write per contact).
    customer_ids = customers_for_new_contacts(
        contacts=[
            {
                "name": row.get("name", ""),
                "owner_id": owners.get(row["external_userid"]),
                "mobiles": mobiles[row["external_userid"]],
            }
            for row in new_contacts
        ]
    )
    for row, customer_id in zip(new_contacts, customer_ids, strict=True):
        row["customer_id"] = customer_id
    contact_ids = {external_userid: contact.pk for external_userid, contact in found.items()}
    contact_ids |= insert_rows(ExternalContact, new_contacts, key="external_userid")
    _bulk_update(ExternalContact, changed_contacts, contact_fields, at)

    # A new contact has no relations to read.
    known = {
        (relation.employee_id, relation.contact_id): relation
        for relation in FollowRelation.objects.select_for_update()
        .filter(contact_id__in=[contact.pk for contact in found.values()], employee_id__in=employee_ids.values())
        .order_by("pk")
    }
    new_relations, changed_relations, relation_fields = [], [], set()
    for (userid, external_userid), values in page.relations.items():
        employee_id, contact_id = employee_ids[userid], contact_ids[external_userid]
        relation = known.get((employee_id, contact_id))
        if relation is None:
            new_relations.append(
                {
                    "employee_id": employee_id,
                    "contact_id": contact_id,
                    **values,
                    "status": FollowRelation.Status.ACTIVE,
                    "status_changed_at": at,
                }
            )
        elif changed := _set_changed(relation, _relation_changes(relation, values, at)):
            changed_relations.append(relation)
            relation_fields.update(changed)
    insert_rows(FollowRelation, new_relations)
    _bulk_update(FollowRelation, changed_relations, relation_fields, at)
    contacts_link_customers(
        contact_ids=[contact.pk for contact in found.values()],
        remark_mobiles={contact.pk: mobiles[external_userid] for external_userid, contact in found.items()},
    )
    publish("customers.contacts_changed", contact_ids=list(contact_ids.values()))
    return {
        "contacts_created": len(new_contacts),
        "contacts_updated": len(changed_contacts),
        "relations_created": len(new_relations),
        "relations_updated": len(changed_relations),
    }


def _noted_mobiles_and_first_followers(
    page: ContactPage, employee_ids: dict[str, int]
) -> tuple[defaultdict[str, list[str]], dict[str, int]]:
    """Per external_userid: the mobiles its followers noted in this page, and the employee who added it first
    (the owner of a new customer)."""
    mobiles: defaultdict[str, list[str]] = defaultdict(list)
    first: dict[str, tuple[datetime, int]] = {}
    never = datetime.max.replace(tzinfo=UTC)
    for (userid, external_userid), values in page.relations.items():
        mobiles[external_userid].extend(values.get("remark_mobiles", []))
        added = values.get("added_at") or never
        if external_userid not in first or added < first[external_userid][0]:
            first[external_userid] = (added, employee_ids[userid])
    return mobiles, {external_userid: employee_id for external_userid, (_at, employee_id) in first.items()}


def _set_changed(obj: models.Model, values: dict[str, Any]) -> list[str]:
    """``update_changed`` without the save: set the fields that differ and return their names."""
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, values[name])
    return changed


def _bulk_update(model: type[models.Model], rows: list, fields: set[str], at: datetime) -> None:
    for row in rows:
        row.updated_at = at  # a bulk update skips auto_now; set it as save(update_fields=...) would
    names = [model._meta.get_field(name).attname for name in [*sorted(fields), "updated_at"]]
    update_rows(model, {row.pk: {name: getattr(row, name) for name in names} for row in rows})


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
    change = FollowChange(userid=userid, external_userid=external_userid, at=at, values=values)
    return follow_relations_apply(changes=[change])[0]


def follow_relation_mark(
    *, userid: str, external_userid: str, status: FollowRelation.Status | str, at: datetime
) -> FollowRelation:
    """Record that a relation ended (deleted by either side, or transferred) at ``at``. The row is kept; a
    relation we never saw is recorded as already ended. Marking again, or with news older than the relation's
    last change, changes nothing."""
    if status not in INACTIVE_STATUSES:  # here "active" would mean an upsert: refuse it rather than guess
        raise ValidationError({"status": _("A follow relation can only be marked deleted or transferred.")})
    change = FollowChange(userid=userid, external_userid=external_userid, at=at, status=status)
    return follow_relations_apply(changes=[change])[0]


@dataclass(frozen=True)
class FollowChange:
    """What one WeCom event says of a relation as of ``at``: it is active (``values`` to set, e.g. the channel
    state of an add), or it ended with ``status``."""

    userid: str
    external_userid: str
    at: datetime
    status: str = FollowRelation.Status.ACTIVE
    values: dict[str, Any] = field(default_factory=dict)


def follow_relations_apply(*, changes: list[FollowChange]) -> list[FollowRelation]:
    """Apply each change in order, in a handful of queries for the whole list (read and create the employees and
    contacts, lock the relations, insert the new ones, update the changed ones); returns each change's relation.
    All or nothing. ``follow_relation_upsert`` and ``follow_relation_mark`` are its one-change forms.

    A new relation is created active with the change's values, or already ended. A later change to an existing
    one sets its values and, unless the relation changed status after ``at`` (older news), its status."""
    for change in changes:
        require_id(change.userid, "userid")
        require_id(change.external_userid, "external_userid")
        _check_values(Employee, {"userid": change.userid})
        _check_values(ExternalContact, {"external_userid": change.external_userid})
        _check_values(FollowRelation, change.values)
        if change.status != FollowRelation.Status.ACTIVE and change.status not in INACTIVE_STATUSES:
            raise ValidationError({"status": _("A follow relation can only be marked deleted or transferred.")})
    with transaction.atomic():
        employee_ids = _ids_ensured(Employee, "userid", {change.userid for change in changes})
        contact_ids = _ids_ensured(ExternalContact, "external_userid", {change.external_userid for change in changes})
        pairs = {(employee_ids[change.userid], contact_ids[change.external_userid]) for change in changes}
        relations = {
            (relation.employee_id, relation.contact_id): relation
            for relation in FollowRelation.objects.select_for_update()
            .filter(employee_id__in={e for e, _c in pairs}, contact_id__in={c for _e, c in pairs})
            .order_by("pk")
        }
        new, changed, fields = [], {}, set()
        for change in changes:
            pair = (employee_ids[change.userid], contact_ids[change.external_userid])
            relation = relations.get(pair)
            if relation is None:
                values = change.values if change.status == FollowRelation.Status.ACTIVE else {}
                relation = relations[pair] = FollowRelation(
                    employee_id=pair[0], contact_id=pair[1], **values, status=change.status, status_changed_at=change.at
                )
                new.append(relation)
            # A row this batch creates takes later changes in memory and is inserted as they leave it.
            elif (updates := _set_changed(relation, _follow_change_updates(relation, change))) and relation.pk:
                changed[relation.pk] = relation
                fields.update(updates)
        _relations_insert(new)
        _bulk_update(FollowRelation, list(changed.values()), fields, timezone.now())
        mobiles: dict[int, list[str]] = {}
        for change in changes:
            mobiles.setdefault(contact_ids[change.external_userid], []).extend(change.values.get("remark_mobiles", []))
        contacts_link_customers(contact_ids=contact_ids.values(), remark_mobiles=mobiles)
        publish("customers.contacts_changed", contact_ids=list(contact_ids.values()))
    return [relations[(employee_ids[change.userid], contact_ids[change.external_userid])] for change in changes]


def follow_relations_tags_set(*, tag_ids: dict[int, list[str]]) -> int:
    """Record the corp tags WeCom now shows on these relations (relation pk → WeCom tag ids), as after a
    ``mark_tag`` WeCom accepted: WeCom's own report (a callback's refresh) may come later, and until then the
    relation must not look as if it lacked what was just sent. Locks the relations in id order, writes the ones
    that differ and publishes ``customers.contacts_changed`` for their contacts. Returns how many changed."""
    for values in tag_ids.values():
        _check_values(FollowRelation, {"wecom_tag_ids": values})
    with transaction.atomic():
        relations = FollowRelation.objects.select_for_update().filter(pk__in=sorted(tag_ids)).order_by("pk")
        changed = [
            relation for relation in relations if _set_changed(relation, {"wecom_tag_ids": tag_ids[relation.pk]})
        ]
        _bulk_update(FollowRelation, changed, {"wecom_tag_ids"}, timezone.now())
        if changed:
            publish("customers.contacts_changed", contact_ids=sorted({relation.contact_id for relation in changed}))
    return len(changed)


def _relations_insert(relations: list[FollowRelation]) -> None:
    """``bulk_create`` without its per-value preparation (``insert_rows``): callbacks bring new relations by the
    hundred a second."""
    now = timezone.now()
    names = [column.attname for column in FollowRelation._meta.concrete_fields if not column.primary_key]
    stamped = [
        column.attname
        for column in FollowRelation._meta.concrete_fields
        if getattr(column, "auto_now", False) or getattr(column, "auto_now_add", False)
    ]
    for relation in relations:
        for name in stamped:
            setattr(relation, name, now)
    rows = [{name: getattr(relation, name) for name in names} for relation in relations]
    for relation, pk in zip(relations, insert_rows(FollowRelation, rows, key="pk").values(), strict=True):
        relation.pk = pk
        relation._state.adding, relation._state.db = False, connection.alias


def _follow_change_updates(relation: FollowRelation, change: FollowChange) -> dict[str, Any]:
    if change.status == FollowRelation.Status.ACTIVE:
        return _relation_changes(relation, change.values, change.at)
    if relation.status != change.status and not _is_stale(relation, change.at):
        return {"status": change.status, "status_changed_at": change.at}
    return {}


def _ids_ensured(model: type[models.Model], key: str, keys: set[str]) -> dict[str, int]:
    """``{key: pk}`` of these rows, inserting the missing ones as placeholders (key only). A concurrent insert of
    the same key fails the caller's transaction on the unique constraint; the inbox then retries one by one."""
    ids = dict(model._default_manager.filter(**{f"{key}__in": keys}).values_list(key, "pk"))
    return ids | insert_rows(model, [{key: value} for value in sorted(keys - ids.keys())], key=key)


def _relation_upsert(*, userid: str, contact: ExternalContact, values: dict, at: datetime) -> FollowRelation:
    require_id(userid, "userid")
    employee = _employee_ensure(userid)
    relation, created = lock_or_create(
        FollowRelation,
        lookup={"employee": employee, "contact": contact},
        defaults={**values, "status": FollowRelation.Status.ACTIVE, "status_changed_at": at},
    )
    if not created:
        update_changed(relation, _relation_changes(relation, values, at))
    return relation


def _relation_changes(relation: FollowRelation, values: dict, at: datetime) -> dict:
    """What WeCom listing the relation as of ``at`` asks of it: its values, and active again unless it ended
    after ``at`` (then this news is older than the deletion)."""
    changes = dict(values)
    if relation.status != FollowRelation.Status.ACTIVE and not _is_stale(relation, at):
        changes.update(status=FollowRelation.Status.ACTIVE, status_changed_at=at)
    return changes


def _employee_ensure(userid: str) -> Employee:
    employee, _created = lock_or_create(Employee, lookup={"userid": userid}, defaults={}, lock=False)
    return employee


def _is_stale(relation: FollowRelation, at: datetime) -> bool:
    return relation.status_changed_at is not None and at < relation.status_changed_at
