"""tagging.services.taxonomy: staff edits of tag groups and tags. WeCom's rules are checked before anything is
stored (each refusal naming its field and writing nothing), corp edits are marked pending and pushed after commit,
system ones stay local, personal ones are read-only, deleting keeps the rows, and every edit is audited."""

from datetime import timedelta

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone, translation

from scrm.core.models import AuditLog
from tagging.models import MAX_CORP_TAGS, SyncState, Tag, TagGroup, TagKind, TagTarget
from tagging.selectors import corp_tags_used
from tagging.services.taxonomy import (
    tag_create,
    tag_delete,
    tag_group_create,
    tag_group_delete,
    tag_group_update,
    tag_update,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def contact_secret(settings):
    settings.WECOM_CONTACT_SECRET = "contact-secret"  # every corp tag may be changed (see the not-own tests)


@pytest.fixture
def ops(make_user):
    from scrm.core.roles import OPS

    return make_user("ops1", role=OPS, is_staff=True)


@pytest.fixture
def wecom_group():
    """A corp group and tag as the sync brought them from WeCom (not created here)."""
    group = TagGroup.objects.create(group_id="etG1", name="客户等级", order=3)
    Tag.objects.create(group=group, tag_id="etT1", name="A类客户")
    return group


def snapshot():
    return [
        *TagGroup.objects.order_by("pk").values(),
        *Tag.objects.order_by("pk").values(),
        AuditLog.objects.count(),
    ]


def refused(call, **kwargs) -> dict:
    """The service's refusal as {field: [messages]}, after checking it wrote nothing."""
    before = snapshot()
    with pytest.raises(ValidationError) as error:
        call(**kwargs)
    assert snapshot() == before
    return getattr(error.value, "message_dict", None) or {NON_FIELD_ERRORS: error.value.messages}


# --- creating ---------------------------------------------------------------------------------------------------


def test_a_corp_group_waits_for_its_first_tag(ops, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        group = tag_group_create(name=" 会员等级 ", order=5, actor=ops)

    assert (group.name, group.kind, group.target, group.order) == ("会员等级", TagKind.CORP, TagTarget.CUSTOMER, 5)
    assert (group.sync_state, group.group_id, group.created_here) == (SyncState.PENDING, "", False)
    assert group.local_changed_at is not None
    assert callbacks == []  # WeCom has no empty groups
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.changes) == (
        "create",
        ops,
        {"name": "会员等级", "kind": "corp", "target": "customer", "order": 5},
    )


def test_a_corp_tag_is_pending_and_pushed_after_commit(ops, wecom_group, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        tag = tag_create(group=wecom_group, name="D类客户", order=1, actor=ops)

    assert (tag.kind, tag.sync_state, tag.tag_id) == (TagKind.CORP, SyncState.PENDING, "")
    assert len(callbacks) == 1
    assert AuditLog.objects.get().changes == {"group": "客户等级", "name": "D类客户", "order": 1}


def test_system_tags_and_group_tags_stay_local(ops, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        region = tag_group_create(name="区域", kind=TagKind.SYSTEM, actor=ops)
        shanghai = tag_create(group=region, name="上海", actor=ops)
        chats = tag_group_create(name="群分类", kind=TagKind.SYSTEM, target=TagTarget.GROUP, actor=ops)
        moms = tag_create(group=chats, name="宝妈群", actor=ops)

    assert callbacks == []
    assert {node.sync_state for node in (region, shanghai, chats, moms)} == {SyncState.LOCAL}
    assert (shanghai.kind, moms.kind, moms.local_changed_at) == (TagKind.SYSTEM, TagKind.SYSTEM, None)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "A name is required."),
        ("   ", "A name is required."),
        ("一" * 31, "At most 30 characters (WeCom's limit); this name has 31."),
    ],
)
def test_names_are_required_and_at_most_30_characters(ops, wecom_group, name, message):
    assert refused(tag_create, group=wecom_group, name=name, actor=ops) == {"name": [message]}
    assert refused(tag_group_create, name=name, actor=ops) == {"name": [message]}


def test_30_characters_are_fine(ops, wecom_group):
    assert len(tag_create(group=wecom_group, name="一" * 30, actor=ops).name) == 30


def test_names_are_unique_in_their_group_and_group_names_among_live_groups(ops, wecom_group):
    assert refused(tag_create, group=wecom_group, name="A类客户", actor=ops) == {
        "name": ["This group already has a tag named “A类客户”."]
    }
    assert refused(tag_group_create, name="客户等级", actor=ops) == {
        "name": ["A tag group named “客户等级” already exists."]
    }
    other = tag_group_create(name="意向产品", actor=ops)
    tag_create(group=other, name="A类客户", actor=ops)  # the same name in another group is another tag
    tag_group_create(name="客户等级", kind=TagKind.SYSTEM, actor=ops)  # a system group is not a WeCom group

    tag_delete(tag=Tag.objects.get(tag_id="etT1"), actor=ops)
    assert tag_create(group=wecom_group, name="A类客户", actor=ops).tag_id == ""  # a deleted name is free again


@pytest.mark.parametrize("order", [-1, 2**32, True])
def test_order_is_wecoms_uint32(ops, wecom_group, order):
    assert list(refused(tag_create, group=wecom_group, name="X", order=order, actor=ops)) == ["order"]


def test_corp_tags_apply_to_customers_only(ops):
    assert list(refused(tag_group_create, name="群分类", target=TagTarget.GROUP, actor=ops)) == ["target"]


def test_personal_tags_are_read_only(ops):
    group = TagGroup.objects.create(name="个人标签", kind=TagKind.PERSONAL)
    tag = Tag.objects.create(group=group, name="老客", kind=TagKind.PERSONAL, tag_id="stT1")
    read_only = "Personal tags come from WeCom and are read-only here."

    assert refused(tag_group_create, name="我的", kind=TagKind.PERSONAL, actor=ops) == {"kind": [read_only]}
    assert refused(tag_create, group=group, name="新", actor=ops) == {"group": [read_only]}
    assert refused(tag_update, tag=tag, name="新", actor=ops) == {NON_FIELD_ERRORS: [read_only]}
    assert refused(tag_delete, tag=tag, actor=ops) == {NON_FIELD_ERRORS: [read_only]}
    assert refused(tag_group_update, group=group, order=2, actor=ops) == {NON_FIELD_ERRORS: [read_only]}
    assert refused(tag_group_delete, group=group, actor=ops) == {NON_FIELD_ERRORS: [read_only]}


def test_the_3000_corp_tag_limit_counts_pending_ones(ops, wecom_group):
    Tag.objects.bulk_create(
        [Tag(group=wecom_group, name=f"待发送{n}", sync_state=SyncState.PENDING) for n in range(MAX_CORP_TAGS - 2)]
    )
    # deleted in WeCom already: not counted; deleted here, not yet in WeCom: still counted
    Tag.objects.create(group=wecom_group, name="已删", tag_id="etGone", deleted=True)
    Tag.objects.create(group=wecom_group, name="删除中", tag_id="etGoing", deleted=True, sync_state=SyncState.PENDING)
    assert corp_tags_used() == MAX_CORP_TAGS

    message = refused(tag_create, group=wecom_group, name="第3001个", actor=ops)[NON_FIELD_ERRORS][0]
    assert message.startswith("WeCom allows at most 3,000 corp tags per company, and 3,000 are in use")

    region = tag_group_create(name="区域", kind=TagKind.SYSTEM, actor=ops)
    tag_create(group=region, name="上海", actor=ops)  # system tags do not count


def test_deleted_groups_take_no_new_tags(ops, wecom_group):
    tag_group_delete(group=wecom_group, actor=ops)

    assert refused(tag_create, group=wecom_group, name="X", actor=ops) == {"group": ["This tag group is deleted."]}


# --- an app edits only its own tags ------------------------------------------------------------------------------


def test_without_the_contact_secret_only_tags_created_here_may_change(ops, wecom_group, settings):
    settings.WECOM_CONTACT_SECRET = ""
    theirs = Tag.objects.get(tag_id="etT1")
    mine = Tag.objects.create(group=wecom_group, tag_id="etMine", name="我的", created_here=True)
    unsent = tag_create(group=wecom_group, name="未发送", actor=ops)  # not in WeCom yet: nobody else's

    for call, kwargs in (
        (tag_update, {"tag": theirs, "name": "改"}),
        (tag_delete, {"tag": theirs}),
        (tag_group_update, {"group": wecom_group, "name": "改"}),
        (tag_group_delete, {"group": wecom_group}),
    ):
        (message,) = refused(call, **kwargs, actor=ops)[NON_FIELD_ERRORS]
        assert "was created elsewhere" in message and "WeCom admin console" in message

    assert tag_update(tag=mine, name="我的+", actor=ops).name == "我的+"
    assert tag_delete(tag=unsent, actor=ops).deleted is True


# --- updating and deleting -------------------------------------------------------------------------------------


def test_update_marks_pending_audits_and_pushes(ops, wecom_group, django_capture_on_commit_callbacks):
    tag = Tag.objects.get(tag_id="etT1")

    with django_capture_on_commit_callbacks() as callbacks:
        tag_update(tag=tag, name="A类客户(高)", order=9, actor=ops)

    tag.refresh_from_db()
    assert (tag.name, tag.order, tag.sync_state, tag.sync_attempts) == ("A类客户(高)", 9, SyncState.PENDING, 0)
    assert tag.local_changed_at is not None
    assert len(callbacks) == 1
    assert AuditLog.objects.get().changes == {"name": ["A类客户", "A类客户(高)"], "order": [0, 9]}


def test_an_update_that_changes_nothing_writes_nothing(ops, wecom_group, django_capture_on_commit_callbacks):
    before = snapshot()
    with django_capture_on_commit_callbacks() as callbacks:
        tag_update(tag=Tag.objects.get(), name=" A类客户 ", order=0, actor=ops)
        tag_group_update(group=wecom_group, actor=ops)

    assert (snapshot(), callbacks) == (before, [])


def test_an_edit_while_a_push_is_in_flight_is_left_to_that_push(ops, wecom_group, django_capture_on_commit_callbacks):
    tag = Tag.objects.get()
    Tag.objects.filter(pk=tag.pk).update(sync_state=SyncState.PENDING, sync_attempts=1, updated_at=timezone.now())

    with django_capture_on_commit_callbacks() as callbacks:
        tag_update(tag=tag, name="A+", actor=ops)

    tag.refresh_from_db()
    assert (tag.sync_state, tag.sync_attempts, callbacks) == (SyncState.PENDING, 1, [])

    Tag.objects.filter(pk=tag.pk).update(updated_at=timezone.now() - timedelta(hours=1))  # that push is long gone
    with django_capture_on_commit_callbacks() as callbacks:
        tag_update(tag=tag, name="A++", actor=ops)
    tag.refresh_from_db()
    assert (tag.sync_attempts, len(callbacks)) == (0, 1)


def test_an_edit_clears_an_earlier_refusal(ops, wecom_group):
    Tag.objects.update(sync_state=SyncState.FAILED, sync_error="WeCom refused", sync_attempts=1)

    tag = tag_update(tag=Tag.objects.get(), name="A+", actor=ops)

    assert (tag.sync_state, tag.sync_error, tag.sync_attempts) == (SyncState.PENDING, "", 0)


def test_delete_keeps_the_row_and_twice_is_a_no_op(ops, wecom_group, django_capture_on_commit_callbacks):
    tag = Tag.objects.get()
    with django_capture_on_commit_callbacks() as callbacks:
        tag_delete(tag=tag, actor=ops)
        tag_delete(tag=tag, actor=ops)

    tag.refresh_from_db()
    assert (tag.deleted, tag.sync_state, tag.name) == (True, SyncState.PENDING, "A类客户")
    assert len(callbacks) == 1
    assert list(AuditLog.objects.values_list("action", "changes")) == [("delete", {"deleted": [False, True]})]
    assert refused(tag_update, tag=tag, name="X", actor=ops) == {NON_FIELD_ERRORS: ["“A类客户” is deleted."]}


def test_a_deleted_group_deletes_its_tags(ops, wecom_group, django_capture_on_commit_callbacks):
    tag_create(group=wecom_group, name="B类客户", actor=ops)
    region = tag_group_create(name="区域", kind=TagKind.SYSTEM, actor=ops)
    tag_create(group=region, name="上海", actor=ops)

    with django_capture_on_commit_callbacks() as callbacks:
        tag_group_delete(group=wecom_group, actor=ops)
        tag_group_delete(group=region, actor=ops)

    assert len(callbacks) == 1  # the corp group's push; its tags go with it
    assert set(Tag.objects.filter(group=wecom_group).values_list("deleted", "sync_state")) == {
        (True, SyncState.PENDING)
    }
    assert set(Tag.objects.filter(group=region).values_list("deleted", "sync_state")) == {(True, SyncState.LOCAL)}
    assert TagGroup.objects.filter(deleted=True).count() == 2
    entry = AuditLog.objects.filter(action="delete", target_id=str(wecom_group.pk)).get()
    assert entry.changes == {"deleted": [False, True], "tags": ["A类客户", "B类客户"]}


def test_a_tag_known_only_by_its_id_cannot_be_edited_yet(ops):
    placeholder = Tag.objects.create(tag_id="etNew")  # from a callback, before the sync brings its details

    assert (
        "have not arrived from WeCom yet"
        in refused(tag_update, tag=placeholder, name="X", actor=ops)[NON_FIELD_ERRORS][0]
    )
