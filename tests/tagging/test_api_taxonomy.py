"""The taxonomy API under /api/tagging/: the tree in WeCom's order (for customers or customer groups, deleted rows
on request) in two queries; creating, renaming and deleting through the services for operations only; sales read;
refusals as 400 naming the field, writing nothing."""

import pytest
from django.utils import translation

from scrm.core.models import AuditLog
from scrm.core.roles import OPS, SALES
from tagging.models import SyncState, Tag, TagGroup, TagKind, TagTarget

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(api_client):
    api_client.credentials(HTTP_ACCEPT_LANGUAGE="en")  # assert on the source messages, not the zh-hans default
    with translation.override("en"):
        yield


@pytest.fixture
def taxonomy():
    levels = TagGroup.objects.create(group_id="etG1", name="客户等级", order=1)
    products = TagGroup.objects.create(group_id="etG2", name="意向产品", order=5)
    Tag.objects.create(group=levels, tag_id="etT1", name="A类客户", order=2)
    Tag.objects.create(group=levels, tag_id="etT2", name="B类客户", order=3)
    Tag.objects.create(group=levels, tag_id="etT3", name="旧", deleted=True)
    Tag.objects.create(group=products, tag_id="etT4", name="年卡", sync_state=SyncState.FAILED, sync_error="refused")
    chats = TagGroup.objects.create(name="群分类", kind=TagKind.SYSTEM, target=TagTarget.GROUP, sync_state="local")
    Tag.objects.create(group=chats, name="宝妈群", kind=TagKind.SYSTEM, sync_state="local")
    TagGroup.objects.create(group_id="etG9", name="已删分组", deleted=True)
    return {"levels": levels, "products": products, "chats": chats}


@pytest.fixture
def as_role(api_client, make_user):
    def login(role: str):
        api_client.force_authenticate(make_user(role, role=role))
        return api_client

    return login


def tree(response) -> list:
    return [(group["name"], [tag["name"] for tag in group["tags"]]) for group in response.json()]


@pytest.mark.parametrize("role", [OPS, SALES])
def test_the_tree_in_wecoms_order(as_role, taxonomy, role, django_assert_num_queries):
    client = as_role(role)
    with django_assert_num_queries(4):  # the session user and its permissions, then the groups and their tags
        response = client.get("/api/tagging/tree/")

    assert response.status_code == 200
    assert tree(response) == [("意向产品", ["年卡"]), ("客户等级", ["B类客户", "A类客户"])]
    products = response.json()[0]
    assert {key: products[key] for key in ("group_id", "kind", "target", "sync_state")} == {
        "group_id": "etG2",
        "kind": "corp",
        "target": "customer",
        "sync_state": "synced",
    }
    assert {key: products["tags"][0][key] for key in ("tag_id", "sync_state", "sync_error")} == {
        "tag_id": "etT4",
        "sync_state": "failed",
        "sync_error": "refused",
    }


def test_the_tree_for_groups_and_with_deleted_rows(as_role, taxonomy):
    client = as_role(SALES)

    assert tree(client.get("/api/tagging/tree/?target=group")) == [("群分类", ["宝妈群"])]
    assert tree(client.get("/api/tagging/tree/?include_deleted=1")) == [
        ("意向产品", ["年卡"]),
        ("客户等级", ["B类客户", "A类客户", "旧"]),
        ("已删分组", []),
    ]
    response = client.get("/api/tagging/tree/?target=people")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["target"]


def test_ops_create_rename_and_delete(as_role, taxonomy, django_capture_on_commit_callbacks):
    client = as_role(OPS)

    response = client.post("/api/tagging/tag-groups/", {"name": "会员等级", "order": 3}, format="json")
    assert response.status_code == 201, response.json()
    group = response.json()
    assert {key: group[key] for key in ("name", "kind", "target", "order", "sync_state", "group_id", "tags")} == {
        "name": "会员等级",
        "kind": "corp",
        "target": "customer",
        "order": 3,
        "sync_state": "pending",
        "group_id": "",
        "tags": [],
    }

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/api/tagging/tags/", {"group": group["id"], "name": "金卡"}, format="json")
    assert response.status_code == 201
    tag = response.json()
    assert (tag["group"], tag["name"], tag["kind"], tag["sync_state"]) == (group["id"], "金卡", "corp", "pending")
    assert len(callbacks) == 1  # pushed to WeCom after commit

    response = client.patch(f"/api/tagging/tags/{tag['id']}/", {"name": "金卡会员", "order": 9}, format="json")
    assert (response.status_code, response.json()["name"], response.json()["order"]) == (200, "金卡会员", 9)
    response = client.patch(f"/api/tagging/tag-groups/{group['id']}/", {"name": "会员"}, format="json")
    assert (response.status_code, response.json()["name"]) == (200, "会员")

    assert client.delete(f"/api/tagging/tags/{tag['id']}/").status_code == 204
    assert client.delete(f"/api/tagging/tag-groups/{group['id']}/").status_code == 204
    assert Tag.objects.get(pk=tag["id"]).deleted is True  # the rows stay
    assert TagGroup.objects.get(pk=group["id"]).deleted is True
    assert list(AuditLog.objects.order_by("pk").values_list("action", "actor__username")) == [
        ("create", OPS),
        ("create", OPS),
        ("update", OPS),
        ("update", OPS),
        ("delete", OPS),
        ("delete", OPS),
    ]


@pytest.mark.parametrize(
    ("url", "body", "field", "message"),
    [
        ("/api/tagging/tags/", {"name": "一" * 31}, "name", "At most 30 characters (WeCom's limit); this name has 31."),
        ("/api/tagging/tags/", {"name": "A类客户"}, "name", "This group already has a tag named “A类客户”."),
        ("/api/tagging/tags/", {"name": "X", "order": -1}, "order", None),
        ("/api/tagging/tag-groups/", {"name": "客户等级"}, "name", "A tag group named “客户等级” already exists."),
        ("/api/tagging/tag-groups/", {"name": "X", "kind": "personal"}, "kind", None),
        ("/api/tagging/tag-groups/", {"name": "X", "target": "group"}, "target", None),
    ],
)
def test_refusals_are_400_naming_the_field(as_role, taxonomy, url, body, field, message):
    before = (TagGroup.objects.count(), Tag.objects.count())
    body = {"group": taxonomy["levels"].pk, **body} if url.endswith("/tags/") else body

    response = as_role(OPS).post(url, body, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    if message:
        assert response.json()["fields"][field] == [message]
    assert ((TagGroup.objects.count(), Tag.objects.count()), AuditLog.objects.count()) == (before, 0)


def test_a_rule_about_the_whole_edit_is_a_non_field_error(as_role, taxonomy, settings):
    settings.WECOM_CONTACT_SECRET = ""  # the app's own secret: a tag made in the console is not ours to change

    response = as_role(OPS).patch(
        f"/api/tagging/tags/{Tag.objects.get(tag_id='etT1').pk}/", {"name": "A+"}, format="json"
    )

    assert response.status_code == 400
    assert "WeCom admin console" in response.json()["fields"]["non_field_errors"][0]
    assert Tag.objects.get(tag_id="etT1").name == "A类客户"


def test_sales_read_only(as_role, taxonomy):
    client = as_role(SALES)
    tag = Tag.objects.get(tag_id="etT1")

    assert client.post("/api/tagging/tag-groups/", {"name": "X"}, format="json").status_code == 403
    assert client.post("/api/tagging/tags/", {"group": tag.group_id, "name": "X"}, format="json").status_code == 403
    assert client.patch(f"/api/tagging/tags/{tag.pk}/", {"name": "X"}, format="json").status_code == 403
    assert client.delete(f"/api/tagging/tag-groups/{tag.group_id}/").status_code == 403
    assert (TagGroup.objects.count(), Tag.objects.count(), AuditLog.objects.count()) == (4, 5, 0)


def test_anonymous_is_refused(api_client, taxonomy):
    assert api_client.get("/api/tagging/tree/").status_code in (401, 403)


def test_unknown_ids_are_404(as_role, taxonomy):
    assert as_role(OPS).patch("/api/tagging/tags/999999/", {"name": "X"}, format="json").status_code == 404
