"""Customers: creating them, binding phone numbers, merging two into one, and the profile fields staff edit.

One customer per phone number is the database's rule (a partial unique index). Binding a number that another
customer already holds does not fail: the two are the same person, so they merge, and the merge is recorded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import (
    Customer,
    CustomerMerge,
    Employee,
    ExternalContact,
    FollowRelation,
    Order,
    StageChange,
    TimelineEntry,
)
from customers.models.customer import lifecycle_rank
from customers.phones import phone_display, phone_first, phone_normalize
from customers.services.orders import customer_spend_refresh
from scrm.core.hooks import publish
from scrm.core.services import acting_user, audit_record
from scrm.core.upsert import insert_rows, update_rows

EDITABLE_FIELDS = ("name", "owner", "marketing_opt_out", "referred_by")


def customer_create(
    *, phone: str = "", name: str = "", owner=None, origin: str = Customer.Origin.MANUAL, actor=None
) -> Customer:
    """A new customer; a number another customer holds is refused (bind it to that customer instead)."""
    customer = Customer(name=name, owner=owner, origin=origin, phone=phone_normalize(phone) if phone else "")
    customer.full_clean(validate_constraints=False)
    if customer.phone and (holder := Customer.objects.filter(phone=customer.phone).first()):
        raise ValidationError(
            {"phone": _("This number belongs to customer #%(id)s already.") % {"id": holder.pk}}, code="unique"
        )
    with transaction.atomic():
        customer.save()
        audit_record(actor=actor, action="create", target=customer, changes={"phone": customer.masked_phone})
    return customer


def customer_update(*, customer: Customer, actor, **values: Any) -> list[str]:
    """Set the profile fields staff may edit (``EDITABLE_FIELDS``); returns the names that changed."""
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field cannot be changed here.") for name in sorted(unknown)})
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        changes = {
            name: [getattr(locked, name), value] for name, value in values.items() if getattr(locked, name) != value
        }
        if not changes:
            return []
        for name, (_old, new) in changes.items():
            setattr(locked, name, new)
        locked.full_clean()
        locked.save(update_fields=[*changes, "updated_at"])
        audit_record(actor=actor, action="update", target=locked, changes=changes)
    for name in changes:
        setattr(customer, name, getattr(locked, name))
    return list(changes)


def customer_bind_phone(*, customer: Customer, phone: str, actor=None, reason: str = "") -> Customer:
    """Give ``customer`` this phone number; returns the customer that holds it afterwards.

    - a free number is set (a customer that had another one is refused: two numbers are two identities, which
      staff merge explicitly if they are one person);
    - a number another customer holds means they are one person: ``customer`` merges into that holder, which
      keeps its number and its history keyed by it, and the holder is returned.
    """
    e164 = phone_normalize(phone)
    with transaction.atomic():
        current = Customer.objects.select_for_update().get(pk=customer.pk)
        if current.phone == e164:
            return current
        holder = Customer.objects.select_for_update().filter(phone=e164).first()
        if current.phone:
            raise ValidationError(
                {"phone": _("This customer already has another phone number; merge the two customers instead.")}
            )
        if holder is None:
            current.phone = e164
            current.save(update_fields=["phone", "updated_at"])
            audit_record(actor=actor, action="bind_phone", target=current, changes={"phone": current.masked_phone})
            return current
        customer_merge(into=holder, other=current, actor=actor, reason=reason or str(_("the same phone number")))
        return holder


def customer_merge(*, into: Customer, other: Customer, actor=None, reason: str = "") -> CustomerMerge:
    """Merge ``other`` into ``into`` and delete ``other``: its WeCom contacts (and with them their relations, tags
    and groups), timeline, orders, stage history, referrals and earlier merges move over; spend and tier are
    recomputed; the lifecycle keeps the further stage; ``into``'s own values win where both have one. The
    merge record keeps ``other`` as it was and counts what moved."""
    if into.pk == other.pk:
        raise ValidationError({"other": _("A customer cannot be merged into itself.")})
    with transaction.atomic():
        # Lock both in id order, so two merges of the same pair cannot deadlock.
        locked = {
            c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[into.pk, other.pk]).order_by("pk")
        }
        if len(locked) != 2:
            raise ValidationError({"other": _("That customer no longer exists (merged already?).")})
        into, other = locked[into.pk], locked[other.pk]
        snapshot = model_to_dict(other)
        moved = {
            "contacts": ExternalContact.objects.filter(customer=other).update(customer=into),
            "timeline": TimelineEntry.objects.filter(customer=other).update(customer=into),
            "orders": Order.objects.filter(customer=other).update(customer=into),
            "stage_changes": StageChange.objects.filter(customer=other).update(customer=into),
            "referrals": Customer.objects.filter(referred_by=other).exclude(pk=into.pk).update(referred_by=into),
            "merges": CustomerMerge.objects.filter(into=other).update(into=into),
        }
        updates = _merged_values(into, other)
        publish("customers.merging", into_id=into.pk, other_id=other.pk)
        other_phone = other.phone
        other.delete()  # frees the phone number before ``into`` takes it
        for name, value in updates.items():
            setattr(into, name, value)
        into.full_clean(validate_unique=False, validate_constraints=False)
        into.save()
        customer_spend_refresh(customer=into, actor=actor)
        merge = CustomerMerge.objects.create(
            into=into,
            other_id=snapshot["id"],
            other_phone=other_phone,
            other_name=snapshot["name"],
            snapshot=_snapshot_json(snapshot),
            moved=moved,
            reason=reason[:255],
            actor=acting_user(actor),
            merged_at=timezone.now(),
        )
        audit_record(actor=actor, action="merge", target=into, changes={"merged": snapshot["id"], "moved": moved})
    return merge


def _merged_values(into: Customer, other: Customer) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("phone", "name", "owner_id", "opportunity_stage_id", "last_contact_at"):
        if not getattr(into, name) and getattr(other, name):
            values[name] = getattr(other, name)
    if other.referred_by_id and not into.referred_by_id and other.referred_by_id != into.pk:
        values["referred_by_id"] = other.referred_by_id
    if lifecycle_rank(other.lifecycle_stage) > lifecycle_rank(into.lifecycle_stage):
        values["lifecycle_stage"] = other.lifecycle_stage
    if other.last_contact_at and into.last_contact_at and other.last_contact_at > into.last_contact_at:
        values["last_contact_at"] = other.last_contact_at
    if other.marketing_opt_out:  # an opt-out is the customer's wish, whichever record it was given on
        values["marketing_opt_out"] = True
    return values


def _snapshot_json(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value if value is None or isinstance(value, bool | int | str) else str(value)
        for key, value in snapshot.items()
    }


# ---- WeCom contacts get their customer ------------------------------------------------------------------------


def contacts_link_customers(*, contact_ids: Iterable[int], remark_mobiles: dict[int, list[str]] | None = None) -> int:
    """Give every one of these contacts that has no customer a new one (named after the contact, owned by its
    first follower), then bind the phone numbers followers just noted (``remark_mobiles``: contact id → the
    relation's mobiles) to customers that have none; a number another customer holds merges the two. Returns
    how many customers were created. Called by every path that stores contacts, inside its transaction, with a
    fixed number of simple key lookups per call (the sync calls it for every page)."""
    rows = list(ExternalContact.objects.filter(pk__in=list(contact_ids)).values_list("pk", "customer_id", "name"))
    links = {pk: customer_id for pk, customer_id, _name in rows}
    names = {pk: name for pk, customer_id, name in rows if customer_id is None}
    unlinked = sorted(names)
    if unlinked:
        owners: dict[int, int] = {}
        for contact_id, employee_id in (
            FollowRelation.objects.filter(contact_id__in=unlinked)
            .order_by("contact_id", "added_at", "pk")
            .values_list("contact_id", "employee_id")
        ):
            owners.setdefault(contact_id, employee_id)
        new_customers = [
            {"name": names[pk][:128], "owner_id": owners.get(pk), "origin": Customer.Origin.WECOM} for pk in unlinked
        ]
        new_ids = list(insert_rows(Customer, new_customers, key="pk").values())
        links.update(zip(unlinked, new_ids, strict=True))
        update_rows(ExternalContact, {pk: {"customer_id": links[pk]} for pk in unlinked})
    wanted: dict[int, str] = {}
    for contact_id, mobiles in (remark_mobiles or {}).items():
        phone = phone_first(mobiles)
        if phone and links.get(contact_id):
            wanted.setdefault(links[contact_id], phone)
    if wanted:
        _bind_phones(wanted)
    return len(unlinked)


def customers_for_new_contacts(*, contacts: list[dict[str, Any]]) -> list[int]:
    """The customer of each contact about to be inserted (``{"name", "owner_id", "mobiles"}``), in order, in at
    most two statements: a valid noted mobile that a customer already holds (or an earlier contact of the list)
    joins that customer (a new contact has no history, so nothing merges); any other contact gets a new WeCom
    customer, with its number. The full sync calls this for each page, so new contacts are inserted linked."""
    phones = [phone_first(contact["mobiles"]) or "" for contact in contacts]
    wanted = {phone for phone in phones if phone}
    holders = (
        dict(Customer.objects.filter(phone__in=wanted).exclude(phone="").values_list("phone", "pk")) if wanted else {}
    )
    rows: list[dict[str, Any]] = []
    row_of: dict[str, int] = {}  # phone → its new row, for a second contact with the same number
    slots: list[tuple[int, int]] = []  # (contact index, row index)
    ids: list[int] = [0] * len(contacts)
    for index, (contact, phone) in enumerate(zip(contacts, phones, strict=True)):
        if phone in holders:
            ids[index] = holders[phone]
        elif phone in row_of:
            slots.append((index, row_of[phone]))
        else:
            if phone:
                row_of[phone] = len(rows)
            slots.append((index, len(rows)))
            rows.append(
                {
                    "name": contact["name"][:128],
                    "owner_id": contact["owner_id"],
                    "phone": phone,
                    "origin": Customer.Origin.WECOM,
                }
            )
    new_ids = list(insert_rows(Customer, rows, key="pk").values())
    for index, row in slots:
        ids[index] = new_ids[row]
    return ids


def _bind_phones(wanted: dict[int, str]) -> None:
    """customer id → phone, for customers that have no number yet: one update for the numbers nobody holds; a
    number another customer holds merges the two (rare: one by one)."""
    without = set(Customer.objects.filter(pk__in=list(wanted), phone="").values_list("pk", flat=True))
    wanted = {customer_id: phone for customer_id, phone in wanted.items() if customer_id in without}
    # ``phone <> ''`` lets PostgreSQL use the partial unique index on phone
    holders = dict(Customer.objects.filter(phone__in=set(wanted.values())).exclude(phone="").values_list("phone", "pk"))
    free, merges, now = {}, [], timezone.now()
    for customer_id, phone in wanted.items():
        if phone in holders:
            merges.append((holders[phone], customer_id))
        else:
            holders[phone] = customer_id
            free[customer_id] = {"phone": phone, "updated_at": now}
    update_rows(Customer, free)
    reason = str(_("remark mobile noted in WeCom"))
    for holder_id, customer_id in merges:
        holder, other = Customer.objects.get(pk=holder_id), Customer.objects.get(pk=customer_id)
        customer_merge(into=holder, other=other, reason=reason)


def customer_phone_reveal(*, customer: Customer, user) -> str:
    """The full phone number for a user allowed to see it (``customers.view_full_phone``); every reveal is
    audited. Everywhere else the number is shown masked."""
    if not user.has_perm("customers.view_full_phone"):
        raise PermissionDenied(_("You may not see full phone numbers."))
    audit_record(actor=user, action="view_full_phone", target=customer)
    return phone_display(customer.phone)


def employee_link_user(*, employee: Employee, user, actor) -> None:
    """Link a staff login to its WeCom employee (or unlink with ``user=None``): a sales user sees the customers
    of that employee. One login per employee, one employee per login (the database enforces it)."""
    with transaction.atomic():
        locked = Employee.objects.select_for_update().get(pk=employee.pk)
        if locked.user_id == (user.pk if user else None):
            return
        if user is not None and (other := Employee.objects.filter(user=user).exclude(pk=locked.pk).first()):
            raise ValidationError(
                {"user": _("This login already belongs to employee %(employee)s.") % {"employee": other}}
            )
        before = locked.user.get_username() if locked.user else ""
        locked.user = user
        locked.save(update_fields=["user", "updated_at"])
        audit_record(
            actor=actor,
            action="link_user",
            target=locked,
            changes={"user": [before, user.get_username() if user else ""]},
        )
    employee.user = user
