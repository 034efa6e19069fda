"""A small tagged corp for the segment tests: five customers, three groups, tags in several tag groups.

Import the fixture into the test module (``from tests.tagging.segment_fixtures import shop_fixture``).

=========  ==========================  =====  ======  ======  ==========  =============  ===========  ========
customer   tags                        owner  spend   orders  lifecycle   stage          idle days    other
=========  ==========================  =====  ======  ======  ==========  =============  ===========  ========
王芳       兴趣/奶粉, 兴趣/进口          zs     600     1       conversion  谈判           40           phone
李雷       辅食                         zs*    100     1       conversion  —              5            chat1, shop-1
韩梅梅     奶粉, 已流失                 —      0       0       awareness   —              100 (never)  —
赵敏       —                            ls     1000    2       repurchase  —              0 (never)    phone, opted out
Anonymous  玩具, 辅食, "new mum"        ls*    0       0       awareness   —              0 (never)    left chat2
=========  ==========================  =====  ======  ======  ==========  =============  ===========  ========

``*`` followed (active relation) rather than owned: zhangsan follows 李雷 (owned by nobody), lisi follows Anonymous.
Groups: chat1 宝妈交流群 (zhangsan, 2 members, tags 宝妈群 活跃群), chat2 活跃2群 (lisi, 0 members, 活跃群), chat3
dismissed, untagged. The sales user is zhangsan's login: they see 王芳 and 李雷.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.models import Customer, Employee, OpportunityStage
from customers.services import (
    customer_create,
    customer_update,
    employee_upsert,
    follow_relation_upsert,
    opportunity_stage_set,
    order_record,
)
from groups.models import CustomerGroup
from groups.services import group_dismiss, group_members_left, group_upsert_from_wecom
from scrm.core.roles import OPS, SALES
from tagging.models import Source, Tag, TagGroup, TagKind, TagTarget
from tagging.services import customer_tags_change, group_tags_change


@dataclass
class Shop:
    ops: object
    sales: object
    tags: dict[str, Tag]
    customers: dict[str, Customer]
    groups: dict[str, CustomerGroup]


def tag(tags: dict, key: str, name: str, group: TagGroup, **fields) -> None:
    tags[key] = Tag.objects.create(name=name, group=group, kind=group.kind, **fields)


@pytest.fixture(name="shop")
def shop_fixture(make_user) -> Shop:
    now = timezone.now()
    ops, sales = make_user("ops1", role=OPS, is_staff=True), make_user("sales1", role=SALES, is_staff=True)
    zhangsan = employee_upsert(userid="zhangsan", name="Zhang San")
    lisi = employee_upsert(userid="lisi", name="Li Si")
    Employee.objects.filter(pk=zhangsan.pk).update(user=sales)

    interest = TagGroup.objects.create(group_id="etInterest", name="兴趣")
    category = TagGroup.objects.create(name="品类", kind=TagKind.SYSTEM)
    state = TagGroup.objects.create(name="状态", kind=TagKind.SYSTEM)
    chats = TagGroup.objects.create(name="群分类", kind=TagKind.SYSTEM, target=TagTarget.GROUP)
    tags: dict[str, Tag] = {}
    tag(tags, "奶粉", "奶粉", interest, tag_id="etMilk")
    tag(tags, "辅食", "辅食", interest, tag_id="etFood")
    tag(tags, "玩具", "玩具", interest, tag_id="etToy")
    tag(tags, "兴趣/进口", "进口", interest, tag_id="etImport")
    tag(tags, "品类/进口", "进口", category)
    tag(tags, "旧", "旧", interest, tag_id="etOld", deleted=True)
    tag(tags, "已流失", "已流失", state)
    tag(tags, "new mum", "new mum", state)
    tag(tags, "宝妈群", "宝妈群", chats)
    tag(tags, "活跃群", "活跃群", chats)

    wang = customer_create(phone="13812345678", name="王芳", owner=zhangsan)
    follow_relation_upsert(userid="zhangsan", external_userid="wmLi", state="shop-1")
    li = Customer.objects.get(contacts__external_userid="wmLi")
    customer_update(customer=li, actor=None, name="李雷", owner=None)
    han = customer_create(name="韩梅梅")
    zhao = customer_create(phone="13700002222", name="赵敏", owner=lisi)
    customer_update(customer=zhao, actor=None, marketing_opt_out=True)
    follow_relation_upsert(userid="lisi", external_userid="wmAnon", state="shop-2")
    anon = Customer.objects.get(contacts__external_userid="wmAnon")
    customer_update(customer=anon, actor=None, name="Anonymous", owner=None)

    for customer, amounts in ((wang, ["600"]), (li, ["100"]), (zhao, ["400", "600"])):
        for index, amount in enumerate(amounts):
            order_record(
                customer=customer,
                external_id=f"{customer.pk}-{index}",
                amount=Decimal(amount),
                ordered_at=now - timedelta(days=60),
            )
    opportunity_stage_set(customer=wang, stage=OpportunityStage.objects.get(name="谈判"), actor=None)
    # last contact: 王芳 40 days ago, 李雷 5; the others never (韩梅梅 created 100 days ago, the rest now). Set
    # directly: the services only ever move it forward, to the time of the event they record.
    Customer.objects.update(last_contact_at=None)
    Customer.objects.filter(pk=wang.pk).update(last_contact_at=now - timedelta(days=40, hours=1))
    Customer.objects.filter(pk=li.pk).update(last_contact_at=now - timedelta(days=5, hours=1))
    Customer.objects.filter(pk=han.pk).update(created_at=now - timedelta(days=100, hours=1))

    assign = [
        (wang, ["奶粉", "兴趣/进口"]),
        (li, ["辅食"]),
        (han, ["奶粉", "已流失"]),
        (anon, ["玩具", "辅食", "new mum"]),
    ]
    for customer, names in assign:
        customer_tags_change(customer_ids=[customer.pk], add=[tags[n].pk for n in names], source=Source.MANUAL)

    group_upsert_from_wecom(
        detail={
            "chat_id": "chat1",
            "name": "宝妈交流群",
            "owner": "zhangsan",
            "member_list": [{"userid": "zhangsan", "type": 1}, {"userid": "wmLi", "type": 2}],
        }
    )
    group_upsert_from_wecom(
        detail={
            "chat_id": "chat2",
            "name": "活跃2群",
            "owner": "lisi",
            "member_list": [{"userid": "wmAnon", "type": 2}],
        }
    )
    group_members_left(chat_id="chat2", member_ids=["wmAnon"], quit_scene=0, at=now)
    group_upsert_from_wecom(detail={"chat_id": "chat3", "name": "旧群", "owner": "lisi", "member_list": []})
    group_dismiss(chat_id="chat3", at=now)
    groups = {group.chat_id: group for group in CustomerGroup.objects.all()}
    group_tags_change(group_ids=[groups["chat1"].pk], add=[tags["宝妈群"].pk, tags["活跃群"].pk], source=Source.MANUAL)
    group_tags_change(group_ids=[groups["chat2"].pk], add=[tags["活跃群"].pk], source=Source.MANUAL)

    customers = {c.name: c for c in Customer.objects.all()}
    return Shop(ops=ops, sales=sales, tags=tags, customers=customers, groups=groups)
