"""A small corp for the bulk tagging tests: six customers in the segment ``奶粉``, two outside it, and the tag the
jobs put on or take off (复购, a corp tag) already on one of them by hand.

Import the fixture into the test module (``from tests.tagging.bulk_fixtures import corp_fixture``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from customers.services import customer_create
from scrm.core.roles import OPS
from tagging.models import Source, Tag, TagGroup, TagKind
from tagging.services import customer_tags_change


@dataclass
class Corp:
    ops: object
    earlier: object  # the user who tagged by hand before the jobs
    tags: dict[str, Tag]
    members: list[Customer]  # in the segment 奶粉, by id
    others: list[Customer]


@pytest.fixture(name="corp")
def corp_fixture(make_user) -> Corp:
    interest = TagGroup.objects.create(group_id="etG1", name="兴趣")
    region = TagGroup.objects.create(name="区域", kind=TagKind.SYSTEM)
    personal = TagGroup.objects.create(name="个人标签", kind=TagKind.PERSONAL)
    tags = {
        "奶粉": Tag.objects.create(tag_id="etMilk", name="奶粉", group=interest),
        "复购": Tag.objects.create(tag_id="etRebuy", name="复购", group=interest),
        "上海": Tag.objects.create(name="上海", group=region, kind=TagKind.SYSTEM),
        "老客": Tag.objects.create(name="老客", group=personal, kind=TagKind.PERSONAL),
        "旧": Tag.objects.create(tag_id="etOld", name="旧", group=interest, deleted=True),
    }
    members = [customer_create(name=f"会员{i}", phone="", actor=None) for i in range(6)]
    others = [customer_create(name=f"路人{i}", phone="", actor=None) for i in range(2)]
    customer_tags_change(customer_ids=[c.pk for c in members], add=[tags["奶粉"].pk], source=Source.WECOM)
    earlier = make_user("earlier")
    customer_tags_change(
        customer_ids=[members[1].pk],
        add=[tags["复购"].pk],
        source=Source.MANUAL,
        actor=earlier,
        at=timezone.now() - timedelta(days=30),
    )
    return Corp(
        ops=make_user("ops-bulk", role=OPS, is_staff=True), earlier=earlier, tags=tags, members=members, others=others
    )
