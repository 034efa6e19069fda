"""Fixtures and helpers for the auto-tagging rule tests: tags, customers made through the customers services,
rules made and enabled through the rules services, and Celery tasks run in-process.

Import the fixtures you use into the test module (``from tests.tagging.rule_fixtures import english_fixture``)."""

from __future__ import annotations

import pytest
from django.utils import translation

from customers.models import Customer, ExternalContact
from customers.services import customer_create, follow_relation_upsert
from tagging.models import CustomerTag, Source, Tag, TagGroup, TagKind, TagRule, TagTarget
from tagging.services.rules import rule_create


@pytest.fixture(name="english")
def english_fixture():
    with translation.override("en"):
        yield


@pytest.fixture(name="eager")
def eager_fixture():
    """Tasks enqueued after commit run in this process (Celery's own test mode), so a test sees the whole chain."""
    from scrm.celery import app

    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=False, task_eager_propagates=False)


@pytest.fixture(name="rule_tags")
def rule_tags_fixture(db) -> dict[str, Tag]:
    corp = TagGroup.objects.create(group_id="etRules", name="运营")
    system = TagGroup.objects.create(name="自动", kind=TagKind.SYSTEM)
    personal = TagGroup.objects.create(name="个人", kind=TagKind.PERSONAL)
    for_groups = TagGroup.objects.create(name="群分类", kind=TagKind.SYSTEM, target=TagTarget.GROUP)
    return {
        "高价值": Tag.objects.create(name="高价值", group=system, kind=TagKind.SYSTEM),
        "沉睡": Tag.objects.create(name="沉睡", group=system, kind=TagKind.SYSTEM),
        "意向": Tag.objects.create(tag_id="etIntent", name="意向", group=corp),
        "老客": Tag.objects.create(name="老客", group=personal, kind=TagKind.PERSONAL),
        "宝妈群": Tag.objects.create(name="宝妈群", group=for_groups, kind=TagKind.SYSTEM),
        "旧": Tag.objects.create(tag_id="etGone", name="旧", group=corp, deleted=True),
    }


def make_customers(*names: str) -> list[Customer]:
    return [customer_create(name=name) for name in names]


def contact_customer(external_userid: str, *, userid: str = "zhangsan", **relation) -> Customer:
    """The customer of a WeCom contact that ``userid`` follows (created through the WeCom services)."""
    follow_relation_upsert(userid=userid, external_userid=external_userid, **relation)
    return ExternalContact.objects.select_related("customer").get(external_userid=external_userid).customer


def make_rule(tag: Tag, kind: str, value: str, *, enabled: bool = False, name: str = "") -> TagRule:
    """A rule made through ``rule_create``; ``enabled=True`` sets the flag without the first evaluation, so a test
    decides when evaluation runs."""
    rule = rule_create(name=name or f"{kind} {value}", tag=tag, kind=kind, value=value, actor=None)
    if enabled:
        TagRule.objects.filter(pk=rule.pk).update(enabled=True)
        rule.enabled = True
    return rule


def ids(customers) -> list[int]:
    return sorted(customer.pk for customer in customers)


def tagged(tag: Tag) -> list[int]:
    """The customers carrying ``tag``, by their indexed array (which must agree with the rows)."""
    by_array = sorted(Customer.objects.filter(tag_ids__has_all=[tag.pk]).values_list("pk", flat=True))
    by_rows = sorted(CustomerTag.objects.filter(tag=tag).values_list("customer_id", flat=True))
    assert by_array == by_rows
    return by_rows


def rule_made(tag: Tag) -> list[int]:
    return sorted(
        CustomerTag.objects.filter(tag=tag, source=Source.RULE, rule__isnull=False).values_list(
            "customer_id", flat=True
        )
    )
