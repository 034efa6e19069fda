"""tagging admin for assignments and the mark_tag outbox: read-only lists, filtered by source and tag kind, searched
by the customer's phone or name, only visible customers for sales; "send again" re-queues failed pushes as the
customer's tags are now."""

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation

from customers.models import FollowRelation
from customers.services.wecom import follow_relation_upsert
from tagging.models import CustomerTag, Source, Tag, TagGroup, TagKind, WeComTagPush
from tagging.services import customer_tags_change
from tests.customers.api_fixtures import FOLLOWED_PHONE, corp_fixture  # noqa: F401 - the corp fixture

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/tagging/customertag/"
PUSHES = "/admin/tagging/wecomtagpush/"
Status = WeComTagPush.Status


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def tagged(corp):
    interest = TagGroup.objects.create(group_id="etG1", name="兴趣")
    region = TagGroup.objects.create(name="区域", kind=TagKind.SYSTEM)
    milk = Tag.objects.create(tag_id="etMilk", name="奶粉", group=interest)
    food = Tag.objects.create(tag_id="etFood", name="辅食", group=interest)
    shanghai = Tag.objects.create(name="上海", group=region, kind=TagKind.SYSTEM)
    customer_tags_change(customer_ids=[corp.followed.pk], add=[milk.pk], source=Source.MANUAL, actor=corp.ops)
    customer_tags_change(customer_ids=[corp.foreign.pk], add=[shanghai.pk], source=Source.RULE)
    return {"奶粉": milk, "辅食": food, "上海": shanghai}


def admin(user) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # the admin's language switch
    client.force_login(user)
    return client


def listed(response) -> list[str]:
    assert response.status_code == 200
    return sorted(str(row) for row in response.context["cl"].result_list)


def test_the_changelist_filters_and_searches(corp, tagged):
    client = admin(corp.ops)
    followed, foreign = f"{corp.followed.pk}:{tagged['奶粉'].pk}", f"{corp.foreign.pk}:{tagged['上海'].pk}"

    assert listed(client.get(CHANGELIST)) == sorted([followed, foreign])
    assert listed(client.get(CHANGELIST, {"source__exact": "rule"})) == [foreign]
    assert listed(client.get(CHANGELIST, {"tag__kind__exact": "corp"})) == [followed]
    assert listed(client.get(CHANGELIST, {"q": FOLLOWED_PHONE})) == [followed]
    assert listed(client.get(CHANGELIST, {"q": FOLLOWED_PHONE[-4:]})) == [followed]
    assert listed(client.get(CHANGELIST, {"q": "赵敏"})) == [foreign]
    page = client.get(CHANGELIST).content.decode()
    assert "139****1111" in page and FOLLOWED_PHONE not in page  # masked
    assert "WeCom corp tag" in page and "system tag" in page


def test_sales_see_only_their_customers_and_nothing_is_editable(corp, tagged):
    client = admin(corp.sales)
    row = CustomerTag.objects.get(customer=corp.followed)

    assert listed(client.get(CHANGELIST)) == [str(row)]
    assert client.get(f"{CHANGELIST}{CustomerTag.objects.get(customer=corp.foreign).pk}/change/").status_code == 302
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    response = client.post(f"{CHANGELIST}{row.pk}/change/", {"source": "rule"})
    assert response.status_code == 403
    assert CustomerTag.objects.get(pk=row.pk).source == Source.MANUAL


def test_the_outbox_list_and_send_again(corp, tagged):
    push = WeComTagPush.objects.get()  # 奶粉 for zhangsan's relation with the followed customer
    WeComTagPush.objects.filter(pk=push.pk).update(
        status=Status.FAILED, attempts=1, last_error="WeCom does not know this customer (errcode 40096)"
    )
    # staff then also took 奶粉 off and put 辅食 on; the failed push's 奶粉 is no longer wanted
    customer_tags_change(
        customer_ids=[corp.followed.pk], add=[tagged["辅食"].pk], remove=[tagged["奶粉"].pk], source=Source.MANUAL
    )
    assert WeComTagPush.objects.get(status=Status.PENDING).add_tag_ids == ["etFood"]
    client = admin(corp.ops)

    page = client.get(PUSHES, {"status__exact": "failed"}).content.decode()
    assert "WeCom does not know this customer (errcode 40096)" in page
    follow_relation_upsert(userid="lisi", external_userid="wmLisi")  # a customer of lisi's alone
    WeComTagPush.objects.create(
        relation=FollowRelation.objects.get(contact__external_userid="wmLisi"),
        add_tag_ids=["etMilk"],
        due_at=timezone.now(),
    )
    mine = WeComTagPush.objects.filter(relation__employee__userid="zhangsan")
    assert listed(admin(corp.sales).get(PUSHES)) == sorted(str(p) for p in mine)  # not lisi's customer's
    response = client.post(PUSHES, {"action": "send_again", "_selected_action": [push.pk]}, follow=True)

    assert "1 follow relation queued for WeCom." in response.content.decode()
    pending = WeComTagPush.objects.get(status=Status.PENDING, relation=push.relation_id)
    assert (pending.add_tag_ids, pending.remove_tag_ids, pending.due_at <= timezone.now()) == (["etFood"], [], True)
    assert WeComTagPush.objects.get(pk=push.pk).status == Status.FAILED  # kept as the record


def test_send_again_queues_what_the_customer_still_carries(corp, tagged):
    push = WeComTagPush.objects.get()
    WeComTagPush.objects.filter(pk=push.pk).update(status=Status.FAILED)

    response = admin(corp.ops).post(PUSHES, {"action": "send_again", "_selected_action": [push.pk]}, follow=True)

    assert "1 follow relation queued for WeCom." in response.content.decode()
    again = WeComTagPush.objects.get(status=Status.PENDING)
    assert (again.relation_id, again.add_tag_ids, again.remove_tag_ids, again.attempts) == (
        push.relation_id,
        ["etMilk"],
        [],
        0,
    )


def test_sales_may_not_send_again(corp, tagged):
    push = WeComTagPush.objects.get()
    WeComTagPush.objects.filter(pk=push.pk).update(status=Status.FAILED)

    response = admin(corp.sales).post(PUSHES, {"action": "send_again", "_selected_action": [push.pk]})

    assert response.status_code == 200  # the changelist again: the action is not offered
    assert not WeComTagPush.objects.filter(status=Status.PENDING).exists()
    assert FollowRelation.objects.filter(pk=push.relation_id).exists()
