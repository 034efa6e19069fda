"""tagging admin for the taxonomy: lists with sync state and the corp-tag quota; corp and system groups and tags
created, edited and deleted through the services (their refusals shown on the form); personal tags and corp tags
this app may not change read-only with the reason; "push again" for what WeCom refused."""

import pytest
from django.utils import translation

from scrm.core.models import AuditLog
from tagging.models import SyncState, Tag, TagGroup, TagKind
from tagging.services import corp_tags_upsert_from_wecom

pytestmark = pytest.mark.django_db

INLINE = {"tags-TOTAL_FORMS": "0", "tags-INITIAL_FORMS": "0", "tags-MIN_NUM_FORMS": "0", "tags-MAX_NUM_FORMS": "1000"}


@pytest.fixture(autouse=True)
def english(ops_client, settings):
    ops_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # assert on the source messages, not the zh-hans default
    with translation.override("en"):
        yield


@pytest.fixture
def tag_group():
    corp_tags_upsert_from_wecom(
        tag_groups=[{"group_id": "etG1", "group_name": "客户等级", "tag": [{"id": "etT1", "name": "A类客户"}]}]
    )
    return TagGroup.objects.get()


@pytest.fixture
def contact_secret(settings):
    settings.WECOM_CONTACT_SECRET = "contact-secret"  # with it, every corp tag may be changed here


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/admin/tagging/taggroup/?q=客户", "etG1"),
        ("/admin/tagging/tag/?q=etG1", "etT1"),
        ("/admin/tagging/tag/?deleted__exact=0", "etT1"),
        ("/admin/tagging/tag/?sync_state__exact=synced", "etT1"),
        ("/admin/tagging/taggroup/?kind__exact=corp", "etG1"),
    ],
)
def test_changelists_search_and_filter(ops_client, tag_group, url, expected):
    response = ops_client.get(url)

    assert response.status_code == 200
    assert expected in response.content.decode()


@pytest.mark.parametrize("url", ["/admin/tagging/tag/", "/admin/tagging/taggroup/"])
def test_changelists_show_the_corp_tag_quota(ops_client, tag_group, url):
    Tag.objects.create(group=tag_group, name="待发送", sync_state=SyncState.PENDING)

    assert "WeCom corp tags: 2 / 3,000" in ops_client.get(url).content.decode()


def test_a_wecom_group_is_read_only_without_the_contact_secret_and_says_why(ops_client, tag_group, settings):
    settings.WECOM_CONTACT_SECRET = ""

    page = ops_client.get(f"/admin/tagging/taggroup/{tag_group.pk}/change/").content.decode()

    assert "A类客户" in page  # its tags, inline
    assert 'name="_save"' not in page
    assert "created elsewhere" in page


def test_adding_a_group_and_a_tag_goes_through_the_services(
    ops_client, contact_secret, django_capture_on_commit_callbacks
):
    response = ops_client.post(
        "/admin/tagging/taggroup/add/",
        {"name": " 会员等级 ", "kind": "corp", "target": "customer", "order": "5", **INLINE},
    )
    assert response.status_code == 302, response.content.decode()
    group = TagGroup.objects.get()
    assert (group.name, group.order, group.sync_state, group.local_changed_at is not None) == (
        "会员等级",
        5,
        SyncState.PENDING,
        True,
    )

    with django_capture_on_commit_callbacks() as callbacks:
        response = ops_client.post("/admin/tagging/tag/add/", {"group": group.pk, "name": "金卡", "order": "1"})
    assert response.status_code == 302
    tag = Tag.objects.get()
    assert (tag.group, tag.kind, tag.sync_state) == (group, TagKind.CORP, SyncState.PENDING)
    assert len(callbacks) == 1  # the push, after commit
    assert list(AuditLog.objects.order_by("pk").values_list("action", "target_type", "actor__username")) == [
        ("create", "tagging.taggroup", "ops1"),
        ("create", "tagging.tag", "ops1"),
    ]


@pytest.mark.parametrize(
    ("name", "error"),
    [("一" * 31, "At most 30 characters (WeCom&#x27;s limit)"), ("A类客户", "already has a tag named")],
)
def test_the_form_shows_what_the_service_refuses(ops_client, tag_group, contact_secret, name, error):
    response = ops_client.post("/admin/tagging/tag/add/", {"group": tag_group.pk, "name": name, "order": "0"})

    assert response.status_code == 200
    assert error in response.content.decode()
    assert (Tag.objects.count(), AuditLog.objects.count()) == (1, 0)  # the rehearsal left nothing behind


def test_editing_and_deleting_a_tag(ops_client, tag_group, contact_secret):
    tag = Tag.objects.get()

    response = ops_client.post(f"/admin/tagging/tag/{tag.pk}/change/", {"name": "A类客户(高)", "order": "3"})
    assert response.status_code == 302
    tag.refresh_from_db()
    assert (tag.name, tag.order, tag.sync_state) == ("A类客户(高)", 3, SyncState.PENDING)

    response = ops_client.post(f"/admin/tagging/tag/{tag.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    tag.refresh_from_db()
    assert (tag.deleted, tag.sync_state) == (True, SyncState.PENDING)  # the row stays
    assert list(AuditLog.objects.order_by("pk").values_list("action", flat=True)) == ["update", "delete"]
    assert ops_client.get(f"/admin/tagging/tag/{tag.pk}/delete/").status_code == 403  # deleted stays as it is


def test_personal_tags_are_read_only(ops_client):
    group = TagGroup.objects.create(name="个人标签", kind=TagKind.PERSONAL)
    tag = Tag.objects.create(group=group, name="老客", kind=TagKind.PERSONAL, tag_id="stT1")

    page = ops_client.get(f"/admin/tagging/tag/{tag.pk}/change/").content.decode()

    assert 'name="_save"' not in page
    assert "Personal tags come from WeCom and are read-only here." in page
    assert ops_client.get(f"/admin/tagging/tag/{tag.pk}/delete/").status_code == 403
    assert "个人标签" not in ops_client.get("/admin/tagging/tag/add/").content.decode()  # not a group to add to


def test_push_again_action(ops_client, tag_group, contact_secret, django_capture_on_commit_callbacks):
    Tag.objects.filter(tag_id="etT1").update(sync_state=SyncState.FAILED, sync_error="refused", sync_attempts=1)
    tag = Tag.objects.get()

    with django_capture_on_commit_callbacks() as callbacks:
        response = ops_client.post(
            "/admin/tagging/tag/", {"action": "push_again", "_selected_action": [tag.pk]}, follow=True
        )

    assert "1 queued for WeCom" in response.content.decode()
    tag.refresh_from_db()
    assert (tag.sync_state, tag.sync_error, tag.sync_attempts) == (SyncState.PENDING, "", 0)
    assert len(callbacks) == 1
    assert AuditLog.objects.filter(action="push_again").count() == 1
