"""The tag assignments API: a customer's tags read and changed by hand (sales only on customers they see, with the
add/delete permissions), refusals naming ``add`` or ``remove`` and writing nothing; customer groups' tags (ops)."""

import pytest

from customers.models import TimelineEntry
from groups.models import CustomerGroup
from scrm.core.models import AuditLog
from tagging.models import CustomerTag, GroupTag, Source, Tag, TagGroup, TagKind, TagTarget, WeComTagPush
from tagging.services import customer_tags_change
from tests.customers.api_fixtures import corp_fixture  # noqa: F401 - the corp fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def tags():
    interest = TagGroup.objects.create(group_id="etG1", name="兴趣", order=2)
    region = TagGroup.objects.create(name="区域", kind=TagKind.SYSTEM, order=1)
    personal = TagGroup.objects.create(name="个人标签", kind=TagKind.PERSONAL)
    chats = TagGroup.objects.create(name="群分类", kind=TagKind.SYSTEM, target=TagTarget.GROUP)
    return {
        "奶粉": Tag.objects.create(tag_id="etMilk", name="奶粉", group=interest),
        "辅食": Tag.objects.create(tag_id="etFood", name="辅食", group=interest),
        "上海": Tag.objects.create(name="上海", group=region, kind=TagKind.SYSTEM),
        "老客": Tag.objects.create(name="老客", group=personal, kind=TagKind.PERSONAL),
        "宝妈群": Tag.objects.create(name="宝妈群", group=chats, kind=TagKind.SYSTEM),
        "旧": Tag.objects.create(tag_id="etOld", name="旧", group=interest, deleted=True),
    }


def url(customer) -> str:
    return f"/api/tagging/customers/{customer.pk}/tags/"


def written() -> tuple[int, int, int, int]:
    return (
        CustomerTag.objects.count(),
        TimelineEntry.objects.filter(kind=TimelineEntry.Kind.TAG_CHANGE).count(),
        WeComTagPush.objects.count(),
        AuditLog.objects.filter(action="tags").count(),
    )


def test_sales_tag_a_customer_they_follow_and_the_corp_tag_is_queued_for_wecom(corp, tags):
    response = corp.client(corp.sales).post(
        url(corp.followed), {"add": [tags["奶粉"].pk, tags["上海"].pk]}, format="json"
    )

    assert response.status_code == 200
    assert [(t["name"], t["group_name"], t["kind"], t["source"], t["actor"]) for t in response.json()] == [
        ("奶粉", "兴趣", "corp", "manual", "sales1"),
        ("上海", "区域", "system", "manual", "sales1"),
    ]
    assert response.json()[0]["wecom_tag_id"] == "etMilk"
    push = WeComTagPush.objects.get()  # zhangsan's relation; the system tag never leaves
    assert (push.relation.employee.userid, push.add_tag_ids, push.remove_tag_ids) == ("zhangsan", ["etMilk"], [])
    assert written() == (2, 1, 1, 1)


def test_reading_and_removing(corp, tags):
    customer_tags_change(customer_ids=[corp.owned.pk], add=[tags["奶粉"].pk, tags["辅食"].pk], source=Source.RULE)
    client = corp.client(corp.sales)

    listed = client.get(url(corp.owned)).json()
    assert [(t["name"], t["source"], t["actor"]) for t in listed] == [("奶粉", "rule", None), ("辅食", "rule", None)]

    response = client.post(url(corp.owned), {"remove": [tags["奶粉"].pk]}, format="json")
    assert response.status_code == 200
    assert [t["name"] for t in response.json()] == ["辅食"]
    assert AuditLog.objects.get(action="tags").changes == {"added": [], "removed": ["兴趣/奶粉"]}


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_customer_sales_may_not_see_is_a_404_and_nothing_is_written(corp, tags, method):
    client = corp.client(corp.sales)
    for customer in (corp.foreign, corp.ended):  # lisi's; zhangsan's relation ended
        response = getattr(client, method)(url(customer), {"add": [tags["奶粉"].pk]}, format="json")
        assert response.status_code == 404
    assert client.get("/api/tagging/customers/999999/tags/").status_code == 404
    assert written() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"add": [999999]}, "add", "No such tag: 999999."),
        ({"remove": [999999]}, "remove", "No such tag: 999999."),
        ({"add": ["旧"]}, "add", "The tag “旧” has been deleted."),
        ({"add": ["宝妈群"]}, "add", "The tag “宝妈群” does not apply to customers."),
        ({"add": ["老客"]}, "add", "“老客” is an employee's personal WeCom tag: it can only be changed in WeCom."),
        (
            {"remove": ["老客"]},
            "remove",
            "“老客” is an employee's personal WeCom tag: it can only be changed in WeCom.",
        ),
        ({"add": ["奶粉"], "remove": ["奶粉"]}, "remove", "A tag cannot be added and removed at once: {奶粉}."),
        ({}, "add", "Name at least one tag to add or remove."),
        ({"add": "奶粉"}, "add", 'Expected a list of items but got type "str".'),
    ],
)
def test_bad_tags_are_refused_naming_the_list_and_nothing_is_written(corp, tags, body, field, message):
    ids = {name: tag.pk for name, tag in tags.items()}
    body = {
        key: [ids.get(item, item) for item in value] if isinstance(value, list) else value
        for key, value in body.items()
    }
    message = message.replace("{奶粉}", str(ids["奶粉"]))
    good = {"add": [ids["上海"]]} if field == "remove" and "add" not in body else {}

    response = corp.client(corp.ops).post(url(corp.followed), {**good, **body}, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {field: [message]}
    assert written() == (0, 0, 0, 0)


def test_permissions(corp, tags, make_user):
    from django.contrib.auth.models import Permission

    # the viewer may see every customer but has no tagging permission
    assert corp.client(corp.viewer).get(url(corp.owned)).status_code == 403
    assert corp.client(corp.viewer).post(url(corp.owned), {"add": [tags["奶粉"].pk]}, format="json").status_code == 403
    remover = make_user("remover")
    remover.user_permissions.set(
        Permission.objects.filter(codename__in=["view_customer", "view_all_customers", "delete_customertag"])
    )
    response = corp.client(remover).post(url(corp.owned), {"add": [tags["奶粉"].pk]}, format="json")
    assert response.status_code == 403
    assert written() == (0, 0, 0, 0)


def test_group_tags_are_for_operations(corp, tags):
    group = CustomerGroup.objects.create(chat_id="wrG1", name="宝妈一群")
    path = f"/api/tagging/groups/{group.pk}/tags/"

    response = corp.client(corp.ops).post(path, {"add": [tags["宝妈群"].pk]}, format="json")
    assert response.status_code == 200
    assert [(t["name"], t["source"], t["actor"]) for t in response.json()] == [("宝妈群", "manual", "ops1")]
    assert CustomerGroup.objects.get(pk=group.pk).tag_ids == [tags["宝妈群"].pk]

    refused = corp.client(corp.ops).post(path, {"add": [tags["奶粉"].pk]}, format="json")
    assert refused.json()["fields"] == {"add": ["The tag “奶粉” does not apply to customer groups."]}
    assert corp.client(corp.sales).get(path).status_code == 200  # sales may look
    assert corp.client(corp.sales).post(path, {"remove": [tags["宝妈群"].pk]}, format="json").status_code == 403
    assert corp.client(corp.ops).get("/api/tagging/groups/999999/tags/").status_code == 404
    assert GroupTag.objects.count() == 1


def test_reading_takes_a_fixed_number_of_queries(corp, tags, django_assert_num_queries):
    customer_tags_change(
        customer_ids=[corp.owned.pk], add=[tags[name].pk for name in ("奶粉", "辅食", "上海")], source=Source.RULE
    )
    client = corp.client(corp.ops)
    client.get(url(corp.owned))  # warm: the user's permissions, content types

    with django_assert_num_queries(2):  # the customer (is it visible?), its tags with their groups and actors
        assert len(client.get(url(corp.owned)).json()) == 3
