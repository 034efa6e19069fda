"""groups admin: groups list, search and show their members inline; nothing is editable."""

from datetime import UTC, datetime

import pytest

from groups.models import CustomerGroup
from groups.services import group_members_joined, group_members_left

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def group():
    group_members_joined(chat_id="wrCHAT1", member_ids=["wmA", "zhangsan"], join_scene=3, at=T0)
    return group_members_left(chat_id="wrCHAT1", member_ids=["wmA"], quit_scene=1, at=T0.replace(day=2))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/admin/groups/customergroup/?q=wrCHAT1", "wrCHAT1"),
        ("/admin/groups/customergroup/?status__exact=normal", "wrCHAT1"),
        ("/admin/groups/groupmember/?q=wrCHAT1", "zhangsan"),
        ("/admin/groups/groupmember/?quit_scene__exact=1", "wmA"),
    ],
)
def test_changelists_search_and_filter(ops_client, group, url, expected):
    response = ops_client.get(url)

    assert response.status_code == 200
    assert expected in response.content.decode()


def test_group_page_shows_members_read_only(ops_client, group):
    response = ops_client.get(f"/admin/groups/customergroup/{group.pk}/change/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "zhangsan" in body
    assert "wmA" in body  # those who left are listed too
    assert 'name="_save"' not in body
    assert ops_client.get(f"/admin/groups/customergroup/{group.pk}/delete/").status_code == 403
    assert CustomerGroup.objects.count() == 1


def test_selected_groups_go_to_the_bot_assign_page(ops_client, group):
    other = group_members_joined(chat_id="wrCHAT2", member_ids=["wmB"], join_scene=3, at=T0)

    response = ops_client.post(
        "/admin/groups/customergroup/",
        {"action": "assign_to_bot", "_selected_action": [other.pk, group.pk]},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/admin/groups/bot/assign/?groups={group.pk}%2C{other.pk}"


def test_the_assign_action_needs_the_bot_permission(client, make_user, group):
    from scrm.core.roles import SALES

    client.force_login(make_user("sales1", role=SALES, is_staff=True))

    response = client.get("/admin/groups/customergroup/")

    assert response.status_code == 200
    assert "assign_to_bot" not in response.content.decode()
