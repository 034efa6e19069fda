"""tagging admin: tag groups and tags list, search and show; nothing is editable."""

import pytest

from tagging.models import TagGroup
from tagging.services import corp_tags_upsert_from_wecom

pytestmark = pytest.mark.django_db


@pytest.fixture
def tag_group():
    corp_tags_upsert_from_wecom(
        tag_groups=[{"group_id": "etG1", "group_name": "客户等级", "tag": [{"id": "etT1", "name": "A类客户"}]}]
    )
    return TagGroup.objects.get()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/admin/tagging/taggroup/?q=客户", "etG1"),
        ("/admin/tagging/tag/?q=etG1", "etT1"),
        ("/admin/tagging/tag/?deleted__exact=0", "etT1"),
    ],
)
def test_changelists_search_and_filter(ops_client, tag_group, url, expected):
    response = ops_client.get(url)

    assert response.status_code == 200
    assert expected in response.content.decode()


def test_tag_group_page_shows_its_tags_read_only(ops_client, tag_group):
    response = ops_client.get(f"/admin/tagging/taggroup/{tag_group.pk}/change/")

    assert response.status_code == 200
    assert "A类客户" in response.content.decode()
    assert 'name="_save"' not in response.content.decode()
    assert ops_client.get("/admin/tagging/tag/add/").status_code == 403
