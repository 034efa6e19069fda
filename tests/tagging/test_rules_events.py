"""Rules applied as things happen: the customers and groups services publish their hooks, tagging.hooks_rules
schedules ``tagging.rules_evaluate_customers`` after commit, and the task tags (or, for a state condition, untags)
the customers concerned. Tasks run in-process (eager) after real commits, and once in a real worker behind a real
WeCom callback; nothing is scheduled at all while no enabled rule could care."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import ExternalContact, OpportunityStage, TimelineEntry
from customers.services import (
    lifecycle_set,
    opportunity_stage_set,
    order_record,
    timeline_add,
)
from groups.services import group_members_joined, group_members_left, group_update_fields
from tagging.models import RuleKind, Source
from tagging.services import customer_tags_change
from tagging.services.rules import rule_enable, rules_enabled
from tests.helpers import wait_until
from tests.tagging.rule_fixtures import (  # noqa: F401 - fixtures
    contact_customer,
    eager_fixture,
    english_fixture,
    make_customers,
    make_rule,
    rule_made,
    rule_tags_fixture,
    tagged,
)
from tests.wecom.conftest import callback_crypto, post_callback, wecom_configured  # noqa: F401 - fixtures

NOW = timezone.now()
live = pytest.mark.django_db(transaction=True)  # real commits, so on_commit callbacks run as in production


def enabled_rule(tag, kind, value):
    rule = make_rule(tag, kind, value)
    rule_enable(rule=rule, actor=None)  # its first evaluation runs now (eager)
    return rule


def stage(name: str) -> OpportunityStage:
    # a transactional test starts from an empty table: the defaults' data migration is flushed with the rest
    return OpportunityStage.objects.get_or_create(name=name)[0]


def chat(customer, text: str, key: str) -> None:
    timeline_add(
        customer=customer,
        kind=TimelineEntry.Kind.WECOM_CHAT,
        channel=TimelineEntry.Channel.WECOM,
        occurred_at=NOW,
        source_key=key,
        content=text,
    )


@live
@pytest.mark.usefixtures("eager")
def test_an_order_pushing_spend_over_the_amount_tags_the_customer(rule_tags):
    rule = enabled_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500")
    customer, bystander = make_customers("c", "bystander")
    order_record(customer=bystander, external_id="o0", amount="900", ordered_at=NOW)
    customer_tags_change(customer_ids=[bystander.pk], remove=[rule.tag.pk], source=Source.MANUAL)

    order_record(customer=customer, external_id="o1", amount="300", ordered_at=NOW)
    assert tagged(rule.tag) == []

    order_record(customer=customer, external_id="o2", amount="250", ordered_at=NOW + timedelta(minutes=1))
    assert rule_made(rule.tag) == [customer.pk]  # the bystander, untagged by hand since, is not touched


@live
@pytest.mark.usefixtures("eager")
def test_stage_changes_tag_and_untag_but_never_a_manual_tag(rule_tags):
    lifecycle = enabled_rule(rule_tags["意向"], RuleKind.LIFECYCLE_STAGE, "转化")
    negotiating, won = stage("谈判"), stage("成交")
    opportunity = enabled_rule(rule_tags["高价值"], RuleKind.OPPORTUNITY_STAGE, "谈判")
    customer, manual = make_customers("c", "manual")
    customer_tags_change(customer_ids=[manual.pk], add=[lifecycle.tag.pk], source=Source.MANUAL)

    lifecycle_set(customer=customer, stage="conversion", actor=None)
    lifecycle_set(customer=manual, stage="conversion", actor=None)
    assert tagged(lifecycle.tag) == sorted([customer.pk, manual.pk])
    assert rule_made(lifecycle.tag) == [customer.pk]

    lifecycle_set(customer=customer, stage="awareness", actor=None)
    lifecycle_set(customer=manual, stage="awareness", actor=None)
    assert tagged(lifecycle.tag) == [manual.pk]

    opportunity_stage_set(customer=customer, stage=negotiating, actor=None)
    assert rule_made(opportunity.tag) == [customer.pk]
    opportunity_stage_set(customer=customer, stage=won, actor=None)
    assert tagged(opportunity.tag) == []


@live
@pytest.mark.usefixtures("eager")
def test_a_relation_added_through_the_channel_code_tags_the_customer(rule_tags):
    rule = enabled_rule(rule_tags["意向"], RuleKind.CHANNEL_CODE, "shop-1")

    through_code = contact_customer("wmA", state="shop-1")
    contact_customer("wmB", state="shop-2")

    assert rule_made(rule.tag) == [through_code.pk]


@live
@pytest.mark.usefixtures("eager")
def test_a_chat_message_saying_the_keyword_tags_the_customer(rule_tags):
    rule = enabled_rule(rule_tags["意向"], RuleKind.CHAT_KEYWORD, "奶粉")
    said, silent = make_customers("said", "silent")

    chat(said, "请问这款奶粉有货吗", "m1")
    chat(silent, "你好", "m2")

    assert rule_made(rule.tag) == [said.pk]


@live
@pytest.mark.usefixtures("eager")
def test_joining_and_leaving_a_group_tags_and_untags(rule_tags):
    group_update_fields(chat_id="wrMoms", name="宝妈群1")
    rule = enabled_rule(rule_tags["意向"], RuleKind.GROUP_MEMBER, "宝妈群1")
    member = contact_customer("wmA")

    group_members_joined(chat_id="wrMoms", member_ids=["wmA", "zhangsan"], join_scene=3, at=NOW)
    assert rule_made(rule.tag) == [member.pk]

    group_members_left(chat_id="wrMoms", member_ids=["wmA"], quit_scene=0, at=NOW + timedelta(minutes=1))
    assert tagged(rule.tag) == []


@live
@pytest.mark.usefixtures("eager")
def test_a_contact_stored_after_joining_the_group_is_tagged_when_stored(rule_tags):
    group_update_fields(chat_id="wrMoms", name="宝妈群1")
    rule = enabled_rule(rule_tags["意向"], RuleKind.GROUP_MEMBER, "wrMoms")
    group_members_joined(chat_id="wrMoms", member_ids=["wmLate"], join_scene=3, at=NOW)  # no contact yet

    customer = contact_customer("wmLate")

    assert rule_made(rule.tag) == [customer.pk]


# ---- nothing scheduled while no rule could care ------------------------------------------------------------------


def scheduled(callbacks) -> int:
    return sum(1 for callback in callbacks if callback.__module__ == "tagging.hooks_rules")


def everything_happens(customer, n: int) -> None:
    order_record(customer=customer, external_id=f"o{n}", amount="900", ordered_at=NOW)
    lifecycle_set(customer=customer, stage="advocacy", actor=None)
    opportunity_stage_set(customer=customer, stage=stage("谈判"), actor=None)
    chat(customer, "奶粉", f"m{n}")
    contact_customer(f"wm{n}", state="shop-1")
    group_members_joined(chat_id="wrMoms", member_ids=[f"wm{n}"], join_scene=3, at=NOW)


@pytest.mark.django_db
def test_no_enabled_rule_means_no_task_and_no_query(
    rule_tags, django_capture_on_commit_callbacks, django_assert_num_queries
):
    group_update_fields(chat_id="wrMoms", name="宝妈群1")
    for kind, value in [
        (RuleKind.SPEND_AT_LEAST, "1"),
        (RuleKind.LIFECYCLE_STAGE, "advocacy"),
        (RuleKind.OPPORTUNITY_STAGE, "谈判"),
        (RuleKind.CHAT_KEYWORD, "奶粉"),
        (RuleKind.CHANNEL_CODE, "shop-1"),
        (RuleKind.GROUP_MEMBER, "wrMoms"),
    ]:
        make_rule(rule_tags["意向"], kind, value)  # disabled
    (customer,) = make_customers("c")

    with django_capture_on_commit_callbacks() as callbacks:
        everything_happens(customer, 0)
    assert scheduled(callbacks) == 0
    with django_assert_num_queries(0):
        assert rules_enabled() == {}  # cached: the hooks cost no query


@pytest.mark.django_db
def test_only_the_kinds_an_enabled_rule_has_are_scheduled(rule_tags, django_capture_on_commit_callbacks):
    make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500", enabled=True)
    make_rule(rule_tags["意向"], RuleKind.CHAT_KEYWORD, "奶粉", enabled=True)
    (customer,) = make_customers("c")

    with django_capture_on_commit_callbacks() as callbacks:
        order_record(customer=customer, external_id="o1", amount="900", ordered_at=NOW)
        lifecycle_set(customer=customer, stage="advocacy", actor=None)
        chat(customer, "你好", "m1")
    assert scheduled(callbacks) == 1  # the order; no stage rule; the chat says no keyword

    with django_capture_on_commit_callbacks() as callbacks:
        chat(customer, "奶粉", "m2")
    assert scheduled(callbacks) == 1


# ---- a real worker, behind a real callback -----------------------------------------------------------------------


@live
@pytest.mark.usefixtures("celery_worker")
def test_a_customer_added_through_a_channel_code_is_tagged_by_the_worker(
    rule_tags,
    wecom_configured,  # noqa: F811 - the fixture imported above
    post_callback,  # noqa: F811
):
    sim = wecom_configured
    rule = make_rule(rule_tags["意向"], RuleKind.CHANNEL_CODE, "store-9")
    rule_enable(rule=rule, actor=None)
    ext = sim.customer_adds_employee("zhangsan", name="王小明", state="store-9")["external_userid"]

    assert post_callback(sim.callbacks[-1]["xml"]).status_code == 200

    customer_id = wait_until(
        lambda: ExternalContact.objects.filter(external_userid=ext).values_list("customer_id", flat=True).first()
    )
    assert wait_until(lambda: rule_made(rule.tag) == [customer_id], timeout=60)
