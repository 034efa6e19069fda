"""tagging admin for saved segments: the expression checked with its position shown, writes through the services
(audited, counted), the live count and newest members on the change page as the viewer may see them, recount."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.utils import translation

from scrm.core.models import AuditLog
from tagging.models import Segment
from tagging.services.segments import segment_create
from tests.tagging.segment_fixtures import shop_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

URL = "/admin/tagging/segment/"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def login(client, user):
    """Logged in, admin in English (the language switch's cookie) so the messages read as their msgids."""
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def ops(client, shop):
    return login(client, shop.ops)


def sample_names(response) -> list[str]:
    """The names linked in the sample table, in order."""
    html = response.content.decode()
    table = html[html.index("<caption>The newest 20</caption>") :].split("</table>")[0]
    return re.findall(r'<a href="/admin/(?:customers/customer|groups/customergroup)/\d+/change/">([^<]*)</a>', table)


def test_adding_a_segment_goes_through_the_service(ops, shop):
    response = ops.post(f"{URL}add/", {"name": "奶粉客户", "target": "customer", "expression": "奶粉 NOT 已流失"})

    assert response.status_code == 302, response.content.decode()[:2000]
    segment = Segment.objects.get()
    assert (segment.name, segment.expression, segment.last_count, segment.created_by) == (
        "奶粉客户",
        "奶粉 NOT 已流失",
        1,
        shop.ops,
    )
    assert AuditLog.objects.filter(action="segment_create", target_id=str(segment.pk)).count() == 1


def test_a_bad_expression_shows_its_position_and_saves_nothing(ops, shop):
    response = ops.post(f"{URL}add/", {"name": "x", "target": "customer", "expression": "奶粉 AND 奶份"})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["expression"]
    assert errors == ["Unknown tag “奶份” at position 7 (did you mean 奶粉?)<pre>奶粉 AND 奶份\n         ^</pre>"]
    assert "<pre>奶粉 AND 奶份\n         ^</pre>" in response.content.decode()  # the pointer, not escaped
    assert not Segment.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="segment").exists()


def test_the_target_decides_which_tags_resolve(ops, shop):
    response = ops.post(f"{URL}add/", {"name": "x", "target": "group", "expression": "奶粉"})

    assert response.status_code == 200
    assert (
        response.context["adminform"]
        .form.errors["expression"][0]
        .startswith("The tag “奶粉” at position 0 applies to customers, not to customer groups")
    )
    assert not Segment.objects.exists()


def test_changing_the_expression_recounts(ops, shop):
    segment = segment_create(name="s", expression="奶粉")

    response = ops.post(f"{URL}{segment.pk}/change/", {"name": "s", "target": "customer", "expression": "辅食 OR 玩具"})

    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.expression, segment.last_count) == ("辅食 OR 玩具", 2)
    assert AuditLog.objects.filter(action="segment_update").count() == 1


def test_the_change_page_shows_the_live_count_and_the_newest_members(ops, shop):
    segment = segment_create(name="s", expression="奶粉 OR 辅食")

    response = ops.get(f"{URL}{segment.pk}/change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert sample_names(response) == ["Anonymous", "韩梅梅", "李雷", "王芳"]
    assert "138****5678" in html and "13812345678" not in html
    assert "/admin/customers/customer/" in html and "/phone/" in html  # ops may reveal, through the audited page


def test_sales_see_their_own_count_and_members_read_only(client, shop):
    segment = segment_create(name="s", expression="奶粉 OR 辅食")
    login(client, shop.sales)

    response = client.get(f"{URL}{segment.pk}/change/")

    assert response.status_code == 200
    assert sample_names(response) == ["李雷", "王芳"]
    assert "/phone/" not in response.content.decode()  # no view_full_phone: masked, no reveal link
    refused = client.post(f"{URL}{segment.pk}/change/", {"name": "t", "target": "customer", "expression": "奶粉"})
    assert refused.status_code == 403
    assert Segment.objects.get().name == "s"


def test_a_group_segment_lists_groups(ops, shop):
    segment = segment_create(name="g", target="group", expression="活跃群")

    response = ops.get(f"{URL}{segment.pk}/change/")

    assert sample_names(response) == ["活跃2群", "宝妈交流群"]


def test_a_segment_whose_tag_was_deleted_opens_with_the_error(ops, shop):
    segment = segment_create(name="s", expression="奶粉 OR 玩具")
    shop.tags["玩具"].deleted = True
    shop.tags["玩具"].save(update_fields=["deleted"])

    response = ops.get(f"{URL}{segment.pk}/change/")

    assert response.status_code == 200
    assert "Unknown tag “玩具” at position 6" in response.content.decode()


def test_recount_action(ops, shop):
    good = segment_create(name="good", expression="辅食")
    broken = segment_create(name="broken", expression="玩具")
    Segment.objects.update(last_count=None, counted_at=None)
    shop.tags["玩具"].deleted = True
    shop.tags["玩具"].save(update_fields=["deleted"])

    response = ops.post(URL, {"action": "recount", "_selected_action": [good.pk, broken.pk]}, follow=True)

    shown = [str(m) for m in response.context["messages"]]
    assert shown == ["broken: Unknown tag “玩具” at position 0", "1 segment counted."]
    assert dict(Segment.objects.values_list("name", "last_count")) == {"good": 2, "broken": None}


def test_deleting_goes_through_the_service(ops, shop):
    segment = segment_create(name="s", expression="奶粉")

    response = ops.post(f"{URL}{segment.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Segment.objects.exists()
    assert AuditLog.objects.filter(action="segment_delete").count() == 1


def test_recount_needs_the_change_permission(client, shop, make_user):
    viewer = make_user("viewer", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__in=["view_segment", "view_customer"]))
    segment_create(name="s", expression="奶粉")
    login(client, viewer)

    response = client.get(URL)

    assert response.status_code == 200
    assert "recount" not in [
        name for name, _label in response.context["cl"].model_admin.get_action_choices(response.wsgi_request)
    ]
