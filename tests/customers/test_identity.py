"""customers.services.identity: one customer per number, binding phones, merges, WeCom contacts get a customer."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import translation

from customers.models import (
    Customer,
    CustomerMerge,
    ExternalContact,
    Lifecycle,
    Order,
    StageChange,
    TimelineEntry,
)
from customers.services import (
    customer_bind_phone,
    customer_create,
    customer_merge,
    customer_phone_reveal,
    customer_update,
    external_contact_upsert_from_wecom,
    external_contacts_upsert_from_wecom,
    follow_relation_mark,
    follow_relation_upsert,
    order_record,
    timeline_add,
)
from scrm.core.models import AuditLog
from scrm.core.roles import OPS, SALES

pytestmark = pytest.mark.django_db
AT = datetime(2026, 3, 1, 10, tzinfo=UTC)


def call(customer, key, at=AT):
    return timeline_add(
        customer=customer, kind="call", channel="phone", occurred_at=at, source_key=key, summary="call"
    )[0]


def test_a_customer_is_stored_under_its_e164_number_and_audited(make_user):
    ops = make_user("ops", role=OPS)

    customer = customer_create(phone="138-1234-5678", name="王芳", actor=ops)

    assert customer.phone == "+8613812345678"
    assert customer.masked_phone == "138****5678"
    assert list(AuditLog.objects.values_list("actor_label", "action", "target_id")) == [
        ("ops", "create", str(customer.pk))
    ]


def test_a_number_another_customer_holds_is_refused_with_a_message():
    customer_create(phone="13812345678")

    with pytest.raises(ValidationError) as caught:
        customer_create(phone="+86 138 1234 5678", name="again")

    assert "phone" in caught.value.message_dict
    assert Customer.objects.count() == 1


def test_the_database_allows_one_customer_per_number_but_many_without_one():
    Customer.objects.create(phone="+8613812345678")
    Customer.objects.create(phone="")
    Customer.objects.create(phone="")

    with pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(phone="+8613812345678")
    assert Customer.objects.count() == 3


def test_an_invalid_number_is_refused_and_nothing_is_stored():
    with pytest.raises(ValidationError) as caught:
        customer_create(phone="12345")

    with translation.override("en"):
        assert "not a valid phone number" in caught.value.messages[0]
    assert Customer.objects.count() == 0
    assert AuditLog.objects.count() == 0


def test_binding_a_free_number_sets_it():
    customer = customer_create(name="无号码")

    holder = customer_bind_phone(customer=customer, phone="13812345678")

    assert holder.pk == customer.pk
    assert Customer.objects.get(pk=customer.pk).phone == "+8613812345678"
    assert AuditLog.objects.filter(action="bind_phone").count() == 1


def test_binding_a_held_number_merges_into_the_holder():
    holder = customer_create(phone="13812345678", name="电话客户")
    call(holder, "call:1")
    wecom = customer_create(name="微信客户")
    call(wecom, "call:2")

    result = customer_bind_phone(customer=wecom, phone="+8613812345678")

    assert result.pk == holder.pk
    assert not Customer.objects.filter(pk=wecom.pk).exists()
    assert TimelineEntry.objects.filter(customer=holder).count() == 2
    merge = CustomerMerge.objects.get()
    assert (merge.into_id, merge.other_id, merge.other_name) == (holder.pk, wecom.pk, "微信客户")


def test_binding_a_second_number_is_refused():
    customer = customer_create(phone="13812345678")
    customer_create(phone="13912345678")

    with pytest.raises(ValidationError) as caught:
        customer_bind_phone(customer=customer, phone="13912345678")

    with translation.override("en"):
        assert "merge the two customers" in caught.value.message_dict["phone"][0]
    assert Customer.objects.count() == 2
    assert CustomerMerge.objects.count() == 0


def test_a_merge_moves_everything_and_records_what_it_moved(make_user):
    ops = make_user("ops", role=OPS)
    into = customer_create(name="", phone="")
    other = customer_create(name="李雷", phone="13912345678")
    contact = external_contact_upsert_from_wecom(
        detail={"external_contact": {"external_userid": "wmX", "name": "李雷"}, "follow_user": []}
    )
    ExternalContact.objects.filter(pk=contact.pk).update(customer=other)
    call(other, "call:9", at=datetime(2026, 3, 2, tzinfo=UTC))
    order_record(customer=other, external_id="O-1", amount="120.00", ordered_at=AT)
    referred = customer_create(name="被推荐")
    Customer.objects.filter(pk=referred.pk).update(referred_by=other)
    Customer.objects.filter(pk=other.pk).update(marketing_opt_out=True)
    stray_customer = contact.customer  # the contact's own customer made on upsert, untouched by this merge

    merge = customer_merge(into=into, other=other, actor=ops, reason="同一人")

    into.refresh_from_db()
    assert (into.name, into.phone, into.marketing_opt_out) == ("李雷", "+8613912345678", True)
    assert (into.total_spend, into.order_count, into.lifecycle_stage) == (Decimal("120.00"), 1, Lifecycle.CONVERSION)
    assert ExternalContact.objects.get(pk=contact.pk).customer_id == into.pk
    assert Order.objects.get().customer_id == into.pk
    assert Customer.objects.get(pk=referred.pk).referred_by_id == into.pk
    assert StageChange.objects.filter(customer=into).count() == 1  # the conversion, moved over
    assert merge.moved == {
        "contacts": 1,
        "timeline": 3,  # the call, the order and its stage change
        "orders": 1,
        "stage_changes": 1,
        "referrals": 1,
        "merges": 0,
    }
    assert merge.snapshot["phone"] == "+8613912345678" and merge.actor == ops
    assert not Customer.objects.filter(pk=other.pk).exists()
    assert Customer.objects.filter(pk=stray_customer.pk).exists()
    assert AuditLog.objects.filter(action="merge", target_id=str(into.pk)).count() == 1


def test_a_customer_cannot_merge_into_itself():
    customer = customer_create(name="一")

    with pytest.raises(ValidationError):
        customer_merge(into=customer, other=customer)
    assert Customer.objects.count() == 1


def test_the_merged_customer_keeps_its_own_values_and_the_further_lifecycle():
    into = customer_create(name="保留", phone="13812345678")
    other = customer_create(name="丢弃", phone="13912345678")
    Customer.objects.filter(pk=other.pk).update(lifecycle_stage=Lifecycle.ADVOCACY)

    customer_merge(into=into, other=other)

    into.refresh_from_db()
    assert (into.name, into.phone, into.lifecycle_stage) == ("保留", "+8613812345678", Lifecycle.ADVOCACY)
    assert CustomerMerge.objects.get().other_phone == "+8613912345678"


def test_update_changes_only_editable_fields_and_audits_the_change(make_user):
    ops = make_user("ops", role=OPS)
    customer = customer_create(name="旧名")

    changed = customer_update(customer=customer, actor=ops, name="新名", marketing_opt_out=True)

    assert sorted(changed) == ["marketing_opt_out", "name"]
    assert Customer.objects.get(pk=customer.pk).name == "新名"
    assert AuditLog.objects.get(action="update").changes == {
        "name": ["旧名", "新名"],
        "marketing_opt_out": [False, True],
    }
    with pytest.raises(ValidationError) as caught:
        customer_update(customer=customer, actor=ops, phone="+8613812345678")
    assert "phone" in caught.value.message_dict
    assert customer_update(customer=customer, actor=ops, name="新名") == []
    assert AuditLog.objects.filter(action="update").count() == 1


def test_a_full_number_is_revealed_only_with_the_permission_and_every_reveal_is_audited(make_user):
    customer = customer_create(phone="13812345678")
    ops, sales = make_user("ops", role=OPS), make_user("sales", role=SALES)

    assert customer_phone_reveal(customer=customer, user=ops) == "13812345678"
    assert customer_phone_reveal(customer=customer, user=ops) == "13812345678"
    with pytest.raises(PermissionDenied):
        customer_phone_reveal(customer=customer, user=sales)

    assert AuditLog.objects.filter(action="view_full_phone").count() == 2


# ---- WeCom contacts get their customer -----------------------------------------------------------------------


def detail(external_userid, *, userid="zhangsan", mobiles=(), name="客户"):
    return {
        "external_contact": {"external_userid": external_userid, "name": name},
        "follow_user": [{"userid": userid, "createtime": 1709283600, "remark_mobiles": list(mobiles)}],
    }


def test_a_wecom_contact_gets_a_customer_owned_by_its_follower():
    contact = external_contact_upsert_from_wecom(detail=detail("wmA", name="王芳"))

    customer = contact.customer
    assert (customer.name, customer.phone, customer.origin) == ("王芳", "", Customer.Origin.WECOM)
    assert customer.owner.userid == "zhangsan"


def test_the_remark_mobile_binds_the_phone_and_joins_an_imported_customer():
    imported = customer_create(phone="13812345678", origin=Customer.Origin.IMPORT)
    call(imported, "call:1")

    contact = external_contact_upsert_from_wecom(detail=detail("wmA", mobiles=["not a phone", "138 1234 5678"]))

    assert contact.customer_id == imported.pk
    assert Customer.objects.count() == 1
    assert CustomerMerge.objects.get().into_id == imported.pk


def test_a_page_of_contacts_gets_customers_and_phones_in_bulk():
    items = [
        {
            "external_contact": {"external_userid": f"wm{n}", "name": f"客户{n}"},
            "follow_info": {"userid": "zhangsan", "remark_mobiles": [f"1381234{n:04d}"]},
        }
        for n in range(20)
    ]
    items.append(  # a second contact with a number already in the page: same person, one customer
        {
            "external_contact": {"external_userid": "wmTwin", "name": "双胞胎"},
            "follow_info": {"userid": "lisi", "remark_mobiles": ["13812340003"]},
        }
    )

    external_contacts_upsert_from_wecom(details=items)

    assert Customer.objects.count() == 20
    assert set(Customer.objects.values_list("phone", flat=True)) == {f"+861381234{n:04d}" for n in range(20)}
    assert ExternalContact.objects.get(external_userid="wmTwin").customer_id == (
        ExternalContact.objects.get(external_userid="wm3").customer_id
    )
    assert ExternalContact.objects.filter(customer__isnull=True).count() == 0


def test_a_placeholder_contact_from_a_callback_gets_a_customer_too():
    follow_relation_upsert(userid="zhangsan", external_userid="wmNew", at=AT)
    follow_relation_mark(userid="lisi", external_userid="wmGone", status="deleted_by_customer", at=AT)

    assert ExternalContact.objects.filter(customer__isnull=True).count() == 0
    assert Customer.objects.count() == 2
