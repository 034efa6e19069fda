"""tagging selectors: query counts pinned."""

import pytest

from tagging.selectors import tag_groups_with_tags, tags_by_ids, tags_without_detail
from tagging.services import corp_tags_upsert_from_wecom, tag_ensure

pytestmark = pytest.mark.django_db


@pytest.fixture
def tags():
    corp_tags_upsert_from_wecom(
        tag_groups=[
            {"group_id": "etG1", "group_name": "客户等级", "order": 2, "tag": [{"id": "etT1", "name": "A"}]},
            {
                "group_id": "etG2",
                "group_name": "意向产品",
                "order": 1,
                "tag": [{"id": "etT2", "name": "年卡", "order": 1}, {"id": "etT3", "name": "私教", "deleted": True}],
            },
        ]
    )
    tag_ensure(tag_id="etT9")


def test_tag_groups_with_tags_is_two_queries(tags, django_assert_num_queries):
    with django_assert_num_queries(2):
        tree = [(g.name, [t.name for t in g.tags.all()]) for g in tag_groups_with_tags()]

    assert tree == [("客户等级", ["A"]), ("意向产品", ["年卡"])]


def test_tags_by_ids_is_one_query(tags, django_assert_num_queries):
    with django_assert_num_queries(1):
        found = {
            tag_id: (t.name, t.group.name if t.group else None)
            for tag_id, t in tags_by_ids(tag_ids=["etT1", "etT9", "nope"]).items()
        }

    assert found == {"etT1": ("A", "客户等级"), "etT9": ("", None)}
    assert [t.tag_id for t in tags_without_detail()] == ["etT9"]
