"""Group statistics API and admin: a group's series and the daily totals over a range, every day listed (zeros
where nothing was recorded), the range checked (400 naming the field); the group page's growth chart (server-drawn
SVG) and the all-groups growth view; sales may read, the figures are never editable."""

from datetime import date, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from groups.models import CustomerGroup, GroupDailyStat
from groups.services import group_ensure
from groups.services.stats import group_stats_add_pushes
from scrm.core.roles import OPS, SALES

pytestmark = pytest.mark.django_db

D1, D2, D3 = date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.fixture
def sales(make_user) -> APIClient:
    return client_for(make_user("sales1", role=SALES))


@pytest.fixture
def figures():
    a = group_ensure(chat_id="wrA")
    b = group_ensure(chat_id="wrB")
    GroupDailyStat.objects.bulk_create(
        [
            GroupDailyStat(group=a, day=D1, members=10, joins=3, quits=1),
            GroupDailyStat(group=a, day=D3, members=12, joins=2, quits=0, messages=40),
            GroupDailyStat(group=b, day=D1, members=5, joins=5, quits=0),
        ]
    )
    group_stats_add_pushes(group_id=b.pk, day=D1, pushes=2, clicks=1)
    return a, b


def day(d, members=0, joins=0, quits=0, messages=None, pushes=0, clicks=0, **extra) -> dict:
    return {
        "day": d.isoformat(),
        "members": members,
        "joins": joins,
        "quits": quits,
        "messages": messages,
        "sop_pushes": pushes,
        "sop_clicks": clicks,
        **extra,
    }


def test_a_groups_series_fills_missing_days_with_zeros(sales, figures):
    a, _b = figures

    response = sales.get(f"/api/groups/{a.pk}/stats/", {"from": "2024-02-29", "to": "2024-03-03"})

    assert response.status_code == 200
    assert response.json() == {
        "from": "2024-02-29",
        "to": "2024-03-03",
        "group": a.pk,
        "chat_id": "wrA",
        "name": "",
        "days": [
            day(date(2024, 2, 29)),
            day(D1, 10, 3, 1),
            day(D2),
            day(D3, 12, 2, 0, messages=40),
        ],
    }


def test_daily_totals_across_groups(sales, figures):
    response = sales.get("/api/groups/stats/daily/", {"from": "2024-03-01", "to": "2024-03-03"})

    assert response.status_code == 200
    assert response.json()["days"] == [
        day(D1, 15, 8, 1, pushes=2, clicks=1, groups=2),
        day(D2, groups=0),
        day(D3, 12, 2, 0, messages=40, groups=1),
    ]


def test_the_default_range_is_the_last_30_days(sales, figures):
    body = sales.get("/api/groups/stats/daily/").json()

    today = timezone.localdate()
    assert (body["from"], body["to"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())
    assert len(body["days"]) == 30


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"from": "2024-03-05", "to": "2024-03-01"}, {"from": ["The range starts after it ends."]}),
        ({"from": "2023-01-01", "to": "2024-01-02"}, {"to": ["At most 366 days at a time."]}),
        ({"from": "yesterday"}, {"from": ["Enter a date as YYYY-MM-DD."]}),
        ({"to": "2024-13-01"}, {"to": ["Enter a date as YYYY-MM-DD."]}),
    ],
)
def test_a_bad_range_is_a_400_naming_the_field(sales, figures, params, fields):
    a, _b = figures

    for url in ("/api/groups/stats/daily/", f"/api/groups/{a.pk}/stats/"):
        response = sales.get(url, params)
        assert response.status_code == 400
        assert response.json()["fields"] == fields


def test_366_days_is_allowed(sales):
    response = sales.get("/api/groups/stats/daily/", {"from": "2024-01-01", "to": "2024-12-31"})

    assert response.status_code == 200
    assert len(response.json()["days"]) == 366


def test_permissions_and_unknown_group(make_user, figures):
    a, _b = figures

    assert APIClient().get("/api/groups/stats/daily/").status_code == 401
    assert client_for(make_user("nobody")).get(f"/api/groups/{a.pk}/stats/").status_code == 403
    assert client_for(make_user("ops1", role=OPS)).get("/api/groups/999999/stats/").status_code == 404


# ---- admin -------------------------------------------------------------------------------------------------------


@pytest.fixture
def staff(client, make_user, settings):
    def login(role: str):
        client.force_login(make_user(f"{role}-staff", role=role, is_staff=True))
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return login


def test_the_group_page_draws_its_last_30_days(staff):
    group = group_ensure(chat_id="wrCHART")
    today = timezone.localdate()
    GroupDailyStat.objects.create(group=group, day=today - timedelta(days=1), members=180, joins=12, quits=3)

    body = staff(SALES).get(f"/admin/groups/customergroup/{group.pk}/change/").content.decode()

    assert "Growth, last 30 days" in body
    assert body.count('class="growth-chart"') == 2
    assert "Members at the end of each day" in body
    assert "<td>180</td><td>12</td><td>3</td>" in body
    assert "<script" not in body.split("Growth, last 30 days")[1].split("</fieldset>")[0]


def test_the_group_list_links_to_the_growth_of_all_groups(staff, figures):
    client = staff(SALES)

    listed = client.get("/admin/groups/customergroup/").content.decode()
    growth = client.get("/admin/groups/groupdailystat/growth/", {"start": "2024-03-01", "end": "2024-03-03"})

    assert "/admin/groups/groupdailystat/growth/" in listed
    assert growth.status_code == 200
    body = growth.content.decode()
    assert "Growth of all groups" in body
    assert "<tr><td>2024-03-01</td><td>2</td><td>15</td><td>8</td><td>1</td><td>—</td><td>2</td><td>1</td></tr>" in body
    assert body.count('class="growth-chart"') == 2


def test_the_growth_view_refuses_a_bad_range(staff):
    response = staff(OPS).get("/admin/groups/groupdailystat/growth/", {"start": "2024-03-05", "end": "2024-03-01"})

    assert response.status_code == 200
    assert response.context["form"].errors == {"start": ["The range starts after it ends."]}
    assert "growth-chart" not in response.content.decode()


def test_the_figures_are_read_only(staff, figures):
    client = staff(OPS)
    row = GroupDailyStat.objects.first()

    assert client.get("/admin/groups/groupdailystat/").status_code == 200
    assert client.get("/admin/groups/groupdailystat/add/").status_code == 403
    assert 'name="_save"' not in client.get(f"/admin/groups/groupdailystat/{row.pk}/change/").content.decode()
    assert CustomerGroup.objects.count() == 2


def test_without_the_view_permission_no_growth(client, make_user):
    client.force_login(make_user("plain", is_staff=True))

    assert client.get("/admin/groups/groupdailystat/growth/").status_code == 403
