"""tagging.services.wecom_tags: a customer's corp and personal tags follow what WeCom shows on its active follow
relations (callbacks, refreshes, full-sync pages), set-based, except our own edits WeCom does not show yet."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from customers.models import Customer, ExternalContact, FollowRelation, TimelineEntry
from customers.services.wecom import (
    external_contact_upsert_from_wecom,
    external_contacts_upsert_from_wecom,
    follow_relation_mark,
    follow_relation_upsert,
)
from tagging.models import CustomerTag, Source, Tag, TagGroup, TagKind, WeComTagPush
from tagging.services import customer_tags_change, rebuild_tag_arrays
from tagging.services.wecom_tags import customer_tags_reconcile_from_wecom
from tests.helpers import is_postgres

pytestmark = pytest.mark.django_db

DELETED = FollowRelation.Status.DELETED_BY_CUSTOMER


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def tags():
    interest = TagGroup.objects.create(group_id="etG1", name="兴趣")
    region = TagGroup.objects.create(name="区域", kind=TagKind.SYSTEM)
    return {
        "奶粉": Tag.objects.create(tag_id="etMilk", name="奶粉", group=interest),
        "辅食": Tag.objects.create(tag_id="etFood", name="辅食", group=interest),
        "上海": Tag.objects.create(name="上海", group=region, kind=TagKind.SYSTEM),
    }


def customer_of(external_userid: str) -> Customer:
    return ExternalContact.objects.select_related("customer").get(external_userid=external_userid).customer


def held(customer: Customer) -> dict[str, str]:
    """tag label → source, from the rows; and the indexed array must say the same."""
    rows = CustomerTag.objects.filter(customer=customer).select_related("tag__group")
    assert sorted(Customer.objects.get(pk=customer.pk).tag_ids) == sorted(row.tag_id for row in rows)
    return {row.tag.label or row.tag.tag_id: row.source for row in rows}


def get_detail(external_userid: str, tags: list[dict]) -> dict:
    """externalcontact/get for one follower, zhangsan, showing ``tags``."""
    return {
        "external_contact": {"external_userid": external_userid, "name": "王芳", "type": 1},
        "follow_user": [{"userid": "zhangsan", "createtime": 1709283600, "tags": tags}],
    }


def test_what_wecom_shows_is_added_with_source_wecom_and_not_pushed_back(tags):
    follow_relation_upsert(userid="zhangsan", external_userid="wmA", wecom_tag_ids=["etMilk"])
    customer = customer_of("wmA")

    assert held(customer) == {"兴趣/奶粉": Source.WECOM}
    entry = TimelineEntry.objects.get(customer=customer, kind=TimelineEntry.Kind.TAG_CHANGE)
    assert (entry.channel, entry.data) == (
        TimelineEntry.Channel.WECOM,
        {"added": ["兴趣/奶粉"], "removed": [], "source": "wecom"},
    )
    assert WeComTagPush.objects.count() == 0


def test_an_unknown_corp_tag_becomes_a_placeholder_that_the_tag_sync_names_later(tags):
    follow_relation_upsert(userid="zhangsan", external_userid="wmA", wecom_tag_ids=["etNew", "etMilk"])

    placeholder = Tag.objects.get(tag_id="etNew")
    assert (placeholder.name, placeholder.group, placeholder.kind, placeholder.deleted) == ("", None, "corp", False)
    assert held(customer_of("wmA")) == {"etNew": Source.WECOM, "兴趣/奶粉": Source.WECOM}


def test_a_tag_stays_while_any_active_relation_shows_it(tags):
    follow_relation_upsert(userid="zhangsan", external_userid="wmA", wecom_tag_ids=["etMilk", "etFood"])
    follow_relation_upsert(userid="lisi", external_userid="wmA", wecom_tag_ids=["etMilk"])
    customer = customer_of("wmA")

    follow_relation_upsert(userid="zhangsan", external_userid="wmA", wecom_tag_ids=[])
    assert held(customer) == {"兴趣/奶粉": Source.WECOM}

    follow_relation_mark(userid="lisi", external_userid="wmA", status=DELETED, at=timezone.now())
    assert held(customer) == {}  # an ended relation shows nothing
    removed = TimelineEntry.objects.filter(customer=customer, kind=TimelineEntry.Kind.TAG_CHANGE).order_by("pk")
    assert [entry.data["removed"] for entry in removed] == [[], ["兴趣/辅食"], ["兴趣/奶粉"]]


def test_wecom_removes_a_tag_staff_put_on_once_its_push_was_sent(tags):
    follow_relation_upsert(userid="zhangsan", external_userid="wmA")
    customer = customer_of("wmA")
    customer_tags_change(customer_ids=[customer.pk], add=[tags["奶粉"].pk], source=Source.MANUAL)

    follow_relation_upsert(userid="zhangsan", external_userid="wmA", remark="新备注")  # pending push: ours is newer
    assert held(customer) == {"兴趣/奶粉": Source.MANUAL}

    WeComTagPush.objects.update(status=WeComTagPush.Status.SENT)
    follow_relation_upsert(userid="zhangsan", external_userid="wmA", remark="再改")  # WeCom still lacks it: later
    assert held(customer) == {}


def test_a_tag_put_on_before_a_relation_existed_is_sent_to_it_not_lost_to_its_first_report(tags):
    follow_relation_upsert(userid="zhangsan", external_userid="wmA")
    follow_relation_mark(userid="zhangsan", external_userid="wmA", status=DELETED, at=timezone.now())
    customer = customer_of("wmA")
    customer_tags_change(customer_ids=[customer.pk], add=[tags["奶粉"].pk], source=Source.MANUAL)
    assert WeComTagPush.objects.count() == 0  # no active relation to show it on

    follow_relation_upsert(userid="lisi", external_userid="wmA")  # WeCom's first report of lisi: no tags yet

    assert held(customer) == {"兴趣/奶粉": Source.MANUAL}
    push = WeComTagPush.objects.get()
    assert (push.relation.employee.userid, push.add_tag_ids, push.remove_tag_ids) == ("lisi", ["etMilk"], [])

    follow_relation_upsert(userid="lisi", external_userid="wmA", remark="改")  # still pending: kept, not queued twice
    assert held(customer) == {"兴趣/奶粉": Source.MANUAL}
    assert WeComTagPush.objects.count() == 1

    WeComTagPush.objects.update(status=WeComTagPush.Status.SENT)
    follow_relation_upsert(userid="lisi", external_userid="wmA", remark="再改")  # sent, then taken off in WeCom
    assert held(customer) == {}
    assert WeComTagPush.objects.count() == 1


def test_a_pending_removal_is_not_undone_by_wecom_still_showing_the_tag(tags):
    follow_relation_upsert(userid="zhangsan", external_userid="wmA", wecom_tag_ids=["etMilk"])
    customer = customer_of("wmA")
    customer_tags_change(customer_ids=[customer.pk], remove=[tags["奶粉"].pk], source=Source.MANUAL)
    assert WeComTagPush.objects.get().remove_tag_ids == ["etMilk"]

    follow_relation_upsert(userid="zhangsan", external_userid="wmA", wecom_tag_ids=["etMilk", "etFood"])

    assert held(customer) == {"兴趣/辅食": Source.WECOM}


def test_a_failed_push_holds_until_wecom_reports_the_relation_again(tags):
    follow_relation_upsert(userid="zhangsan", external_userid="wmA")
    follow_relation_upsert(userid="lisi", external_userid="wmA")
    customer = customer_of("wmA")
    customer_tags_change(customer_ids=[customer.pk], add=[tags["奶粉"].pk], source=Source.MANUAL)
    WeComTagPush.objects.update(status=WeComTagPush.Status.FAILED, due_at=timezone.now())

    customer_tags_reconcile_from_wecom(contact_ids=[customer.contacts.get().pk])
    assert held(customer) == {"兴趣/奶粉": Source.MANUAL}

    follow_relation_upsert(userid="zhangsan", external_userid="wmA", remark="改")  # lisi's failed push still holds
    assert held(customer) == {"兴趣/奶粉": Source.MANUAL}
    WeComTagPush.objects.update(due_at=timezone.now() - timedelta(days=1))  # failed before WeCom's last report
    customer_tags_reconcile_from_wecom(contact_ids=[customer.contacts.get().pk])
    assert held(customer) == {}


def test_system_tags_are_never_touched(tags):
    follow_relation_upsert(userid="zhangsan", external_userid="wmA", wecom_tag_ids=["etMilk"])
    customer = customer_of("wmA")
    customer_tags_change(customer_ids=[customer.pk], add=[tags["上海"].pk], source=Source.MANUAL)

    follow_relation_upsert(userid="zhangsan", external_userid="wmA", wecom_tag_ids=[])

    assert held(customer) == {"区域/上海": Source.MANUAL}


def test_personal_tags_come_from_externalcontact_get_and_go_when_wecom_drops_them(tags):
    personal = [{"group_name": "", "tag_name": "老客", "type": 2}, {"group_name": "", "tag_name": "爱砍价", "type": 2}]
    corp = [{"group_name": "兴趣", "tag_name": "奶粉", "type": 1, "tag_id": "etMilk"}]
    external_contact_upsert_from_wecom(detail=get_detail("wmA", [*corp, *personal]))
    customer = customer_of("wmA")

    group = TagGroup.objects.get(kind=TagKind.PERSONAL)
    assert sorted(Tag.objects.filter(kind=TagKind.PERSONAL, group=group).values_list("name", flat=True)) == [
        "爱砍价",
        "老客",
    ]
    assert group.name in ("个人标签", "Personal tags")  # named in the product's language (zh-hans), translated or not
    mine = f"{group.name}/老客", f"{group.name}/爱砍价"
    assert held(customer) == {"兴趣/奶粉": "wecom", mine[0]: "wecom", mine[1]: "wecom"}

    # another contact with the same personal tag reuses it; batch/get_by_user (corp ids only) leaves them alone
    external_contact_upsert_from_wecom(detail=get_detail("wmB", personal[:1]))
    assert Tag.objects.filter(kind=TagKind.PERSONAL).count() == 2
    external_contacts_upsert_from_wecom(
        details=[{"external_contact": {"external_userid": "wmA"}, "follow_info": {"userid": "zhangsan", "tag_id": []}}]
    )
    assert held(customer) == {mine[0]: "wecom", mine[1]: "wecom"}

    external_contact_upsert_from_wecom(detail=get_detail("wmA", personal[1:]))
    assert held(customer) == {mine[1]: "wecom"}


def test_a_contact_without_tags_on_a_customer_with_other_contacts_keeps_theirs(tags):
    """The union is over all of the customer's contacts, not only the contacts that changed."""
    follow_relation_upsert(userid="zhangsan", external_userid="wmA", wecom_tag_ids=["etMilk"])
    follow_relation_upsert(userid="lisi", external_userid="wmB", wecom_tag_ids=[])
    a, b = customer_of("wmA"), customer_of("wmB")
    ExternalContact.objects.filter(external_userid="wmB").update(customer=a)  # as a merge would have
    Customer.objects.filter(pk=b.pk).delete()

    follow_relation_upsert(userid="lisi", external_userid="wmB", remark="x")

    assert held(a) == {"兴趣/奶粉": Source.WECOM}


def page(count: int, tag_ids: list[str]) -> list[dict]:
    return [
        {
            "external_contact": {"external_userid": f"wmP{n:04d}", "name": f"客户{n}"},
            "follow_info": {"userid": ["zhangsan", "lisi"][n % 2], "tag_id": tag_ids[: n % (len(tag_ids) + 1)]},
        }
        for n in range(count)
    ]


def untag_all() -> None:
    CustomerTag.objects.all().delete()
    rebuild_tag_arrays(target="customer", ids=list(Customer.objects.values_list("pk", flat=True)))


@pytest.mark.parametrize("size", [10, 100])
def test_a_full_sync_page_takes_a_fixed_number_of_queries(
    tags, size, django_assert_num_queries, django_assert_max_num_queries
):
    external_contacts_upsert_from_wecom(details=page(size, ["etMilk", "etFood", "etNew"]))
    ids = list(ExternalContact.objects.values_list("pk", flat=True))
    assert CustomerTag.objects.count() == sum(n % 4 for n in range(size))

    # nothing to change: customers (locked), their contacts, the active relations, the assignments with their tags
    with django_assert_num_queries(4):
        assert customer_tags_reconcile_from_wecom(contact_ids=ids).changed_ids == []

    # every tag to add: + the shown tags the customers lack, the rows, the arrays, the timeline
    untag_all()
    # SQLite reads the rows to write the arrays, and inserts in batches of at most 999 values
    exactly = django_assert_num_queries(4 + 1 + 3) if is_postgres() else django_assert_max_num_queries(4 + 1 + 6)
    with exactly:
        changes = customer_tags_reconcile_from_wecom(contact_ids=ids)
    assert len(changes.changed_ids) == sum(1 for n in range(size) if n % 4)
    assert CustomerTag.objects.filter(source=Source.WECOM).count() == sum(n % 4 for n in range(size))


def test_a_full_sync_page_tags_its_customers_in_the_page_transaction(tags):
    counts = external_contacts_upsert_from_wecom(details=page(40, ["etMilk", "etFood"]))

    assert counts["contacts_created"] == 40
    milk, food = tags["奶粉"].pk, tags["辅食"].pk
    assert Customer.objects.filter(tag_ids__has_all=[milk, food]).count() == 13
    assert Customer.objects.filter(tag_ids__has_any=[milk]).count() == 26
    assert TimelineEntry.objects.filter(kind=TimelineEntry.Kind.TAG_CHANGE).count() == 26
