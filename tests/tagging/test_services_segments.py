"""tagging.services.segments and tagging.selectors_segments: saved segments checked, audited and counted; live
counts and keyset pages of members as the user may see them, in a fixed number of queries."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from scrm.core.models import AuditLog
from tagging.models import Segment
from tagging.segments import SegmentError
from tagging.selectors_segments import segment_count, segment_members, segment_preview
from tagging.services.segments import segment_count_refresh, segment_create, segment_delete, segment_update
from tests.tagging.segment_fixtures import shop_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def test_create_trims_checks_counts_and_audits(shop):
    segment = segment_create(name=" 奶粉 ", expression="  奶粉 OR 辅食\n", actor=shop.ops)

    segment.refresh_from_db()
    assert (segment.name, segment.expression, segment.target, segment.last_count) == (
        "奶粉",
        "奶粉 OR 辅食",
        "customer",
        4,
    )
    entry = AuditLog.objects.get(action="segment_create")
    assert (entry.actor, entry.changes) == (shop.ops, {"target": "customer", "expression": "奶粉 OR 辅食"})


@pytest.mark.parametrize(
    ("kwargs", "errors"),
    [
        (
            {"name": "x", "expression": "奶粉 OR"},
            {"expression": ["Expected a tag or a condition at position 5, but the expression ends there"]},
        ),
        ({"name": "x", "expression": "  "}, {"expression": ["This field cannot be blank."]}),
        ({"name": "", "expression": "奶粉"}, {"name": ["This field cannot be blank."]}),
        (
            {"name": "x" * 101, "expression": "奶粉"},
            {"name": ["Ensure this value has at most 100 characters (it has 101)."]},
        ),
        ({"name": "x", "expression": "奶粉", "target": "shop"}, {"target": ["Value 'shop' is not a valid choice."]}),
    ],
)
def test_create_refuses_and_writes_nothing(shop, kwargs, errors):
    with pytest.raises(ValidationError) as caught:
        segment_create(**kwargs)

    assert caught.value.message_dict == errors
    assert not Segment.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="segment").exists()


def test_update_changes_only_what_is_given(shop):
    segment = segment_create(name="s", expression="奶粉")

    assert segment_update(segment=segment, name="s", expression=" 奶粉 ") == []  # the same after trimming
    assert not AuditLog.objects.filter(action="segment_update").exists()
    assert segment_update(segment=segment, name="t") == ["name"]
    assert segment.last_count == 2  # a new name is not a new count
    assert segment_update(segment=segment, target="group", expression="活跃群") == ["expression", "target"]
    assert (segment.target, segment.last_count) == ("group", 2)
    assert AuditLog.objects.filter(action="segment_update").count() == 2


def test_a_refused_update_leaves_the_segment_as_it_was(shop):
    segment = segment_create(name="s", expression="奶粉")
    other = segment_create(name="t", expression="辅食")

    with pytest.raises(ValidationError) as caught:
        segment_update(segment=segment, target="group")  # 奶粉 is a customer tag
    assert caught.value.message_dict == {
        "expression": ["The tag “奶粉” at position 0 applies to customers, not to customer groups"]
    }
    with pytest.raises(ValidationError) as caught:
        segment_update(segment=other, name="s")
    assert caught.value.message_dict == {"name": ["A segment of customers named “s” already exists."]}
    assert sorted(Segment.objects.values_list("name", "target", "expression")) == [
        ("s", "customer", "奶粉"),
        ("t", "customer", "辅食"),
    ]
    assert not AuditLog.objects.filter(action="segment_update").exists()


def test_delete_audits(shop):
    segment = segment_create(name="s", expression="奶粉")

    segment_delete(segment=segment, actor=shop.ops)

    assert not Segment.objects.exists()
    assert AuditLog.objects.get(action="segment_delete").changes == {
        "name": "s",
        "target": "customer",
        "expression": "奶粉",
    }


def test_recount_stores_the_count_or_names_the_position_of_what_broke(shop):
    segment = segment_create(name="s", expression="玩具 OR 辅食")
    Segment.objects.filter(pk=segment.pk).update(last_count=0)

    assert segment_count_refresh(segment=segment) == 2
    assert Segment.objects.get().last_count == 2

    shop.tags["辅食"].deleted = True
    shop.tags["辅食"].save(update_fields=["deleted"])
    with pytest.raises(ValidationError) as caught:
        segment_count_refresh(segment=segment)
    assert caught.value.message_dict == {"expression": ["Unknown tag “辅食” at position 6"]}
    assert Segment.objects.get().last_count == 2


# ---- selectors --------------------------------------------------------------------------------------------------


def test_preview_for_ops_resolves_once_then_counts_and_pages(shop, django_assert_num_queries):
    shop.ops.has_perm("customers.view_all_customers")  # the permission cache, as after the request's first check
    with django_assert_num_queries(3):  # the tags, the count, the page (owner, stage and tier joined in)
        preview = segment_preview(expression="奶粉 OR 辅食", target="customer", user=shop.ops)
        assert [(c.name, c.owner.userid if c.owner else None) for c in preview.sample] == [
            ("Anonymous", None),
            ("韩梅梅", None),
            ("李雷", None),
            ("王芳", "zhangsan"),
        ]
    assert preview.count == 4


def test_preview_for_sales_adds_only_the_visibility_lookups(shop, django_assert_num_queries):
    shop.sales.has_perm("customers.view_all_customers")
    with django_assert_num_queries(3 + 3):  # + the user's employee and the ids it owns and follows
        preview = segment_preview(expression="奶粉 OR 辅食", target="customer", user=shop.sales)
    assert (preview.count, [c.name for c in preview.sample]) == (2, ["李雷", "王芳"])


def test_members_page_by_keyset(shop):
    pages, before = [], None
    while True:
        page = segment_members(expression="NOT 已流失", target="customer", user=shop.ops, before=before, limit=2)
        if not page:
            break
        pages.append([c.name for c in page])
        before = page[-1].pk
    assert pages == [["Anonymous", "赵敏"], ["李雷", "王芳"]]


def test_count_of_groups_and_a_bad_expression(shop):
    assert segment_count(expression="活跃群", target="group", user=shop.sales) == 2
    with pytest.raises(SegmentError):
        segment_count(expression="活跃群 (", target="group", user=shop.ops)
