"""tagging services: get_corp_tag_list applied idempotently, deletions marked, placeholders from callbacks."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from tagging.models import Tag, TagGroup
from tagging.services import (
    corp_tags_upsert_from_wecom,
    tag_ensure,
    tag_group_ensure,
    tag_group_mark_deleted,
    tag_mark_deleted,
)

pytestmark = pytest.mark.django_db

CREATED = 1557838797


def tag(tag_id, name, order=1, **extra):
    return {"id": tag_id, "name": name, "create_time": CREATED, "order": order, "deleted": False, **extra}


def tag_group(group_id="etG1", name="客户等级", tags=None, **extra):
    tags = (
        tags if tags is not None else [tag("etT1", "A类客户", 3), tag("etT2", "B类客户", 2), tag("etT3", "C类客户", 1)]
    )
    return {
        "group_id": group_id,
        "group_name": name,
        "create_time": CREATED,
        "order": 1,
        "deleted": False,
        "tag": tags,
        **extra,
    }


def snapshot():
    return [*TagGroup.objects.order_by("pk").values(), *Tag.objects.order_by("pk").values()]


def test_upsert_stores_groups_and_tags():
    counts = corp_tags_upsert_from_wecom(
        tag_groups=[tag_group(), tag_group("etG2", "意向产品", [tag("etT4", "年卡会员")], order=2)]
    )

    assert counts == (2, 4)
    assert (TagGroup.objects.count(), Tag.objects.count()) == (2, 4)
    assert list(TagGroup.objects.values_list("group_id", flat=True)) == ["etG2", "etG1"]  # larger order first
    assert list(Tag.objects.filter(group__group_id="etG1").values_list("name", flat=True)) == [
        "A类客户",
        "B类客户",
        "C类客户",
    ]
    t1 = Tag.objects.get(tag_id="etT1")
    assert (t1.group.name, t1.order, t1.deleted) == ("客户等级", 3, False)
    assert t1.wecom_created_at == datetime.fromtimestamp(CREATED, tz=UTC)


def test_upsert_twice_changes_nothing():
    corp_tags_upsert_from_wecom(tag_groups=[tag_group()])
    before = snapshot()

    assert corp_tags_upsert_from_wecom(tag_groups=[tag_group()]) == (1, 3)

    assert snapshot() == before


def test_upsert_updates_names_and_fills_placeholders():
    tag_ensure(tag_id="etT1")
    tag_group_ensure(group_id="etG1")
    assert Tag.objects.get().group is None

    corp_tags_upsert_from_wecom(tag_groups=[tag_group(tags=[tag("etT1", "A类客户(高)", 9)])])

    t1 = Tag.objects.select_related("group").get()
    assert (t1.name, t1.order, t1.group.group_id, t1.group.name) == ("A类客户(高)", 9, "etG1", "客户等级")
    assert (TagGroup.objects.count(), Tag.objects.count()) == (1, 1)


def test_deleted_flags_and_a_deleted_group_deletes_its_tags():
    corp_tags_upsert_from_wecom(
        tag_groups=[
            tag_group(tags=[tag("etT1", "A"), tag("etT2", "B", deleted=True)]),
            tag_group("etG2", "旧分组", [tag("etT3", "C")], deleted=True),
        ]
    )

    assert dict(Tag.objects.values_list("tag_id", "deleted")) == {"etT1": False, "etT2": True, "etT3": True}
    assert list(TagGroup.objects.live().values_list("group_id", flat=True)) == ["etG1"]


def test_complete_list_marks_what_it_no_longer_has():
    corp_tags_upsert_from_wecom(tag_groups=[tag_group(), tag_group("etG2", "意向产品", [tag("etT4", "年卡会员")])])

    corp_tags_upsert_from_wecom(tag_groups=[tag_group(tags=[tag("etT1", "A类客户")])])  # a filtered call
    assert Tag.objects.filter(deleted=True).count() == 0

    corp_tags_upsert_from_wecom(tag_groups=[tag_group(tags=[tag("etT1", "A类客户")])], complete=True)
    assert sorted(Tag.objects.live().values_list("tag_id", flat=True)) == ["etT1"]
    assert sorted(TagGroup.objects.live().values_list("group_id", flat=True)) == ["etG1"]
    assert (TagGroup.objects.count(), Tag.objects.count()) == (2, 4)


def test_tag_mark_deleted_is_idempotent_and_keeps_the_row():
    corp_tags_upsert_from_wecom(tag_groups=[tag_group()])

    tag_mark_deleted(tag_id="etT2")
    before = snapshot()
    tag_mark_deleted(tag_id="etT2")

    assert snapshot() == before
    assert dict(Tag.objects.values_list("tag_id", "deleted")) == {"etT1": False, "etT2": True, "etT3": False}


def test_tag_group_mark_deleted_deletes_its_tags():
    corp_tags_upsert_from_wecom(tag_groups=[tag_group(), tag_group("etG2", "意向产品", [tag("etT4", "年卡会员")])])

    tag_group_mark_deleted(group_id="etG1")

    assert list(TagGroup.objects.filter(deleted=True).values_list("group_id", flat=True)) == ["etG1"]
    assert sorted(Tag.objects.filter(deleted=True).values_list("tag_id", flat=True)) == ["etT1", "etT2", "etT3"]
    assert Tag.objects.get(tag_id="etT4").deleted is False


def test_ensure_does_not_undelete_and_unknown_deletes_are_recorded():
    tag_mark_deleted(tag_id="etGone")
    tag_ensure(tag_id="etGone")  # a late 'create' event

    assert Tag.objects.get().deleted is True
    assert tag_group_mark_deleted(group_id="etG9").deleted is True


@pytest.mark.parametrize(
    ("groups", "field"),
    [
        ({"group_id": "etG1"}, "tag_group"),
        ([{"group_name": "无 id"}], "group_id"),
        ([tag_group(tags=[{"name": "无 id"}])], "tag.id"),
        ([tag_group(tags="etT1")], "tag"),
        ([tag_group(order="first")], "order"),
        ([tag_group(create_time="yesterday")], "create_time"),
    ],
)
def test_bad_wecom_data_is_refused_naming_the_field(groups, field):
    with pytest.raises(ValidationError) as error:
        corp_tags_upsert_from_wecom(tag_groups=groups)

    assert field in error.value.message_dict
    assert snapshot() == []
