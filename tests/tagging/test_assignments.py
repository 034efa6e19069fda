"""tagging.services.assignments: tags on customers and groups, the indexed tag_ids arrays kept equal to the rows,
one timeline entry per changed customer, and the WeCom mark_tag outbox."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import translation

from customers.models import Customer, ExternalContact, TimelineEntry
from customers.services import customer_create, follow_relation_upsert
from groups.models import CustomerGroup
from tagging.models import CustomerTag, GroupTag, Source, Tag, TagGroup, TagKind, TagRule, TagTarget, WeComTagPush
from tagging.services import customer_tags_change, group_tags_change

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def tags():
    corp = TagGroup.objects.create(group_id="etG1", name="兴趣")
    system = TagGroup.objects.create(name="区域", kind=TagKind.SYSTEM)
    personal = TagGroup.objects.create(name="个人标签", kind=TagKind.PERSONAL)
    group_tags = TagGroup.objects.create(name="群分类", kind=TagKind.SYSTEM, target=TagTarget.GROUP)
    return {
        "奶粉": Tag.objects.create(tag_id="etMilk", name="奶粉", group=corp),
        "辅食": Tag.objects.create(tag_id="etFood", name="辅食", group=corp),
        "上海": Tag.objects.create(name="上海", group=system, kind=TagKind.SYSTEM),
        "老客": Tag.objects.create(name="老客", group=personal, kind=TagKind.PERSONAL),
        "宝妈群": Tag.objects.create(name="宝妈群", group=group_tags, kind=TagKind.SYSTEM),
        "旧": Tag.objects.create(tag_id="etOld", name="旧", group=corp, deleted=True),
    }


def customers(n):
    return [customer_create(name=f"客户{i}", phone="", actor=None) for i in range(n)]


def arrays(*objs):
    return [sorted(type(obj).objects.get(pk=obj.pk).tag_ids) for obj in objs]


def test_adding_writes_rows_arrays_and_one_timeline_entry_per_changed_customer(tags):
    a, b = customers(2)
    user = get_user_model().objects.create_user("ops")
    changes = customer_tags_change(
        customer_ids=[a.pk, b.pk], add=[tags["奶粉"].pk, tags["上海"].pk], source=Source.MANUAL, actor=user
    )
    assert changes.changed_ids == [a.pk, b.pk]
    assert CustomerTag.objects.filter(source=Source.MANUAL, actor=user).count() == 4
    assert arrays(a, b) == [sorted([tags["奶粉"].pk, tags["上海"].pk])] * 2
    entries = TimelineEntry.objects.filter(kind=TimelineEntry.Kind.TAG_CHANGE).order_by("customer_id")
    assert [e.customer_id for e in entries] == [a.pk, b.pk]
    assert entries[0].data == {"added": ["兴趣/奶粉", "区域/上海"], "removed": [], "source": "manual"}


def test_adding_again_changes_nothing_and_removing_keeps_the_other_tags(tags):
    (a,) = customers(1)
    customer_tags_change(customer_ids=[a.pk], add=[tags["奶粉"].pk, tags["辅食"].pk], source=Source.MANUAL)
    again = customer_tags_change(customer_ids=[a.pk], add=[tags["奶粉"].pk], source=Source.RULE)
    assert again.changed_ids == []
    assert TimelineEntry.objects.filter(kind=TimelineEntry.Kind.TAG_CHANGE).count() == 1
    assert CustomerTag.objects.get(customer=a, tag=tags["奶粉"]).source == Source.MANUAL  # the first writer's row

    removed = customer_tags_change(customer_ids=[a.pk], remove=[tags["奶粉"].pk], source=Source.MANUAL)
    assert [row["tag_id"] for row in removed.removed[a.pk]] == [tags["奶粉"].pk]
    assert arrays(a) == [[tags["辅食"].pk]]
    assert TimelineEntry.objects.filter(kind=TimelineEntry.Kind.TAG_CHANGE).count() == 2


def test_a_rule_removes_only_what_it_put_on(tags):
    a, b = customers(2)
    rule = TagRule.objects.create(name="r", tag=tags["奶粉"], kind="spend_at_least", value="500")
    customer_tags_change(customer_ids=[a.pk], add=[tags["奶粉"].pk], source=Source.MANUAL)
    customer_tags_change(customer_ids=[b.pk], add=[tags["奶粉"].pk], source=Source.RULE, rule=rule)
    changes = customer_tags_change(
        customer_ids=[a.pk, b.pk], remove=[tags["奶粉"].pk], source=Source.RULE, rule=rule, only_rule=True
    )
    assert changes.changed_ids == [b.pk]
    assert arrays(a, b) == [[tags["奶粉"].pk], []]


@pytest.mark.parametrize(
    ("name", "source", "message"),
    [
        ("旧", Source.MANUAL, "has been deleted"),
        ("老客", Source.MANUAL, "personal WeCom tag"),
        ("宝妈群", Source.MANUAL, "does not apply to customers"),
    ],
)
def test_refused_tags_change_nothing(tags, name, source, message):
    (a,) = customers(1)
    with pytest.raises(ValidationError, match=message):
        customer_tags_change(customer_ids=[a.pk], add=[tags["奶粉"].pk, tags[name].pk], source=source)
    assert CustomerTag.objects.count() == 0
    assert arrays(a) == [[]]
    assert TimelineEntry.objects.filter(kind=TimelineEntry.Kind.TAG_CHANGE).count() == 0


def test_unknown_tag_or_source_is_refused(tags):
    (a,) = customers(1)
    with pytest.raises(ValidationError, match="No such tag: 999999"):
        customer_tags_change(customer_ids=[a.pk], add=[999999], source=Source.MANUAL)
    with pytest.raises(ValidationError, match="source"):
        customer_tags_change(customer_ids=[a.pk], add=[tags["奶粉"].pk], source="magic")
    assert CustomerTag.objects.count() == 0


def test_personal_tags_come_only_from_wecom(tags):
    (a,) = customers(1)
    customer_tags_change(customer_ids=[a.pk], add=[tags["老客"].pk], source=Source.WECOM, push_to_wecom=False)
    assert arrays(a) == [[tags["老客"].pk]]


def test_group_tags(tags):
    group = CustomerGroup.objects.create(chat_id="wrG1", name="宝妈一群")
    group_tags_change(group_ids=[group.pk], add=[tags["宝妈群"].pk], source=Source.MANUAL)
    assert arrays(group) == [[tags["宝妈群"].pk]]
    assert GroupTag.objects.count() == 1
    with pytest.raises(ValidationError, match="does not apply to customer groups"):
        group_tags_change(group_ids=[group.pk], add=[tags["奶粉"].pk], source=Source.MANUAL)
    assert GroupTag.objects.count() == 1


def test_array_lookups_agree_with_the_rows(tags):
    a, b, c = customers(3)
    milk, food, sh = tags["奶粉"].pk, tags["辅食"].pk, tags["上海"].pk
    customer_tags_change(customer_ids=[a.pk, b.pk], add=[milk], source=Source.MANUAL)
    customer_tags_change(customer_ids=[b.pk, c.pk], add=[food], source=Source.MANUAL)
    customer_tags_change(customer_ids=[c.pk], add=[sh], source=Source.MANUAL)
    ids = lambda qs: sorted(qs.values_list("pk", flat=True))  # noqa: E731
    assert ids(Customer.objects.filter(tag_ids__has_all=[milk, food])) == [b.pk]
    assert ids(Customer.objects.filter(tag_ids__has_any=[milk, sh])) == [a.pk, b.pk, c.pk]
    assert ids(Customer.objects.exclude(tag_ids__has_any=[food])) == [a.pk]
    assert ids(Customer.objects.filter(tag_ids__has_all=[])) == [a.pk, b.pk, c.pk]
    assert ids(Customer.objects.filter(tag_ids__has_any=[])) == []


def test_corp_tags_queue_one_mark_tag_per_active_relation_and_merge_pending_ones(tags):
    follow_relation_upsert(userid="zhangsan", external_userid="wmA", wecom_tag_ids=["etFood"])
    follow_relation_upsert(userid="lisi", external_userid="wmA")
    customer = ExternalContact.objects.get(external_userid="wmA").customer
    assert CustomerTag.objects.get(customer=customer).source == Source.WECOM  # 辅食, as zhangsan's relation shows
    customer_tags_change(
        customer_ids=[customer.pk], add=[tags["奶粉"].pk, tags["辅食"].pk, tags["上海"].pk], source=Source.MANUAL
    )
    pushes = {p.relation.employee.userid: p for p in WeComTagPush.objects.select_related("relation__employee")}
    # 辅食 was already the customer's; 上海 is a system tag and never leaves this database
    assert {u: (p.add_tag_ids, p.remove_tag_ids) for u, p in pushes.items()} == {
        "zhangsan": (["etMilk"], []),
        "lisi": (["etMilk"], []),
    }
    customer_tags_change(customer_ids=[customer.pk], remove=[tags["奶粉"].pk, tags["辅食"].pk], source=Source.MANUAL)
    pushes = {p.relation.employee.userid: p for p in WeComTagPush.objects.select_related("relation__employee")}
    # the queued adds of 奶粉 are cancelled outright; 辅食 comes off where WeCom shows it
    assert {u: (p.add_tag_ids, p.remove_tag_ids) for u, p in pushes.items()} == {"zhangsan": ([], ["etFood"])}


def test_changes_from_wecom_are_not_pushed_back(tags):
    follow_relation_upsert(userid="zhangsan", external_userid="wmA")
    customer = ExternalContact.objects.get(external_userid="wmA").customer
    customer_tags_change(customer_ids=[customer.pk], add=[tags["奶粉"].pk], source=Source.WECOM, push_to_wecom=False)
    assert WeComTagPush.objects.count() == 0
    assert TimelineEntry.objects.get(kind=TimelineEntry.Kind.TAG_CHANGE).channel == TimelineEntry.Channel.WECOM


def test_a_stale_full_save_does_not_write_back_the_tag_array(tags):
    (a,) = customers(1)
    stale = Customer.objects.get(pk=a.pk)  # as an admin form loaded it
    customer_tags_change(customer_ids=[a.pk], add=[tags["奶粉"].pk], source=Source.MANUAL)
    stale.name = "新名字"
    stale.save()
    assert Customer.objects.values_list("name", "tag_ids").get(pk=a.pk) == ("新名字", [tags["奶粉"].pk])
