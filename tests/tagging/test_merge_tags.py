"""Merging two customers moves the merged one's tags (customers.merging → tagging.services.merges): with their
source, actor and time; where both carry a tag the surviving customer's row stays; both arrays rebuilt."""

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import translation

from customers.models import Customer, ExternalContact
from customers.services import customer_create, follow_relation_upsert
from customers.services.identity import customer_merge
from tagging.models import CustomerTag, Source, Tag, TagGroup, TagKind
from tagging.services import customer_tags_change
from tagging.services.merges import customer_tags_merge

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def tags():
    interest = TagGroup.objects.create(group_id="etG1", name="兴趣")
    region = TagGroup.objects.create(name="区域", kind=TagKind.SYSTEM)
    return {
        "奶粉": Tag.objects.create(tag_id="etMilk", name="奶粉", group=interest),
        "辅食": Tag.objects.create(tag_id="etFood", name="辅食", group=interest),
        "上海": Tag.objects.create(name="上海", group=region, kind=TagKind.SYSTEM),
    }


def rows(customer_id: int) -> dict[str, tuple]:
    return {
        row.tag.name: (row.source, row.actor.username if row.actor else None)
        for row in CustomerTag.objects.filter(customer_id=customer_id).select_related("tag", "actor")
    }


def test_the_merged_customers_tags_move_and_the_survivors_row_wins(tags):
    user = get_user_model().objects.create_user("ops")
    other_user = get_user_model().objects.create_user("sales")
    into = customer_create(name="王芳", phone="13800000001", actor=None)
    follow_relation_upsert(userid="zhangsan", external_userid="wmB", wecom_tag_ids=["etMilk"])
    other = Customer.objects.get(contacts__external_userid="wmB")
    customer_tags_change(customer_ids=[into.pk], add=[tags["奶粉"].pk], source=Source.MANUAL, actor=user)
    customer_tags_change(
        customer_ids=[other.pk], add=[tags["辅食"].pk, tags["上海"].pk], source=Source.MANUAL, actor=other_user
    )
    food_tagged_at = CustomerTag.objects.get(customer=other, tag=tags["辅食"]).created_at

    customer_merge(into=into, other=other)

    assert not Customer.objects.filter(pk=other.pk).exists()
    assert rows(into.pk) == {
        "奶粉": (Source.MANUAL, "ops"),  # both had it: the survivor's row
        "辅食": (Source.MANUAL, "sales"),
        "上海": (Source.MANUAL, "sales"),
    }
    assert CustomerTag.objects.get(customer=into, tag=tags["辅食"]).created_at == food_tagged_at

    # the contact came along: what its relation shows in WeCom keeps counting for the survivor
    follow_relation_upsert(userid="zhangsan", external_userid="wmB", remark="合并后")
    assert ExternalContact.objects.get(external_userid="wmB").customer_id == into.pk
    assert set(rows(into.pk)) == {"奶粉", "辅食", "上海"}


def test_the_move_counts_what_moved_and_rebuilds_both_arrays(tags):
    a, b = (customer_create(name=name, phone="", actor=None) for name in ("a", "b"))
    customer_tags_change(customer_ids=[a.pk], add=[tags["上海"].pk], source=Source.MANUAL)
    customer_tags_change(customer_ids=[b.pk], add=[tags["上海"].pk, tags["奶粉"].pk], source=Source.RULE)

    with transaction.atomic():
        moved = customer_tags_merge(into_id=a.pk, other_id=b.pk)

    assert moved == 1
    assert rows(a.pk) == {"上海": (Source.MANUAL, None), "奶粉": (Source.RULE, None)}
    assert rows(b.pk) == {"上海": (Source.RULE, None)}  # goes with b when the merge deletes it
    assert Customer.objects.get(pk=a.pk).tag_ids == sorted([tags["上海"].pk, tags["奶粉"].pk])
    assert Customer.objects.get(pk=b.pk).tag_ids == [tags["上海"].pk]


def test_the_survivors_array_holds_the_moved_tags_after_the_merge(tags):
    into = customer_create(name="王芳", phone="", actor=None)
    other = customer_create(name="王芳", phone="", actor=None)
    customer_tags_change(customer_ids=[other.pk], add=[tags["辅食"].pk], source=Source.MANUAL)

    customer_merge(into=into, other=other)

    assert Customer.objects.get(pk=into.pk).tag_ids == [tags["辅食"].pk]
