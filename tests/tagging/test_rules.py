"""tagging.services.rules: each condition's set of customers exactly, the preview's figures, evaluation (adds; for
state conditions removes only what the rule put on, never a manual tag; idempotent), the event path, and the
editing services (validation naming the field, audit, the enabled-rules cache)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from customers.models import Customer, FollowRelation, OpportunityStage, TimelineEntry
from customers.services import (
    follow_relation_mark,
    lifecycle_set,
    opportunity_stage_set,
    order_record,
    timeline_add,
)
from groups.models import CustomerGroup
from groups.services import group_dismiss, group_members_joined, group_members_left, group_update_fields
from scrm.core.models import AuditLog
from tagging.models import CustomerTag, RuleKind, Source, TagRule
from tagging.services import customer_tags_change
from tagging.services.rules import (
    rule_create,
    rule_customers,
    rule_delete,
    rule_disable,
    rule_enable,
    rule_evaluate,
    rule_preview,
    rule_update,
    rules_enabled,
    rules_evaluate_customers,
)
from tests.tagging.rule_fixtures import (  # noqa: F401 - fixtures
    contact_customer,
    eager_fixture,
    english_fixture,
    ids,
    make_customers,
    make_rule,
    rule_made,
    rule_tags_fixture,
    tagged,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

NOW = timezone.now()


def matching(rule: TagRule) -> list[int]:
    return sorted(rule_customers(rule=rule).values_list("pk", flat=True))


def chat(customer: Customer, content: str, *, key: str, summary: str = "", kind=TimelineEntry.Kind.WECOM_CHAT):
    timeline_add(
        customer=customer,
        kind=kind,
        channel=TimelineEntry.Channel.WECOM,
        occurred_at=NOW,
        source_key=key,
        content=content,
        summary=summary,
    )


def spend(customer: Customer, amount: str, key: str) -> None:
    order_record(customer=customer, external_id=key, amount=amount, ordered_at=NOW)


# ---- each condition's customers ----------------------------------------------------------------------------------


def test_channel_code_matches_relations_added_with_that_state_whatever_became_of_them(rule_tags):
    active = contact_customer("wmA", state="shop-1")
    ended = contact_customer("wmB", state="shop-1")
    follow_relation_mark(
        userid="zhangsan", external_userid="wmB", status=FollowRelation.Status.DELETED_BY_CUSTOMER, at=NOW
    )
    other_code = contact_customer("wmC", state="shop-2")
    second_employee = contact_customer("wmC", userid="lisi", state="shop-1")  # the same customer, another relation
    contact_customer("wmD")
    make_customers("no contact")

    rule = make_rule(rule_tags["意向"], RuleKind.CHANNEL_CODE, "shop-1")

    assert other_code == second_employee
    assert matching(rule) == ids([active, ended, other_code])


def test_chat_keyword_matches_wecom_chats_saying_it_in_content_or_summary_ignoring_case(rule_tags):
    said, summarised, cased, noted, silent = make_customers("said", "summarised", "cased", "noted", "silent")
    chat(said, "我想给宝宝买奶粉", key="m1")
    chat(summarised, "", summary="奶粉多少钱", key="m2")
    chat(cased, "Any MILK powder?", key="m3")
    chat(noted, "奶粉", key="n1", kind=TimelineEntry.Kind.NOTE)  # a staff note is not the customer saying it
    chat(silent, "你好", key="m4", summary="奶粉")  # the content is the text; its summary does not count

    assert matching(make_rule(rule_tags["意向"], RuleKind.CHAT_KEYWORD, "奶粉")) == ids([said, summarised])
    assert matching(make_rule(rule_tags["意向"], RuleKind.CHAT_KEYWORD, "milk")) == ids([cased])


def test_spend_at_least_includes_the_amount_itself(rule_tags):
    exactly, more, less, none = make_customers("exactly", "more", "less", "none")
    spend(exactly, "300", "o1")
    spend(exactly, "200", "o2")
    spend(more, "1000", "o3")
    spend(less, "499.99", "o4")

    assert matching(make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500")) == ids([exactly, more])
    assert matching(make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "0")) == ids([exactly, more, less, none])


def test_idle_days_counts_from_the_last_contact_or_else_from_creation(rule_tags):
    never_contacted_old, contacted_long_ago, contacted_lately, _new = make_customers("a", "b", "c", "d")
    Customer.objects.filter(pk=never_contacted_old.pk).update(created_at=NOW - timedelta(days=31))
    Customer.objects.filter(pk=contacted_long_ago.pk).update(
        created_at=NOW - timedelta(days=400), last_contact_at=NOW - timedelta(days=30, minutes=1)
    )
    Customer.objects.filter(pk=contacted_lately.pk).update(
        created_at=NOW - timedelta(days=400), last_contact_at=NOW - timedelta(days=29)
    )

    rule = make_rule(rule_tags["沉睡"], RuleKind.IDLE_DAYS, "30")

    assert matching(rule) == ids([never_contacted_old, contacted_long_ago])
    assert sorted(rule_customers(rule=rule, at=NOW + timedelta(days=2)).values_list("pk", flat=True)) == ids(
        [never_contacted_old, contacted_long_ago, contacted_lately]
    )


def test_group_member_means_in_the_group_now_by_chat_id_or_exact_name(rule_tags):
    inside, left, elsewhere, in_dismissed = (contact_customer(f"wm{n}") for n in "ABCD")
    group_update_fields(chat_id="wrMoms", name="宝妈群1")
    group_members_joined(chat_id="wrMoms", member_ids=["wmA", "wmB", "zhangsan"], join_scene=3, at=NOW)
    group_members_left(chat_id="wrMoms", member_ids=["wmB"], quit_scene=0, at=NOW + timedelta(minutes=1))
    group_members_joined(chat_id="wrOther", member_ids=["wmC"], join_scene=3, at=NOW)
    group_update_fields(chat_id="wrGone", name="宝妈群1-旧")
    group_members_joined(chat_id="wrGone", member_ids=["wmD"], join_scene=3, at=NOW)
    group_dismiss(chat_id="wrGone", at=NOW)

    by_id = make_rule(rule_tags["意向"], RuleKind.GROUP_MEMBER, "wrMoms")
    by_name = make_rule(rule_tags["意向"], RuleKind.GROUP_MEMBER, "宝妈群1")
    dismissed = make_rule(rule_tags["意向"], RuleKind.GROUP_MEMBER, "wrGone")

    assert matching(by_id) == matching(by_name) == [inside.pk]
    assert matching(dismissed) == []
    assert {left.pk, elsewhere.pk, in_dismissed.pk}.isdisjoint(matching(by_id))


def test_lifecycle_stage_by_value_or_label(rule_tags):
    converted, repurchased, _new = make_customers("a", "b", "c")
    lifecycle_set(customer=converted, stage="conversion", actor=None)
    lifecycle_set(customer=repurchased, stage="repurchase", actor=None)

    for given in ("conversion", "转化", "Conversion", "Conversion (转化)", " CONVERSION "):
        rule = make_rule(rule_tags["意向"], RuleKind.LIFECYCLE_STAGE, given)
        assert rule.value == "conversion"
        assert matching(rule) == [converted.pk]


def test_a_lifecycle_label_is_understood_in_either_language(rule_tags):
    with translation.override("zh-hans"):
        assert make_rule(rule_tags["意向"], RuleKind.LIFECYCLE_STAGE, "转化").value == "conversion"
        assert make_rule(rule_tags["意向"], RuleKind.LIFECYCLE_STAGE, "Conversion").value == "conversion"
        with pytest.raises(ValidationError, match="转化"):  # the choices, as the user reads them
            make_rule(rule_tags["意向"], RuleKind.LIFECYCLE_STAGE, "成交")


def test_opportunity_stage_by_name(rule_tags):
    negotiating, won, _none = make_customers("a", "b", "c")
    opportunity_stage_set(customer=negotiating, stage=OpportunityStage.objects.get(name="谈判"), actor=None)
    opportunity_stage_set(customer=won, stage=OpportunityStage.objects.get(name="成交"), actor=None)

    assert matching(make_rule(rule_tags["意向"], RuleKind.OPPORTUNITY_STAGE, "谈判")) == [negotiating.pk]


# ---- preview -----------------------------------------------------------------------------------------------------


@pytest.fixture
def spenders(rule_tags):
    """A spend rule (≥ 500) and five customers: rich and untagged, rich and tagged by hand, once rich and tagged
    by the rule, poor and tagged by hand, poor and untagged."""
    tag = rule_tags["高价值"]
    rule = make_rule(tag, RuleKind.SPEND_AT_LEAST, "500", enabled=True)
    rich, rich_manual, was_rich, poor_manual, _poor = make_customers("富", "富手工", "曾富", "穷手工", "穷")
    spend(rich, "600", "o1")
    spend(rich_manual, "900", "o2")
    spend(was_rich, "100", "o3")
    customer_tags_change(customer_ids=[rich_manual.pk, poor_manual.pk], add=[tag.pk], source=Source.MANUAL)
    customer_tags_change(customer_ids=[was_rich.pk], add=[tag.pk], source=Source.RULE, rule=rule)
    return rule, {"rich": rich, "rich_manual": rich_manual, "was_rich": was_rich, "poor_manual": poor_manual}


def test_preview_counts_who_would_gain_and_who_would_lose(spenders):
    rule, c = spenders

    assert rule_preview(rule=rule) == {"gain": 1, "lose": 1, "sample_gain": [{"id": c["rich"].pk, "name": "富"}]}


def test_preview_of_a_moment_condition_never_loses(rule_tags):
    tag = rule_tags["意向"]
    rule = make_rule(tag, RuleKind.CHANNEL_CODE, "shop-1")
    added = contact_customer("wmA", state="shop-1")
    (other,) = make_customers("other")
    customer_tags_change(customer_ids=[other.pk], add=[tag.pk], source=Source.RULE, rule=rule)

    assert rule_preview(rule=rule) == {"gain": 1, "lose": 0, "sample_gain": [{"id": added.pk, "name": str(added)}]}


def test_preview_samples_ten_in_id_order_and_only_what_the_user_may_see(rule_tags, make_user):
    everyone = make_customers(*(f"c{n}" for n in range(12)))
    rule = make_rule(rule_tags["沉睡"], RuleKind.SPEND_AT_LEAST, "0")

    preview = rule_preview(rule=rule)
    assert preview["gain"] == 12
    assert [row["id"] for row in preview["sample_gain"]] == ids(everyone)[:10]

    nobody = make_user("nobody")  # no employee, no right to see every customer
    assert rule_preview(rule=rule, user=nobody) == {"gain": 12, "lose": 0, "sample_gain": []}


# ---- evaluation --------------------------------------------------------------------------------------------------


def test_evaluate_adds_and_removes_only_what_the_rule_put_on(spenders):
    rule, c = spenders
    tag = rule.tag
    entries = TimelineEntry.objects.filter(kind=TimelineEntry.Kind.TAG_CHANGE)
    before = entries.count()

    assert rule_evaluate(rule=rule) == (1, 1)

    assert tagged(tag) == ids([c["rich"], c["rich_manual"], c["poor_manual"]])
    assert rule_made(tag) == [c["rich"].pk]
    assert CustomerTag.objects.get(customer=c["rich_manual"], tag=tag).source == Source.MANUAL
    assert entries.count() == before + 2
    rule.refresh_from_db()
    assert (rule.last_added, rule.last_removed) == (1, 1)
    assert rule.last_run_at is not None


def test_evaluating_again_changes_nothing(spenders):
    rule, _c = spenders
    rule_evaluate(rule=rule)
    rows = list(CustomerTag.objects.order_by("pk").values_list("pk", "customer_id", "tag_id", "source", "rule_id"))
    entries = TimelineEntry.objects.count()

    assert rule_evaluate(rule=rule) == (0, 0)

    assert (
        list(CustomerTag.objects.order_by("pk").values_list("pk", "customer_id", "tag_id", "source", "rule_id")) == rows
    )
    assert TimelineEntry.objects.count() == entries
    rule.refresh_from_db()
    assert (rule.last_added, rule.last_removed) == (0, 0)


def test_a_moment_condition_never_removes(rule_tags):
    tag = rule_tags["意向"]
    rule = make_rule(tag, RuleKind.CHANNEL_CODE, "shop-1", enabled=True)
    added = contact_customer("wmA", state="shop-1")
    (earlier,) = make_customers("tagged by the rule, no relation any more")
    customer_tags_change(customer_ids=[earlier.pk], add=[tag.pk], source=Source.RULE, rule=rule)

    assert rule_evaluate(rule=rule) == (1, 0)
    assert tagged(tag) == ids([added, earlier])


def test_evaluate_walks_every_customer_in_chunks(rule_tags):
    everyone = make_customers(*(f"c{n}" for n in range(7)))
    rule = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "0", enabled=True)

    assert rule_evaluate(rule=rule, chunk_size=2) == (7, 0)
    assert rule_made(rule.tag) == ids(everyone)


def test_another_rules_assignments_are_left_alone(rule_tags):
    tag = rule_tags["高价值"]
    mine = make_rule(tag, RuleKind.SPEND_AT_LEAST, "500", enabled=True)
    theirs = make_rule(tag, RuleKind.LIFECYCLE_STAGE, "conversion", enabled=True)
    (customer,) = make_customers("c")
    customer_tags_change(customer_ids=[customer.pk], add=[tag.pk], source=Source.RULE, rule=theirs)

    assert rule_evaluate(rule=mine) == (0, 0)
    assert tagged(tag) == [customer.pk]


def test_a_disabled_rule_or_a_deleted_tag_is_not_evaluated(rule_tags):
    make_customers("c")
    rule = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "0")
    with pytest.raises(ValidationError) as refused:
        rule_evaluate(rule=rule)
    assert list(refused.value.message_dict) == ["enabled"]

    TagRule.objects.filter(pk=rule.pk).update(enabled=True)
    rule.refresh_from_db()
    rule.tag.deleted = True
    rule.tag.save()
    with pytest.raises(ValidationError) as refused:
        rule_evaluate(rule=rule)
    assert list(refused.value.message_dict) == ["tag"]
    assert CustomerTag.objects.count() == 0


# ---- the event path ----------------------------------------------------------------------------------------------


def test_event_path_applies_only_enabled_rules_of_those_kinds_to_those_customers(spenders, rule_tags):
    rule, c = spenders
    disabled = make_rule(rule_tags["沉睡"], RuleKind.SPEND_AT_LEAST, "0")
    other_kind = make_rule(rule_tags["意向"], RuleKind.LIFECYCLE_STAGE, "awareness", enabled=True)
    (rich_too,) = make_customers("也富")
    spend(rich_too, "700", "o9")

    results = rules_evaluate_customers(customer_ids=[c["rich"].pk, c["was_rich"].pk], kinds=[RuleKind.SPEND_AT_LEAST])

    assert results == {rule.pk: (1, 1)}
    assert rule_made(rule.tag) == [c["rich"].pk]  # not rich_too: not named
    assert tagged(disabled.tag) == tagged(other_kind.tag) == []


def test_event_path_checks_a_chat_message_text_without_the_timeline(rule_tags):
    tag = rule_tags["意向"]
    rule = make_rule(tag, RuleKind.CHAT_KEYWORD, "奶粉", enabled=True)
    (customer,) = make_customers("c")

    kinds = [RuleKind.CHAT_KEYWORD]
    assert rules_evaluate_customers(customer_ids=[customer.pk], kinds=kinds, text="在吗") == {rule.pk: (0, 0)}
    assert rules_evaluate_customers(customer_ids=[customer.pk], kinds=kinds, text="奶粉有货吗") == {rule.pk: (1, 0)}
    assert rules_evaluate_customers(customer_ids=[customer.pk], kinds=kinds, text="奶粉") == {rule.pk: (0, 0)}
    assert rule_made(tag) == [customer.pk]


# ---- editing -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "kind", "value", "field", "message"),
    [
        ("高价值", RuleKind.SPEND_AT_LEAST, "lots", "value", "Enter an amount"),
        ("高价值", RuleKind.IDLE_DAYS, "0", "value", "between 1 and 3650"),
        ("高价值", RuleKind.CHANNEL_CODE, "x" * 31, "value", "at most 30 characters"),
        ("高价值", RuleKind.LIFECYCLE_STAGE, "成交", "value", "is not a lifecycle stage"),
        ("高价值", RuleKind.OPPORTUNITY_STAGE, "不存在", "value", "No opportunity stage"),
        ("高价值", RuleKind.GROUP_MEMBER, "没有这个群", "value", "No customer group"),
        ("高价值", RuleKind.GROUP_MEMBER, "同名群", "value", "2 groups are named"),
        ("高价值", RuleKind.CHAT_KEYWORD, "   ", "value", "needs a value"),
        ("高价值", "sometimes", "1", "kind", "not a valid choice"),
        ("老客", RuleKind.SPEND_AT_LEAST, "1", "tag", "personal WeCom tag"),
        ("宝妈群", RuleKind.SPEND_AT_LEAST, "1", "tag", "live tag that applies to customers"),
        ("旧", RuleKind.SPEND_AT_LEAST, "1", "tag", "live tag that applies to customers"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field_and_nothing_is_written(rule_tags, tag, kind, value, field, message):
    CustomerGroup.objects.create(chat_id="wr1", name="同名群")
    CustomerGroup.objects.create(chat_id="wr2", name="同名群")
    audits = AuditLog.objects.count()

    with pytest.raises(ValidationError) as refused:
        rule_create(name="r", tag=rule_tags[tag], kind=kind, value=value, actor=None)

    assert list(refused.value.message_dict) == [field]
    assert message in refused.value.message_dict[field][0]
    assert TagRule.objects.count() == 0
    assert AuditLog.objects.count() == audits


def test_create_is_disabled_and_audited(rule_tags, make_user):
    ops = make_user("ops")
    rule = rule_create(name="大客户", tag=rule_tags["高价值"], kind="spend_at_least", value=" 500 ", actor=ops)

    assert (rule.enabled, rule.value, rule.created_by) == (False, "500", ops)
    log = AuditLog.objects.get(target_type="tagging.tagrule", target_id=str(rule.pk))
    assert (log.action, log.actor, log.changes["value"]) == ("create", ops, "500")


def test_changing_the_condition_of_an_enabled_rule_disables_it(rule_tags, make_user):
    ops = make_user("ops")
    rule = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500", enabled=True)

    assert rule_update(rule=rule, actor=ops, name="renamed") == ["name"]
    assert TagRule.objects.get(pk=rule.pk).enabled is True

    assert rule_update(rule=rule, actor=ops, value="800") == ["value", "enabled"]
    stored = TagRule.objects.get(pk=rule.pk)
    assert (stored.value, stored.enabled, rule.enabled) == ("800", False, False)
    assert AuditLog.objects.filter(action="update", target_id=str(rule.pk)).count() == 2

    assert rule_update(rule=rule, actor=ops, value="800") == []
    assert AuditLog.objects.filter(action="update", target_id=str(rule.pk)).count() == 2


def test_the_tag_of_a_rule_that_tagged_customers_cannot_change(rule_tags):
    rule = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500")
    assert rule_update(rule=rule, actor=None, tag=rule_tags["沉睡"]) == ["tag"]  # nobody tagged yet: fine
    (customer,) = make_customers("c")
    customer_tags_change(customer_ids=[customer.pk], add=[rule_tags["沉睡"].pk], source=Source.RULE, rule=rule)

    with pytest.raises(ValidationError) as refused:
        rule_update(rule=rule, actor=None, tag=rule_tags["高价值"])
    assert list(refused.value.message_dict) == ["tag"]
    assert TagRule.objects.get(pk=rule.pk).tag == rule_tags["沉睡"]

    with pytest.raises(ValidationError) as refused:
        rule_update(rule=rule, actor=None, enabled=True)
    assert list(refused.value.message_dict) == ["enabled"]


def test_enable_disable_delete_are_audited_and_keep_the_tags(rule_tags, make_user, django_capture_on_commit_callbacks):
    ops = make_user("ops")
    rule = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "0")
    (customer,) = make_customers("c")
    customer_tags_change(customer_ids=[customer.pk], add=[rule.tag.pk], source=Source.RULE, rule=rule)

    with django_capture_on_commit_callbacks() as callbacks:
        assert rule_enable(rule=rule, actor=ops) is True
    assert len(callbacks) == 2  # the cache dropped, the first evaluation queued
    assert rule_enable(rule=rule, actor=ops) is False
    assert rule_disable(rule=rule, actor=ops) is True
    assert rule_disable(rule=rule, actor=ops) is False
    rule_delete(rule=rule, actor=ops)

    actions = list(
        AuditLog.objects.filter(target_type="tagging.tagrule").order_by("pk").values_list("action", flat=True)
    )
    assert actions == ["create", "enable", "disable", "delete"]
    assert tagged(rule_tags["高价值"]) == [customer.pk]
    assert CustomerTag.objects.get(customer=customer).rule is None


@pytest.mark.usefixtures("eager")
def test_enabling_runs_the_first_evaluation(rule_tags, django_capture_on_commit_callbacks):
    rich, _poor = make_customers("rich", "poor")
    spend(rich, "800", "o1")
    rule = make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "500")

    with django_capture_on_commit_callbacks(execute=True):
        rule_enable(rule=rule, actor=None)

    assert rule_made(rule.tag) == [rich.pk]
    rule.refresh_from_db()
    assert (rule.enabled, rule.last_added, rule.last_removed) == (True, 1, 0)


def test_the_enabled_rules_cache_follows_every_change(rule_tags, django_capture_on_commit_callbacks):
    assert rules_enabled() == {}
    rule = make_rule(rule_tags["意向"], RuleKind.CHAT_KEYWORD, "奶粉")

    with django_capture_on_commit_callbacks(execute=True):
        rule_enable(rule=rule, actor=None)
    assert rules_enabled() == {"chat_keyword": ["奶粉"]}

    with django_capture_on_commit_callbacks(execute=True):
        rule_update(rule=rule, actor=None, value="辅食")  # disables it
    assert rules_enabled() == {}

    with django_capture_on_commit_callbacks(execute=True):
        rule_enable(rule=rule, actor=None)
        rule_delete(rule=rule, actor=None)
    assert rules_enabled() == {}


def test_spend_value_is_compared_as_a_decimal(rule_tags):
    (customer,) = make_customers("c")
    spend(customer, "100.5", "o1")
    assert Customer.objects.get(pk=customer.pk).total_spend == Decimal("100.50")
    assert matching(make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "100.50")) == [customer.pk]
    assert matching(make_rule(rule_tags["高价值"], RuleKind.SPEND_AT_LEAST, "100.51")) == []
